"""Incremental MSRP parser over a byte stream (RFC 4975 sections 7 and 9).

Feed it what the connection reads, as large as it comes (64 KiB to 1 MiB
reads suit it); it returns events:

- `RequestStarted`: a request's first line and headers (``request.body`` is
  None); ``has_body`` says whether content follows.
- `BodyData`: a piece of that body, a memoryview into the bytes that were
  fed (no copy): the consumer writes it out or copies it before feeding
  bytes it may reuse. A body of any size thus never sits in memory whole.
- `RequestEnded`: the end-line and its flag (``$``, ``+``, ``#``).
- `ResponseReceived`: a whole response (responses have no body).
- `ParseFailure`: what was wrong; ``fatal`` means the framing is lost and the
  connection must be closed; otherwise the request can be answered with
  ``error.status`` (400; 413 for a chunk over the limit) and parsing goes on
  after its end-line.

How a body is found (section 7.1: the sender keeps the end-line out of the
body): `bytes.find` of ``CRLF -------<transaction-id>`` from where the last
search stopped, accepted when a flag and CRLF follow. Between feeds only the
bytes that may begin the end-line are held back (at most its length + 2),
so each body byte is looked at by one search and handed out once.

`collect` and `parse_messages` fold these events into whole `MSRPRequest`
values for callers that want bodies in memory (chat messages, tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import canonical_name, check_header
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse

__all__ = [
    "DEFAULT_LIMITS",
    "BodyData",
    "Event",
    "Limits",
    "ParseFailure",
    "RequestEnded",
    "RequestStarted",
    "ResponseReceived",
    "StreamParser",
    "collect",
    "parse_messages",
]

_FIRST_RE = re.compile(
    rb"MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}) (?:([A-Z]+)|([0-9]{3})(?: ([^\r\n]*))?)"
)
_TID_RE = re.compile(rb"MSRP ([A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}) ")
_HEADER_RE = re.compile(r"([A-Za-z0-9\-_.!%*+`'~]+):[ \t]*(.*?)[ \t]*")
_FLAGS = frozenset(b"$+#")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one message may use.

    ``max_head_bytes``: first line and headers (the RFC sets no bound; 64 KiB
    holds long paths and auth headers). ``max_chunk_bytes``: one chunk's body
    (None: any, since bodies stream); over it the chunk earns a 413 and the
    rest of its body is skipped.
    """

    max_head_bytes: int = 64 * 1024
    max_headers: int = 128
    max_chunk_bytes: int | None = None


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class RequestStarted:
    request: MSRPRequest  # body None: the body follows as BodyData
    has_body: bool


@dataclass(frozen=True, eq=False)
class BodyData:
    """``data`` is body bytes ``offset`` to ``offset + len(data)`` of this chunk."""

    transaction_id: str
    offset: int
    data: memoryview

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BodyData):
            return NotImplemented
        return (self.transaction_id, self.offset, bytes(self.data)) == (
            other.transaction_id, other.offset, bytes(other.data))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class RequestEnded:
    transaction_id: str
    continuation: str
    size: int  # body bytes of this chunk


@dataclass(frozen=True)
class ResponseReceived:
    response: MSRPResponse


@dataclass(frozen=True)
class ParseFailure:
    """A message that could not be parsed.

    ``method`` and ``headers`` (raw, as read) are what could be read of a
    request, so that it can be answered; ``fatal``: close the connection.
    """

    error: MSRPParseError
    fatal: bool
    method: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())


Event = RequestStarted | BodyData | RequestEnded | ResponseReceived | ParseFailure


class StreamParser:
    """The parser of one connection's incoming bytes."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        # Bytes kept from the last feed: a partial head, or the end of a body
        # that may begin the end-line (then at most its length + 2 bytes).
        self._pending = b""
        self._searched = (0, 0)  # bytes of a pending head searched in vain
        self._closed = False
        # Within a body:
        self._tid: str | None = None
        self._marker = b""  # CRLF "-------" transaction-id
        self._offset = 0
        self._discard = False  # skipping the body of a failed request

    @property
    def in_message(self) -> bool:
        """True while a message is partly read (for a per-message deadline)."""
        return self._tid is not None or bool(self._pending)

    @property
    def closed(self) -> bool:
        """True after a fatal failure: what follows is not parsed."""
        return self._closed

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        if self._closed:
            return []
        if self._pending:
            data = self._pending + data
            self._pending = b""
        elif not isinstance(data, bytes):
            data = bytes(data)  # a buffer the caller may reuse: BodyData must not see it change
        events: list[Event] = []
        pos = 0
        view: memoryview | None = None
        while pos < len(data) and not self._closed:
            if self._tid is None:
                pos = self._head(data, pos, events)
                if pos < 0:
                    break
            else:
                if view is None:
                    view = memoryview(data)
                pos = self._body(data, pos, view, events)
        return events

    # The head: first line, headers, and the end-line or the empty line.

    def _head(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Parse one head from data[pos:]; -1 when it is not all there (kept)."""
        while data.startswith(b"\r\n", pos):  # tolerated between messages
            pos += 2
        if pos >= len(data):
            return pos
        limit = self.limits.max_head_bytes
        hint, line_hint = self._searched
        self._searched = (0, 0)
        line_end = data.find(b"\r\n", max(pos, pos + line_hint - 1), pos + limit)
        if line_end < 0:
            return self._wait(data, pos, None, events, searched=(0, len(data) - pos))
        first = _FIRST_RE.fullmatch(data, pos, line_end)
        if first is None:
            text = f"invalid MSRP first line {data[pos:min(line_end, pos + 80)]!r}"
            known = _TID_RE.match(data, pos, line_end)
            if known is None:
                return self._fatal(events, text, None)
            # "MSRP <id> " and then nonsense: its end-line still frames it.
            tid = known[1].decode()
            events.append(ParseFailure(MSRPParseError(text, transaction_id=tid), False))
            self._start_body(tid, b"\r\n-------" + known[1], discard=True)
            return line_end
        tid_bytes = first[1]
        marker = b"\r\n-------" + tid_bytes
        stop = pos + limit
        # A head arriving in small pieces is searched from where the last
        # search stopped (less the patterns' length), not from its start again.
        # The empty line first: it is near, and the end-line (the head's end when
        # there is no body) can only start up to just after it; searching for the
        # end-line up to `stop` would scan 64 KiB of every large chunk's body.
        blank = data.find(b"\r\n\r\n", max(line_end, pos + hint - 4), stop)
        end = data.find(marker, max(line_end, pos + hint - len(marker)),
                        stop if blank < 0 else min(stop, blank + 2 + len(marker)))
        if end >= 0 and blank > end - 2:
            blank = -1  # an empty line after the end-line belongs to what follows
        tid = tid_bytes.decode()
        if end < 0 and blank < 0:
            return self._wait(data, pos, tid, events, searched=(len(data) - pos, 0))
        lenient = False
        if blank >= 0:
            # "headers CRLF CRLF end-line" (no data, no CRLF after it): lenient,
            # but only a whole, valid end-line counts, whatever the split.
            lenient_at = _end_line_at(data, blank + 2, marker)
            if lenient_at is None:
                return self._wait(data, pos, tid, events)
            lenient = lenient_at
        if blank >= 0 and not lenient:
            head_end, body_start, end = blank, blank + 4, -1
        else:
            head_end = end
            if blank >= 0:  # "headers CRLF CRLF end-line": no data, lenient
                head_end, end = blank, blank + 2
            if len(data) < end + len(marker) + 3:
                return self._wait(data, pos, tid, events)
            flag = data[end + len(marker)]
            if flag not in _FLAGS or not data.startswith(b"\r\n", end + len(marker) + 1):
                return self._fatal(events, "invalid end-line", tid)
            body_start = -1
        lines = data[line_end + 2 : head_end].split(b"\r\n") if head_end > line_end else []
        if first[3] is not None:
            return self._response(data, first, lines, end, body_start, marker, events)
        method = first[2].decode()
        headers, error = self._headers(lines, tid)
        if error is None:
            error = _check_request(headers, body_start >= 0, tid)
        next_pos = end + len(marker) + 3
        if error is not None:
            events.append(ParseFailure(error, False, method, headers))
            if body_start < 0:
                return next_pos
            self._start_body(tid, marker, discard=True)
            return body_start
        request = MSRPRequest._parsed(tid, method, headers)
        events.append(RequestStarted(request, body_start >= 0))
        if body_start < 0:
            events.append(RequestEnded(tid, chr(data[end + len(marker)]), 0))
            return next_pos
        self._start_body(tid, marker, discard=False)
        return body_start

    def _response(
        self, data: bytes, first: re.Match[bytes], lines: list[bytes], end: int,
        body_start: int, marker: bytes, events: list[Event],
    ) -> int:
        tid = first[1].decode()
        headers, error = self._headers(lines, tid)
        if body_start >= 0:
            # A response has no content: skip it to its end-line, then report.
            self._start_body(tid, marker, discard=True)
            events.append(ParseFailure(
                MSRPParseError("a response with a body", transaction_id=tid), False))
            return body_start
        next_pos = end + len(marker) + 3
        if error is not None:
            events.append(ParseFailure(error, False, None, headers))
            return next_pos
        comment = first[4].decode("utf-8", "replace") if first[4] is not None else None
        code = int(first[3])
        if code < 100:
            events.append(ParseFailure(
                MSRPParseError(f"invalid status code {code}", transaction_id=tid), False))
            return next_pos
        events.append(ResponseReceived(MSRPResponse(tid, code, comment, headers)))
        return next_pos

    def _headers(
        self, lines: list[bytes], tid: str
    ) -> tuple[tuple[tuple[str, str], ...], MSRPParseError | None]:
        headers: list[tuple[str, str]] = []
        error: MSRPParseError | None = None
        if len(lines) > self.limits.max_headers:
            lines = lines[: self.limits.max_headers]
            error = MSRPParseError(
                f"more than {self.limits.max_headers} headers", transaction_id=tid)
        for raw in lines:
            header, problem = _header_line(raw)
            if problem is not None and error is None:
                error = MSRPParseError(problem, transaction_id=tid)
            if header is not None:
                headers.append(header)
        return tuple(headers), error

    def _wait(
        self, data: bytes, pos: int, tid: str | None, events: list[Event], *,
        searched: tuple[int, int] = (0, 0),
    ) -> int:
        """Keep an incomplete head; ``searched``: how much of it was searched in
        vain for its end (the end-line or empty line) and for its first line's end."""
        if len(data) - pos > self.limits.max_head_bytes:
            return self._fatal(
                events, f"message head larger than {self.limits.max_head_bytes} bytes", tid)
        self._pending = data[pos:]
        self._searched = searched
        return -1

    def _fatal(self, events: list[Event], message: str, tid: str | None) -> int:
        events.append(ParseFailure(MSRPParseError(message, transaction_id=tid), True))
        self._closed = True
        self._pending = b""
        return -1

    # The body: searched for the end-line, handed out as views.

    def _start_body(self, tid: str, marker: bytes, *, discard: bool) -> None:
        self._tid, self._marker, self._offset, self._discard = tid, marker, 0, discard

    def _emit(self, piece: memoryview | bytes, events: list[Event]) -> None:
        if not piece or self._discard:
            self._offset += len(piece)
            return
        limit = self.limits.max_chunk_bytes
        assert self._tid is not None
        if limit is not None and self._offset + len(piece) > limit:
            self._discard = True
            events.append(ParseFailure(MSRPParseError(
                f"chunk body larger than {limit} bytes", status=413,
                transaction_id=self._tid), False))
            return
        view = piece if isinstance(piece, memoryview) else memoryview(piece)
        events.append(BodyData(self._tid, self._offset, view))
        self._offset += len(piece)

    def _end(self, flag: int, events: list[Event]) -> None:
        assert self._tid is not None
        if not self._discard:
            events.append(RequestEnded(self._tid, chr(flag), self._offset))
        self._tid = None

    def _body(self, data: bytes, pos: int, view: memoryview, events: list[Event]) -> int:
        marker = self._marker
        size = len(marker)
        start = pos
        index = data.find(marker, pos)
        while index >= 0:
            if len(data) < index + size + 3:
                break  # the flag and CRLF are still to come
            if data[index + size] in _FLAGS and data.startswith(b"\r\n", index + size + 1):
                self._emit(view[start:index], events)
                self._end(data[index + size], events)
                return index + size + 3
            index = data.find(marker, index + 1)
        if index < 0:
            # No whole marker: the tail may still hold its beginning (a CR that
            # starts a prefix of it); hold back from the first such CR.
            index = data.find(b"\r", max(start, len(data) - size + 1))
            while index >= 0 and not marker.startswith(data[index:]):
                index = data.find(b"\r", index + 1)
            if index < 0:
                index = len(data)
        self._emit(view[start:index], events)
        self._pending = data[index:]
        return len(data)


def _header_line(raw: bytes) -> tuple[tuple[str, str] | None, str | None]:
    """One header line: the header (None if unusable) and the problem, if any."""
    # Most header lines recur from chunk to chunk (the paths, Message-ID,
    # Content-Type): each distinct short line is read and checked once (a
    # bounded cache of immutable results; long lines would make it large).
    if len(raw) <= _CACHED_LINE:
        return _cached_header_line(raw)
    return _read_header_line(raw)


_CACHED_LINE = 512


def _read_header_line(raw: bytes) -> tuple[tuple[str, str] | None, str | None]:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "a header is not UTF-8"
    match = _HEADER_RE.fullmatch(line)
    if match is None:
        return None, f"invalid header line {line[:80]!r}"
    name, value = canonical_name(match[1]), match[2]
    header = (name, value) if "\x00" not in value else None
    try:
        check_header(name, value)
    except MSRPParseError as exc:
        return header, str(exc)
    return header, None


_cached_header_line = lru_cache(maxsize=4096)(_read_header_line)


def _end_line_at(data: bytes, at: int, marker: bytes) -> bool | None:
    """Whether an end-line starts at `at`; None while too few bytes to tell."""
    size = len(marker)
    piece = data[at : at + size + 3]
    if len(piece) == size + 3:
        return piece.startswith(marker) and piece[size] in _FLAGS and piece.endswith(b"\r\n")
    if not marker.startswith(piece[:size]):
        return False
    rest = piece[size:]  # the flag and the CR, as far as they came
    if rest and (rest[0] not in _FLAGS or not b"\r".startswith(rest[1:])):
        return False
    return None


def _check_request(
    headers: tuple[tuple[str, str], ...], has_body: bool, tid: str
) -> MSRPParseError | None:
    names = {name.lower() for name, _ in headers}
    for required in ("to-path", "from-path"):
        if required not in names:
            return MSRPParseError(f"no {canonical_name(required)} header", transaction_id=tid)
    if has_body and "content-type" not in names:
        return MSRPParseError("content without a Content-Type", transaction_id=tid)
    return None


def collect(events: Iterable[Event], max_body: int | None = None) -> Iterator[
    MSRPRequest | MSRPResponse | ParseFailure
]:
    """Whole requests (bodies joined, one copy), responses and failures, in order.

    A body over `max_body` bytes gives a `ParseFailure` (413) instead of its
    request. Feed it the events of one parser, in order.
    """
    started: MSRPRequest | None = None
    has_body = False
    pieces: list[bytes] = []
    size = 0
    too_large = False
    for event in events:
        if isinstance(event, RequestStarted):
            started, has_body, pieces, size, too_large = event.request, event.has_body, [], 0, False
        elif isinstance(event, BodyData):
            size += len(event.data)
            if max_body is not None and size > max_body:
                if not too_large and started is not None:
                    too_large = True
                    yield ParseFailure(MSRPParseError(
                        f"message body larger than {max_body} bytes", status=413,
                        transaction_id=event.transaction_id), False, started.method,
                        started.headers)
                pieces = []
            else:
                pieces.append(bytes(event.data))
        elif isinstance(event, RequestEnded):
            if started is not None and not too_large:
                yield MSRPRequest(
                    started.transaction_id, started.method, started.headers,
                    b"".join(pieces) if has_body else None, event.continuation)
            started, pieces = None, []
        elif isinstance(event, ResponseReceived):
            yield event.response
        else:
            if event.error.transaction_id == (started and started.transaction_id):
                started = None  # a failed chunk: its RequestEnded will not come
            yield event


def parse_messages(
    data: bytes, limits: Limits = DEFAULT_LIMITS
) -> list[MSRPRequest | MSRPResponse | ParseFailure]:
    """Every message in `data` (whole messages expected; a partial tail is ignored)."""
    return list(collect(StreamParser(limits).feed(data)))
