"""A sans-IO MSRP endpoint session over one connection (RFC 4975).

Bytes in (`receive`), bytes out (`outgoing`), calls in (`send_message`,
`start_message`/`supply`, `abort`, `keepalive`, `send_nickname`,
`answer_nickname`), events out; the caller
owns the socket and the clock: it passes ``now`` and arms one timer at
`next_deadline`, then calls `tick`.

What the session answers itself (RFC 4975 sections 7.2, 7.3, 10):

- a SEND to another session (the first To-Path URI is not ours): 481;
- a SEND with content of a type not in ``accept_types``: 415;
- a SEND kept in memory over ``max_message_bytes``: 413 (the sender is
  expected to stop: section 7.1.1);
- a malformed request that names its From-Path: 400 (else dropped, and a
  framing error ends the connection: `StreamBroken`);
- AUTH (a relay's method, RFC 4976) and unknown methods: 501;
- NICKNAME (RFC 7701) without Use-Nickname, or malformed: 424; else it
  comes out as `NicknameRequested` and the caller answers it
  (`answer_nickname`: a chat room's focus decides, 200, 425...);
- each chunk received whole: 200, and the success REPORT of a message
  that asked for one; responses only as Failure-Report allows (`reports`).

What it leaves to the service: which content types to accept and which to
stream (``stream_types``: their bytes come out as `IncomingData` with offsets,
never kept), what to do with a failed message, when to close.
"""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from sipsimple_services.msrp.protocol.chunking import CHAT, DEFAULT_CHUNK_SIZE, Chunk, Chunker
from sipsimple_services.msrp.protocol.errors import MSRPError, MSRPParseError
from sipsimple_services.msrp.protocol.headers import (
    ByteRange,
    FailureReport,
    format_path,
    format_use_nickname,
    parse_use_nickname,
)
from sipsimple_services.msrp.protocol.message import (
    MSRPRequest,
    MSRPResponse,
    contains_end_line,
    make_response,
)
from sipsimple_services.msrp.protocol.parser import (
    DEFAULT_LIMITS,
    BodyData,
    Limits,
    ParseFailure,
    RequestEnded,
    RequestStarted,
    ResponseReceived,
    StreamParser,
)
from sipsimple_services.msrp.protocol.reassembly import (
    DEFAULT_MAX_BUFFERED,
    Aborted,
    Completed,
    Progress,
    Reassembler,
)
from sipsimple_services.msrp.protocol.reports import (
    ReportReceived,
    make_report,
    read_report,
    should_respond,
    success_status,
)
from sipsimple_services.msrp.protocol.transactions import TIMEOUT, TransactionTable
from sipsimple_services.msrp.protocol.uri import MSRPURI

__all__ = [
    "ChunkReceived",
    "DeliveryFailed",
    "IncomingData",
    "MSRPSession",
    "MessageAborted",
    "MessageDelivered",
    "MessageReceived",
    "NicknameAnswered",
    "NicknameRequested",
    "ReportReceived",
    "RequestRejected",
    "ResponseUnmatched",
    "SessionEvent",
    "StreamBroken",
]


@dataclass(frozen=True)
class MessageReceived:
    """A whole message; ``body`` None for a streamed one (its bytes came as IncomingData)."""

    message_id: str
    content_type: str | None
    headers: tuple[tuple[str, str], ...]  # of the chunk that completed it
    body: bytes | None
    size: int


@dataclass(frozen=True, eq=False)
class IncomingData:
    """Bytes of a streamed message, at `offset` (0-based) in it: write them there."""

    message_id: str
    offset: int
    data: memoryview


@dataclass(frozen=True)
class ChunkReceived:
    """Progress of a message in chunks."""

    message_id: str
    received: int
    total: int | None


@dataclass(frozen=True)
class MessageAborted:
    message_id: str
    status: int | None  # None: the sender aborted (#); else what we answered


@dataclass(frozen=True)
class MessageDelivered:
    """The next hop took every chunk of an outgoing message (200 to the last)."""

    message_id: str


@dataclass(frozen=True)
class DeliveryFailed:
    """A chunk of an outgoing message failed: a response or a local 408."""

    message_id: str
    code: int
    comment: str | None
    local: bool


@dataclass(frozen=True)
class RequestRejected:
    """A request we answered with an error (or dropped: ``code`` None)."""

    transaction_id: str | None
    code: int | None
    reason: str


@dataclass(frozen=True)
class ResponseUnmatched:
    """The response to a request the caller wrote on the connection itself (an RFC 4976
    AUTH refresh) and announced with `MSRPSession.expect_response`."""

    response: MSRPResponse


@dataclass(frozen=True)
class NicknameRequested:
    """The peer asks to use `nickname` (RFC 7701): answer with `answer_nickname`."""

    transaction_id: str
    nickname: str


@dataclass(frozen=True)
class NicknameAnswered:
    """The response to our NICKNAME (``local``: a 408 of our own, none came)."""

    transaction_id: str
    code: int
    comment: str | None
    local: bool


@dataclass(frozen=True)
class StreamBroken:
    """The byte stream cannot be parsed any more: close the connection."""

    reason: str


SessionEvent = (
    MessageReceived | IncomingData | ChunkReceived | MessageAborted | MessageDelivered
    | DeliveryFailed | ReportReceived | RequestRejected | ResponseUnmatched | StreamBroken
    | NicknameRequested | NicknameAnswered
)


@dataclass
class _Sent:
    message_id: str
    last: bool
    keepalive: bool = False
    nickname: bool = False


@dataclass
class _Receiving:
    request: MSRPRequest
    message_id: str | None
    streamed: bool
    failed: bool = False  # answered with an error: skip the rest


MAX_EXPECTED = 16  # the caller's own requests awaiting a response (a relay's AUTH)
MAX_NICKNAMES = 16  # the peer's NICKNAME requests awaiting the caller's answer


def _new_id() -> str:
    return secrets.token_hex(8)  # 64 random bits, ident characters only


def _long_id() -> str:
    return secrets.token_hex(16)  # 32 characters: the longest ident (RFC 4975 9)


# A chunk's body at least this large gets a transaction id of 32 characters: the
# end-line search through its body (the sender's check and the receiver's parser:
# `bytes.find`, which skips ahead by up to the end-line's length) takes about 35%
# less time than with 16 (0.09 against 0.15 ms per MB).
LONG_ID_BODY = 64 * 1024


class MSRPSession:
    """One MSRP session as an endpoint: `local_uri` ours, `to_path` the peer's (via relays)."""

    def __init__(
        self,
        local_uri: MSRPURI,
        to_path: tuple[MSRPURI, ...],
        *,
        accept_types: Iterable[str] = ("*",),
        stream_types: Iterable[str] = (),
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_message_bytes: int = DEFAULT_MAX_BUFFERED,
        limits: Limits = DEFAULT_LIMITS,
        response_timeout: float = TIMEOUT,
        keepalive_interval: float | None = None,
        new_id: Callable[[], str] = _new_id,
        long_id: Callable[[], str] = _long_id,
    ) -> None:
        if not to_path:
            raise MSRPError("the session needs the peer's To-Path")
        self.local_uri = local_uri
        self.to_path = to_path
        self.accept_types = tuple(accept_types)
        self.stream_types = tuple(stream_types)
        self.keepalive_interval = keepalive_interval
        self._new_id = new_id
        self._long_id = long_id  # for the chunks of LONG_ID_BODY bytes or more
        self._parser = StreamParser(limits)
        self._expected: set[str] = set()  # the caller's own requests (expect_response)
        self._chunker = Chunker(chunk_size)
        self._reassembler = Reassembler(max_message_bytes)
        self._transactions = TransactionTable(response_timeout)
        self._control: list[bytes] = []  # responses and REPORTs: before any chunk
        self._sent: dict[str, _Sent] = {}
        # Outgoing messages: chunks awaiting their outcome, and those that
        # failed already (one failure event per message).
        self._outstanding: dict[str, int] = {}
        self._failed: set[str] = set()
        self._options: dict[str, tuple[bool, FailureReport]] = {}
        self._receiving: _Receiving | None = None
        self._last_sent: float | None = None
        # Resumed files (RFC 5547 8.2): the next new streamed messages have
        # these many bytes from the start already (a kept partial file).
        self._resumes: list[int] = []
        self._keepalive_due = False
        self._requests: list[MSRPRequest] = []  # ours (NICKNAME) to write next
        self._nicknames: dict[str, MSRPRequest] = {}  # the peer's, awaiting our answer

    # Incoming.

    def receive(self, data: bytes | bytearray | memoryview, now: float) -> list[SessionEvent]:
        """Bytes read from the connection; the events they complete."""
        events: list[SessionEvent] = []
        for event in self._parser.feed(data):
            if isinstance(event, BodyData):
                self._body(event, events)
            elif isinstance(event, RequestStarted):
                self._started(event.request, event.has_body, events)
            elif isinstance(event, RequestEnded):
                self._ended(event, events)
            elif isinstance(event, ResponseReceived):
                self._response(event.response, events)
            else:
                self._failure(event, events)
        return events

    def _started(self, request: MSRPRequest, has_body: bool, events: list[SessionEvent]) -> None:
        receiving = _Receiving(request, None, False)
        self._receiving = receiving
        to_path = request.to_path
        if request.method == "REPORT":
            return
        if not to_path[0].matches(self.local_uri):
            self._reject(receiving, 481, "not this session", events)
        elif request.method == "NICKNAME":
            self._nickname(receiving, events)
        elif request.method != "SEND":
            self._reject(receiving, 501, f"method {request.method} not implemented", events)
        elif request.message_id is None:
            self._reject(receiving, 400, "SEND without Message-ID", events)
        elif has_body and not _matches(request.content_type or "", self.accept_types):
            self._reject(receiving, 415, f"content type {request.content_type} refused", events)
        elif has_body or request.byte_range not in (None, ByteRange(1, 0, 0)):
            streamed = _matches(request.content_type or "", self.stream_types)
            resume = streamed and bool(self._resumes) \
                and request.message_id not in self._reassembler
            try:
                offset = self._reassembler.start(request.message_id, request.byte_range,
                                                 buffered=not streamed,
                                                 have=self._resumes[0] if resume else 0)
                if resume and offset is not None:
                    self._resumes.pop(0)
            except MSRPParseError as exc:
                self._reject(receiving, exc.status, str(exc), events)
                events.append(MessageAborted(request.message_id, exc.status))
                return
            if offset is not None:  # else a late duplicate: answered, ignored
                receiving.message_id, receiving.streamed = request.message_id, streamed

    def _nickname(self, receiving: _Receiving, events: list[SessionEvent]) -> None:
        request = receiving.request
        nickname = request.use_nickname  # its grammar checked by the parser (else 424)
        if nickname is None:
            self._reject(receiving, 424, "NICKNAME without Use-Nickname", events)
        elif len(self._nicknames) >= MAX_NICKNAMES:
            self._reject(receiving, 403, "too many NICKNAME requests unanswered", events)
        else:
            self._nicknames[request.transaction_id] = request
            events.append(NicknameRequested(request.transaction_id, nickname))

    def answer_nickname(self, transaction_id: str, code: int,
                        comment: str | None = None) -> None:
        """Answer the peer's NICKNAME `transaction_id` (200, 403, 424, 425...)."""
        request = self._nicknames.pop(transaction_id, None)
        if request is None:
            raise MSRPError(f"no NICKNAME {transaction_id} awaits an answer")
        self._control.append(bytes(make_response(request, code, comment,
                                                 local_uri=self.local_uri)))

    def _body(self, event: BodyData, events: list[SessionEvent]) -> None:
        receiving = self._receiving
        if receiving is None or receiving.failed or receiving.message_id is None:
            return
        try:
            offset = self._reassembler.data(receiving.message_id, event.data)
        except MSRPParseError as exc:
            self._reject(receiving, exc.status, str(exc), events)
            events.append(MessageAborted(receiving.message_id, exc.status))
            return
        if receiving.streamed:
            events.append(IncomingData(receiving.message_id, offset, event.data))

    def _ended(self, event: RequestEnded, events: list[SessionEvent]) -> None:
        receiving, self._receiving = self._receiving, None
        if receiving is None or receiving.failed:
            return
        request = receiving.request
        if request.method == "NICKNAME":
            return  # the caller answers it
        if request.method == "REPORT":
            report = read_report(request)
            if report is not None:
                events.append(report)
            return
        self._answer(request, 200)
        if receiving.message_id is None:
            return  # an empty SEND: keep-alive or binding
        outcome = self._reassembler.end(receiving.message_id, event.continuation)
        if isinstance(outcome, Progress):
            events.append(ChunkReceived(outcome.message_id, outcome.received, outcome.total))
        elif isinstance(outcome, Aborted):
            events.append(MessageAborted(outcome.message_id, outcome.status))
        else:
            self._completed(request, outcome, events)

    def _completed(
        self, request: MSRPRequest, outcome: Completed, events: list[SessionEvent]
    ) -> None:
        events.append(MessageReceived(outcome.message_id, request.content_type,
                                      request.headers, outcome.body, outcome.total))
        if request.success_report:
            report = make_report(
                self._new_id(), to_path=request.from_path, local_uri=self.local_uri,
                message_id=outcome.message_id,
                byte_range=ByteRange(1, outcome.total, outcome.total), status=success_status(),
            )
            self._control.append(bytes(report))

    def expect_response(self, transaction_id: str) -> None:
        """The caller wrote a request of its own with this transaction id: its response
        comes out as `ResponseUnmatched` (at most `MAX_EXPECTED` awaited at once)."""
        if len(self._expected) >= MAX_EXPECTED:
            self._expected.pop()
        self._expected.add(transaction_id)

    def _response(self, response: MSRPResponse, events: list[SessionEvent]) -> None:
        if response.transaction_id in self._expected:
            self._expected.discard(response.transaction_id)
            events.append(ResponseUnmatched(response))
            return
        outcome = self._transactions.response(response)
        if outcome is not None:
            self._outcome(outcome.request.transaction_id, response, outcome.local, events)

    def _outcome(
        self, tid: str, response: MSRPResponse | None, local: bool, events: list[SessionEvent]
    ) -> None:
        sent = self._sent.pop(tid, None)
        if sent is None:
            return
        mid = sent.message_id
        silent = response is None  # Failure-Report partial: no news, no confirmation
        if response is None:
            response = MSRPResponse(tid, 200, None, ())
        if sent.nickname:
            events.append(NicknameAnswered(tid, response.code, response.comment, local))
            return
        if sent.keepalive:
            if response.code != 200:
                events.append(DeliveryFailed(mid, response.code, response.comment, local))
            return
        outstanding = self._outstanding.pop(mid, 1) - 1
        if response.code == 200:
            # Delivered once every chunk, the last included, had its 200.
            if outstanding == 0 and mid not in self._chunker and mid not in self._failed \
                    and not silent:
                events.append(MessageDelivered(mid))
        elif mid not in self._failed:
            # The first failure of a message is its failure; the rest is not sent.
            if mid in self._chunker:
                self._chunker.abort(mid)
            events.append(DeliveryFailed(mid, response.code, response.comment, local))
            self._failed.add(mid)
        if outstanding > 0 or mid in self._chunker:
            self._outstanding[mid] = outstanding
        else:
            self._failed.discard(mid)

    def _failure(self, event: ParseFailure, events: list[SessionEvent]) -> None:
        receiving, self._receiving = self._receiving, None
        error = event.error
        if event.fatal:
            events.append(StreamBroken(str(error)))
            return
        if receiving is not None and receiving.request.transaction_id == error.transaction_id:
            # A chunk over the parser's limit, its head read already (413).
            if not receiving.failed:
                self._reject(receiving, error.status, str(error), events)
                if receiving.message_id is not None:
                    events.append(MessageAborted(receiving.message_id, error.status))
            return
        code: int | None = None
        if event.method is not None and event.method != "REPORT" and error.transaction_id:
            request = _answerable(error.transaction_id, event.method, event.headers)
            if request is not None:
                code = error.status
                if event.method == "NICKNAME" and _malformed_nickname(event.headers):
                    code = 424  # RFC 7701: Malformed nickname (the parser says 400)
                self._control.append(bytes(make_response(
                    request, code, local_uri=self.local_uri)))
        events.append(RequestRejected(error.transaction_id, code, str(error)))

    def _reject(
        self, receiving: _Receiving, code: int, reason: str, events: list[SessionEvent]
    ) -> None:
        receiving.failed = True
        if receiving.message_id is not None:
            self._reassembler.drop(receiving.message_id)
        self._answer(receiving.request, code, always=receiving.request.method != "SEND")
        events.append(RequestRejected(receiving.request.transaction_id, code, reason))

    def _answer(self, request: MSRPRequest, code: int, *, always: bool = False) -> None:
        if always or should_respond(request, code):
            self._control.append(bytes(make_response(request, code, local_uri=self.local_uri)))

    # Outgoing.

    def send_message(
        self,
        content_type: str,
        data: bytes,
        *,
        message_id: str | None = None,
        priority: int = CHAT,
        success_report: bool = False,
        failure_report: FailureReport = FailureReport.YES,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> str:
        """Queue a message whose bytes are all here; its Message-ID."""
        return self.start_message(
            content_type, data, message_id=message_id, priority=priority,
            success_report=success_report, failure_report=failure_report, headers=headers)

    def start_message(
        self,
        content_type: str,
        data: bytes | None = None,
        *,
        total: int | None = None,
        message_id: str | None = None,
        priority: int = CHAT,
        success_report: bool = False,
        failure_report: FailureReport = FailureReport.YES,
        headers: tuple[tuple[str, str], ...] = (),
        offset: int = 0,
    ) -> str:
        """Queue a message; with ``data=None`` its bytes come through `supply`
        (from `offset` on, for a resumed file)."""
        message_id = message_id or self._new_id()
        self._chunker.add(message_id, content_type, data, total=total, priority=priority,
                          headers=headers, offset=offset)
        self._options[message_id] = (success_report, failure_report)
        return message_id

    def resume_next(self, have: int) -> None:
        """The next new streamed message continues a file whose first `have`
        bytes are here already (0: a new file): complete once the rest arrives.
        Calls queue up, one per streamed message to come."""
        if have < 0:
            raise MSRPError("have must not be negative")
        self._resumes.append(have)

    def supply(self, message_id: str, data: bytes, *, final: bool = False) -> None:
        self._chunker.supply(message_id, data, final=final)

    def abort(self, message_id: str) -> None:
        """Stop sending a message: an empty chunk ending with ``#`` goes next."""
        self._chunker.abort(message_id)

    def wants_data(self) -> list[str]:
        """Messages started without data that hold less than one chunk."""
        return self._chunker.wants_data()

    def send_nickname(self, nickname: str, *, transaction_id: str | None = None) -> str:
        """Ask the peer (a chat room's focus) for `nickname` (RFC 7701); the answer
        comes as `NicknameAnswered` with the returned transaction id. MSRPParseError
        for a nickname no Use-Nickname can carry."""
        tid = transaction_id or self._new_id()
        if tid in self._sent or any(r.transaction_id == tid for r in self._requests):
            raise MSRPError(f"transaction id {tid} already in use")
        self._requests.append(MSRPRequest(tid, "NICKNAME", (
            ("To-Path", format_path(self.to_path)), ("From-Path", str(self.local_uri)),
            ("Use-Nickname", format_use_nickname(nickname)))))
        return tid

    @property
    def chunk_size(self) -> int:
        """The most body bytes one chunk carries."""
        return self._chunker.chunk_size

    def keepalive(self) -> None:
        """Queue an empty SEND (section 7.1.1 allows it; a 408 shows the path dead)."""
        self._keepalive_due = True

    def outgoing(self, now: float) -> list[bytes | memoryview]:
        """What to write now: responses and reports, then at most one chunk.

        Call again while it returns something: a chunk at a time lets a chat
        message overtake the next chunk of a file.
        """
        out: list[bytes | memoryview] = list(self._control)
        self._control.clear()
        for request in self._requests:
            if self._transactions.start(request, now):
                self._sent[request.transaction_id] = _Sent("", True, nickname=True)
            out.append(bytes(request))
        self._requests.clear()
        if self._keepalive_due:
            self._keepalive_due = False
            out.append(self._send_keepalive(now))
        else:
            chunk = self._chunker.next_chunk()
            if chunk is not None:
                out += self._send_chunk(chunk, now)
        if out:
            self._last_sent = now
        return out

    def _headers(self, message_id: str) -> list[tuple[str, str]]:
        return [("To-Path", format_path(self.to_path)), ("From-Path", str(self.local_uri)),
                ("Message-ID", message_id)]

    def _send_keepalive(self, now: float) -> bytes:
        tid, message_id = self._new_id(), self._new_id()
        request = MSRPRequest(
            tid, "SEND", (*self._headers(message_id), ("Byte-Range", "1-0/0")))
        self._transactions.start(request, now)
        self._sent[tid] = _Sent(message_id, True, keepalive=True)
        return bytes(request)

    def _send_chunk(self, chunk: Chunk, now: float) -> list[bytes | memoryview]:
        success, failure = self._options.get(chunk.message_id, (False, FailureReport.YES))
        if chunk.continuation != "+":
            self._options.pop(chunk.message_id, None)
        headers = self._headers(chunk.message_id)
        if success:
            headers.append(("Success-Report", "yes"))
        if failure is not FailureReport.YES:
            headers.append(("Failure-Report", failure.value))
        headers += [("Byte-Range", str(chunk.byte_range)), *chunk.headers,
                    ("Content-Type", chunk.content_type)]
        new_id = self._long_id if len(chunk.data) >= LONG_ID_BODY else self._new_id
        tid = new_id()
        while contains_end_line(chunk.data, tid):
            tid = new_id()  # section 7.1: the end-line must not be in the body
        request = MSRPRequest(tid, "SEND", tuple(headers), b"", chunk.continuation)
        if chunk.continuation != "#" and self._transactions.start(request, now):
            self._sent[tid] = _Sent(chunk.message_id, chunk.continuation == "$")
            self._outstanding[chunk.message_id] = self._outstanding.get(chunk.message_id, 0) + 1
        return [request.head_bytes(), chunk.data, request.tail_bytes()]

    # Time.

    def next_deadline(self) -> float | None:
        deadlines = [self._transactions.next_deadline()]
        if self.keepalive_interval is not None and self._last_sent is not None:
            deadlines.append(self._last_sent + self.keepalive_interval)
        present = [deadline for deadline in deadlines if deadline is not None]
        return min(present) if present else None

    def tick(self, now: float) -> list[SessionEvent]:
        """Time passed: local 408s, and a keep-alive when the line was quiet."""
        events: list[SessionEvent] = []
        for outcome in self._transactions.expire(now):
            self._outcome(outcome.request.transaction_id, outcome.response, True, events)
        interval = self.keepalive_interval
        if interval is not None and self._last_sent is not None \
                and now >= self._last_sent + interval:
            self._keepalive_due = True
            self._last_sent = now
        return events

    def close(self) -> list[SessionEvent]:
        """The connection is gone: what was waiting fails with a local 408."""
        events: list[SessionEvent] = []
        for outcome in self._transactions.close():
            self._outcome(outcome.request.transaction_id, outcome.response, True, events)
        return events


@lru_cache(maxsize=256)
def _matches(content_type: str, patterns: tuple[str, ...]) -> bool:
    bare = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(bare, pattern.lower()) for pattern in patterns)


def _malformed_nickname(headers: tuple[tuple[str, str], ...]) -> bool:
    for name, value in headers:
        if name == "Use-Nickname":
            try:
                parse_use_nickname(value)
            except MSRPParseError:
                return True
    return False


def _answerable(
    tid: str, method: str, headers: tuple[tuple[str, str], ...]
) -> MSRPRequest | None:
    """The malformed request rebuilt from its From-Path, if that parsed: what a response needs."""
    from_path = [(name, value) for name, value in headers if name == "From-Path"][:1]
    try:
        request = MSRPRequest(tid, method, tuple(from_path))
        if not request.from_path:
            return None
    except (MSRPError, MSRPParseError):
        return None
    return request
