"""SIP message parser: whole datagrams and incremental streams (RFC 3261 7, 18.3, 25).

Decisions worth knowing:

- The header section must be UTF-8 (RFC 3261 section 7.3.1 text is UTF-8);
  other bytes give a `SIPParseError`. Bodies are bytes, never decoded.
- Lines end with CRLF; a bare CR or LF inside the header section is an error.
  Continuation lines (LWS folding) are joined with one space.
- Headers with a type in `sipsimple.core.headers` are parsed eagerly, so that
  a malformed value is found before the message reaches a transaction; a
  comma-separated value of a list header (Via, Contact, Route, Record-Route,
  Reason, Warning) becomes one header object per element. Unknown headers and
  those whose values may hold commas (authentication, Date...) are not split.
  Header objects are immutable, so values that recur from message to message
  (Contact, Allow, Content-Type..., and From, To, Call-ID within a dialog)
  are parsed once and the objects shared, through a bounded cache.
- On a datagram, Content-Length is optional; octets beyond it are dropped and
  a Content-Length larger than what arrived is an error (RFC 3261 18.3). On a
  stream it is mandatory.
- Every problem raises `SIPParseError` (status 400, or 505 for another SIP
  version) whose ``partial`` is a `PartialMessage` with what could be read,
  so that the layer that sends can still answer a request (RFC 3261 8.2,
  RFC 4475): a header that did not parse is kept there raw (``rejected``,
  the first one named by ``bad_header``), so that a response can copy a bad
  From, To, Call-ID or CSeq as it came; a request line that did not parse
  still gives its method when its first word is a token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sipsimple.core import SIPURI, URI, SIPParseError, parse_uri
from sipsimple.core.grammar import split_commas
from sipsimple.core.headers import (
    AuthorizationHeader,
    CallIDHeader,
    CSeqHeader,
    DateHeader,
    FromHeader,
    GenericHeader,
    Header,
    ProxyAuthenticateHeader,
    ProxyAuthorizationHeader,
    ToHeader,
    ViaHeader,
    WWWAuthenticateHeader,
    canonical_name,
    header_type,
)
from sipsimple.core.headers.base import build
from sipsimple.core.headers.scalar import ContentLengthHeader
from sipsimple_services.signalling.sip.message.values import (
    PartialMessage,
    SIPMessage,
    SIPRequest,
    SIPResponse,
)

__all__ = [
    "DEFAULT_LIMITS",
    "KeepAlive",
    "Limits",
    "ParseFailure",
    "StreamEvent",
    "StreamParser",
    "check_message",
    "parse_message",
]

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION_RE = re.compile(r"SIP/[0-9]{1,4}\.[0-9]{1,4}", re.IGNORECASE)
_STATUS_RE = re.compile(r"[1-6][0-9]{2}")
_CRLF2 = b"\r\n\r\n"
_WS = " \t"
_SINGLE = frozenset(
    ("to", "from", "call-id", "cseq", "max-forwards", "content-length", "content-type")
)
_REQUIRED_REQUEST = ("To", "From", "CSeq", "Call-ID", "Max-Forwards", "Via")
_REQUIRED_RESPONSE = ("To", "From", "CSeq", "Call-ID", "Via")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one message may use (defaults suit a user agent)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 256
    max_body_bytes: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class KeepAlive:
    """RFC 5626 keep-alive on a stream: ``ping`` (CRLFCRLF, answer with CRLF) or a pong."""

    ping: bool


@dataclass(frozen=True)
class ParseFailure:
    """A message that could not be parsed.

    ``fatal`` means the stream's framing is lost (the connection should be
    closed); otherwise only this message was bad and parsing goes on, and
    ``error.partial`` may allow a 400 answer.
    """

    error: SIPParseError
    fatal: bool


StreamEvent = SIPRequest | SIPResponse | KeepAlive | ParseFailure


@dataclass
class _Head:
    """The parsed start line and headers, and the first problem found."""

    is_request: bool = True
    method: str | None = None
    uri: URI | None = None
    code: int | None = None
    reason: str = ""
    headers: list[Header] = field(default_factory=list)
    error: SIPParseError | None = None
    content_length: int | None = None
    framing_error: SIPParseError | None = None
    rejected: list[Header] = field(default_factory=list)
    bad_header: str | None = None

    def fail(self, message: str, status: int = 400) -> None:
        if self.error is None:
            self.error = SIPParseError(message, status=status)

    def reject(self, name: str, value: str, message: str) -> None:
        """Header `name` did not parse: the error (if the first), and its raw value kept."""
        if self.error is None:
            self.bad_header = name
            self.fail(message)
        # The value came from a UTF-8 line without CR or LF and the name is a
        # token: what GenericHeader.__post_init__ would check.
        raw = object.__new__(GenericHeader)
        raw.__dict__.update(name=name, value=value)
        self.rejected.append(raw)

    def partial(self) -> PartialMessage:
        return PartialMessage(
            self.is_request, self.method, self.uri, self.code, tuple(self.headers),
            tuple(self.rejected), self.bad_header,
        )

    def raise_error(self, error: SIPParseError) -> SIPParseError:
        return SIPParseError(str(error), status=error.status, partial=self.partial())


def _parse_start(head: _Head, line: str) -> None:
    if line[:4].upper() == "SIP/":
        head.is_request = False
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not _STATUS_RE.fullmatch(code):
            head.fail(f"invalid status line {line!r}")
            return
        head.code = int(code)
        # "SIP/2.0 100" without the SP is invalid but harmless: accept it.
        head.reason = reason
        if any(ch < " " and ch != "\t" for ch in reason):
            head.fail("control character in the reason phrase")
    else:
        parts = line.split(" ")
        if len(parts) != 3 or not all(parts):
            head.fail(f"invalid request line {line!r}")
            if _TOKEN_RE.fullmatch(parts[0]):
                head.method = parts[0]  # enough to answer it (and never an ACK)
            return
        method, uri_text, version = parts
        if not _TOKEN_RE.fullmatch(method):
            head.fail(f"invalid method {method!r}")
            return
        head.method = method
        try:
            uri = parse_uri(uri_text)
        except SIPParseError as exc:
            head.fail(f"invalid Request-URI {uri_text!r}: {exc}")
            return
        if isinstance(uri, SIPURI) and uri.headers:
            head.fail("the Request-URI must not carry headers")
        head.uri = uri
    if version.upper() != "SIP/2.0":
        if _VERSION_RE.fullmatch(version):
            head.fail(f"unsupported SIP version {version!r}", status=505)
        else:
            head.fail(f"invalid SIP version {version!r}")


# Raw header name (as spelled on the wire) -> (canonical name, typed class or
# None). A handful of spellings make up nearly all traffic; the cache stops
# growing at _NAME_CACHE_SIZE so that random names cannot fill memory.
_NAME_CACHE: dict[str, tuple[str, type[Header] | None]] = {}
_NAME_CACHE_SIZE = 512


def _lookup_name(name: str) -> tuple[str, type[Header] | None]:
    entry = _NAME_CACHE.get(name)
    if entry is None:
        entry = (canonical_name(name), header_type(name))
        if len(_NAME_CACHE) < _NAME_CACHE_SIZE:
            _NAME_CACHE[name] = entry
    return entry


def _list_elements(value: str) -> list[str]:
    """split_commas(value) for a stripped value, without the scan when it has one element."""
    if value and "," not in value and '"' not in value:
        less = value.find("<")
        # No '<', or a single one closed later: split_commas would return [value].
        if less < 0 or (value.find(">", less) > 0 and value.count("<") == 1):
            return [value]
    return split_commas(value)


# Values recur from message to message: a peer's Contact, Allow, Supported,
# Content-Type in every message; From, To, Call-ID in every message of a
# dialog; a Via in every response of a transaction. Header objects are
# immutable, so each value is parsed once: (type, value) -> the header
# objects, shared. The values of a dialog or transaction go to a small cache
# of recent ones (they recur within a short time and would flood the big
# one); the authentication headers (a new nonce or response each time) and
# Date are not cached. Errors are never cached, long values never, and each
# cache is cleared when full: memory stays bounded.
_VALUE_CACHE: dict[tuple[type[Header], str], tuple[Header, ...]] = {}
_VALUE_CACHE_SIZE = 2048
_RECENT_CACHE: dict[tuple[type[Header], str], tuple[Header, ...]] = {}
_RECENT_CACHE_SIZE = 256
_VALUE_CACHE_MAX_LENGTH = 256
_UNCACHED_TYPES: frozenset[type[Header]] = frozenset((
    AuthorizationHeader, DateHeader, ProxyAuthenticateHeader, ProxyAuthorizationHeader,
    WWWAuthenticateHeader,
))
_RECENT_TYPES: frozenset[type[Header]] = frozenset((
    CallIDHeader, CSeqHeader, FromHeader, ToHeader, ViaHeader,
))


def _parse_value(head: _Head, kind: type[Header], value: str) -> tuple[Header, ...]:
    if kind.kind != "list":
        return (kind.parse(value),)
    try:
        return tuple([kind.parse(element) for element in _list_elements(value)])
    except SIPParseError:
        # The elements before the bad one still go to the partial message
        # (a 400 needs the good Via headers).
        for element in _list_elements(value):
            head.headers.append(kind.parse(element))
        raise


def _add_header(head: _Head, name: str, value: str) -> None:
    """Parse one header field into head.headers (SIPParseError if invalid)."""
    canonical, kind = _NAME_CACHE.get(name) or _lookup_name(name)
    if kind is None:
        # The name is a token and the value holds no CR or LF and came from
        # UTF-8: what GenericHeader.__post_init__ would check.
        generic = object.__new__(GenericHeader)
        generic.__dict__.update(name=canonical, value=value)
        head.headers.append(generic)
        return
    if kind not in _UNCACHED_TYPES:
        key = (kind, value)
        if kind in _RECENT_TYPES:
            cache, size = _RECENT_CACHE, _RECENT_CACHE_SIZE
        else:
            cache, size = _VALUE_CACHE, _VALUE_CACHE_SIZE
        parsed = cache.get(key)
        if parsed is None:
            parsed = _parse_value(head, kind, value)
            if len(value) <= _VALUE_CACHE_MAX_LENGTH:
                if len(cache) >= size:
                    cache.clear()
                cache[key] = parsed
    elif kind.kind == "list":
        parsed = _parse_value(head, kind, value)
    else:
        head.headers.append(kind.parse(value))
        return
    if kind is ContentLengthHeader:
        length: int = parsed[0].value  # type: ignore[attr-defined]
        if head.content_length is not None and head.content_length != length:
            head.framing_error = SIPParseError("conflicting Content-Length headers")
        head.content_length = length
    head.headers.extend(parsed)


def _split_fields(lines: list[str]) -> list[tuple[str, str]] | None:
    """The fast path of the line loop: (name, value) of every header line.

    Only for a header section without bare CR/LF nor continuation lines, and
    with no more lines than the header limit; None at the first line that
    is not a valid header line, so that the general loop reports it.
    """
    fields: list[tuple[str, str]] = []
    token = _TOKEN_RE.fullmatch
    append = fields.append
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            return None
        if not token(name):
            name = name.rstrip(_WS)  # "Name :" is rare: strip only then
            if not token(name):
                return None
        append((name, value.strip(_WS)))
    return fields


def _general_fields(
    head: _Head, lines: list[str], limits: Limits
) -> list[tuple[str, str]] | None:
    """Start line and header lines, with folding and bare CR/LF (None over the limit)."""
    start = lines[0]
    if "\r" in start or "\n" in start:
        head.fail("bare CR or LF in the start line")
    _parse_start(head, start)
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if "\r" in line or "\n" in line:
            head.fail("bare CR or LF in the header section")
            line = line.replace("\r", " ").replace("\n", " ")
        if line[:1] in (" ", "\t"):
            if not fields:
                head.fail("continuation line before the first header")
                continue
            name, value = fields[-1]
            fields[-1] = (name, value.rstrip(_WS) + " " + line.lstrip(_WS))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.fullmatch(name):
            head.fail(f"invalid header line {line[:80]!r}")
            continue
        fields.append((name, value.strip(" \t")))
        if len(fields) > limits.max_headers:
            head.framing_error = SIPParseError(f"more than {limits.max_headers} headers")
            head.fail(str(head.framing_error))
            return None
    return fields


def _parse_head(data: bytes, limits: Limits) -> _Head:
    head = _Head()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        head.fail("the header section is not UTF-8")
        text = data.decode("utf-8", errors="replace")
    lines = text.split("\r\n")
    fields: list[tuple[str, str]] | None = None
    crlf = len(lines) - 1
    if (
        text.count("\r") == crlf
        and text.count("\n") == crlf
        and "\r\n " not in text
        and "\r\n\t" not in text
        and crlf <= limits.max_headers
    ):
        # Fast path: every CR and LF is in a CRLF and no line is folded.
        fast = _Head(error=head.error)
        _parse_start(fast, lines[0])
        fields = _split_fields(lines)
        if fields is not None:
            head = fast
    if fields is None:
        fields = _general_fields(head, lines, limits)
        if fields is None:
            return head
    for name, value in fields:
        try:
            _add_header(head, name, value)
        except SIPParseError as exc:
            canonical = canonical_name(name)
            if canonical.lower() == "content-length":
                head.framing_error = SIPParseError(f"invalid Content-Length: {exc}")
            head.reject(canonical, value, f"{canonical}: {exc}")
    return head


def check_message(message: SIPMessage) -> None:
    """The checks that turn a parsed message into a 400 (RFC 3261 8.2.2, 20)."""
    counts: dict[str, int] = {}
    for header in message.headers:
        key = header.name.lower()
        counts[key] = counts.get(key, 0) + 1
    required = _REQUIRED_REQUEST if isinstance(message, SIPRequest) else _REQUIRED_RESPONSE
    for name in required:
        if name.lower() not in counts:
            raise SIPParseError(f"missing {name} header")
    for name in _SINGLE:
        if counts.get(name, 0) > 1:
            raise SIPParseError(f"more than one {canonical_name(name)} header")
    cseq = message.cseq
    if isinstance(message, SIPRequest) and cseq is not None and cseq.method != message.method:
        raise SIPParseError(
            f"CSeq method {cseq.method!r} differs from the request method {message.method!r}"
        )


def _finish(head: _Head, body: bytes, check: bool) -> SIPMessage:
    if head.error is not None:
        raise head.raise_error(head.error)
    message: SIPMessage
    if head.is_request:
        assert head.method is not None and head.uri is not None
        # Every element of head.headers is a Header and body is bytes, the
        # status code is in 100..699 and a reason with CR or LF failed above:
        # what __post_init__ would check.
        message = build(
            SIPRequest, method=head.method, uri=head.uri, headers=tuple(head.headers), body=body
        )
    else:
        assert head.code is not None
        message = build(
            SIPResponse, code=head.code, reason=head.reason, headers=tuple(head.headers),
            body=body,
        )
    if check:
        try:
            check_message(message)
        except SIPParseError as exc:
            raise head.raise_error(exc) from None
    return message


def parse_message(
    data: bytes, *, limits: Limits = DEFAULT_LIMITS, check: bool = True
) -> SIPMessage:
    """Parse one message from a datagram (leading CRLFs are skipped).

    With ``check`` (the default) the message must also pass `check_message`.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SIPParseError(f"expected bytes, not {type(data).__name__}")
    data = bytes(data)
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(_CRLF2, start)
    if end < 0:
        raise SIPParseError("no end of the header section")
    if end - start > limits.max_header_bytes:
        raise SIPParseError("header section too large")
    head = _parse_head(data[start:end], limits)
    rest = data[end + 4 :]
    if head.framing_error is not None:
        raise head.raise_error(head.framing_error)
    if head.content_length is None:
        body = rest
    elif head.content_length > len(rest):
        raise head.raise_error(
            SIPParseError(f"Content-Length {head.content_length} exceeds the {len(rest)} octets")
        )
    else:
        body = rest[: head.content_length]
    if len(body) > limits.max_body_bytes:
        raise head.raise_error(SIPParseError("body too large"))
    return _finish(head, body, check)


class StreamParser:
    """Incremental parser for a TCP or TLS connection.

    ``feed(data)`` returns the messages and events completed by `data`, in
    order. CRLFCRLF between messages is a `KeepAlive` ping, a lone CRLF a
    pong (RFC 5626 section 4.4.1); a ping split across two reads shows up as a
    pong then a ping. Buffered data never exceeds the header limit plus the
    body limit; breaking a limit, or a missing or invalid Content-Length,
    yields a fatal `ParseFailure` after which the parser takes no more data
    (`failed` is True) and the connection should be closed.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, *, check: bool = True) -> None:
        self.limits = limits
        self.check = check
        self._buffer = bytearray()
        self._scan_from = 0
        self._head: _Head | None = None
        self._body_length = 0
        self._after_lone_crlf = False
        self.failed = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def in_message(self) -> bool:
        """Part of a message has arrived (its headers, maybe some body), not all of it."""
        return self._head is not None or bool(self._buffer)

    def _fatal(self, events: list[StreamEvent], error: SIPParseError) -> None:
        self.failed = True
        self._buffer = bytearray()
        events.append(ParseFailure(error, fatal=True))

    def _keepalives(self, events: list[StreamEvent]) -> bool:
        """Consume CRLFs before a message; False while more bytes are needed."""
        buffer = self._buffer
        while buffer[:2] == b"\r\n":
            if buffer[:4] == _CRLF2:
                events.append(KeepAlive(ping=True))
                del buffer[:4]
                self._after_lone_crlf = False
            elif len(buffer) == 3 and buffer[2:3] == b"\r":
                return False  # maybe the start of a ping
            else:
                del buffer[:2]
                events.append(KeepAlive(ping=self._after_lone_crlf))
                self._after_lone_crlf = not self._after_lone_crlf
        if buffer == b"\r":
            return False
        if buffer:
            self._after_lone_crlf = False
        return bool(buffer)

    def feed(self, data: bytes) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self.failed:
            return events
        self._buffer += data
        limits = self.limits
        while True:
            if self._head is None:
                if not self._keepalives(events):
                    break
                buffer = self._buffer
                end = buffer.find(_CRLF2, max(0, self._scan_from - 3))
                if end < 0:
                    if len(buffer) > limits.max_header_bytes:
                        self._fatal(events, SIPParseError("header section too large"))
                        break
                    self._scan_from = len(buffer)
                    break
                self._scan_from = 0
                if end > limits.max_header_bytes:
                    self._fatal(events, SIPParseError("header section too large"))
                    break
                head = _parse_head(bytes(buffer[:end]), limits)
                if head.framing_error is not None:
                    self._fatal(events, head.raise_error(head.framing_error))
                    break
                if head.content_length is None:
                    self._fatal(events, head.raise_error(
                        SIPParseError("Content-Length is mandatory on a stream")
                    ))
                    break
                if head.content_length > limits.max_body_bytes:
                    self._fatal(events, head.raise_error(SIPParseError("body too large")))
                    break
                del buffer[: end + 4]
                self._head = head
                self._body_length = head.content_length
            if len(self._buffer) < self._body_length:
                break
            body = bytes(self._buffer[: self._body_length])
            del self._buffer[: self._body_length]
            head, self._head = self._head, None
            try:
                events.append(_finish(head, body, self.check))
            except SIPParseError as exc:
                events.append(ParseFailure(exc, fatal=False))
        return events
