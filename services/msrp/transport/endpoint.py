"""One MSRP session driven over a real TCP connection and a timer (gevent).

The `Endpoint` exists from `create_session` (its local path is in the SDP)
and gets its `MSRPSession` at `start` (the peer's path is known then).
Active (RFC 6135 ``a=setup:active``): it connects to the first URI of the
peer's path and binds the connection with an empty SEND. Passive: the shared
`Listener` hands it the connection whose first request names it, possibly
before `start` (the peer's answer may reach its side first): those bytes wait.
An ``msrps`` first URI is reached over TLS: the certificate and its name
(the URI's host) are verified with the context `tls_client` gives.

What happens goes out through `emit(event_name, data)`, named as the bus
events (``session_started``, ``message_received``, ...); the bus side adds
the session id and publishes them.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.socket
import gevent.ssl

from sipsimple.bus.schema import MAX_MESSAGE_SIZE
from sipsimple_services.msrp.protocol.chunking import DEFAULT_CHUNK_SIZE, FILE
from sipsimple_services.msrp.protocol.headers import FailureReport
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse
from sipsimple_services.msrp.protocol.parser import StreamParser, collect
from sipsimple_services.msrp.protocol.relay import (
    AuthFailed,
    AuthRetry,
    AuthSucceeded,
    RelayAuth,
    RelayCredentials,
)
from sipsimple_services.msrp.protocol.reports import ReportReceived
from sipsimple_services.msrp.protocol.session import (
    DeliveryFailed,
    IncomingData,
    MessageAborted,
    MessageDelivered,
    MessageReceived,
    MSRPSession,
    NicknameAnswered,
    NicknameRequested,
    RequestRejected,
    ResponseUnmatched,
    SessionEvent,
    StreamBroken,
)
from sipsimple_services.msrp.protocol.transactions import TIMEOUT
from sipsimple_services.msrp.protocol.uri import DEFAULT_PORT, MSRPURI
from sipsimple_services.msrp.transport.files import (
    FileExpectation,
    OutgoingFile,
    TransferError,
)
from sipsimple_services.msrp.transport.receiving import Emit, FileReceiver, have
from sipsimple_services.msrp.transport.sockets import no_delay, send_parts
from sipsimple_services.msrp.transport.splice import CONTENT_TYPE as SPLICE_TYPE
from sipsimple_services.msrp.transport.splice import READ_SIZE as SPLICE_CHUNK
from sipsimple_services.msrp.transport.splice import RECEIVE_SIZE as SPLICE_RECEIVE
from sipsimple_services.msrp.transport.splice import SEND_BUFFER as SPLICE_SEND_BUFFER
from sipsimple_services.msrp.transport.splice import Splice
from sipsimple_services.msrp.transport.tls import describe_tls_error

__all__ = ["CONNECT_TIMEOUT", "KEEPALIVE_INTERVAL", "PASSIVE_TIMEOUT", "Endpoint"]

log = logging.getLogger("sipsimple.msrp.endpoint")

CONNECT_TIMEOUT = 30.0  # msrplib's, for the TCP connect of the active side
PASSIVE_TIMEOUT = 30.0  # how long the passive side waits for the peer to connect
KEEPALIVE_INTERVAL = 60.0  # an empty SEND when the line was quiet this long (msrplib's)
READ_SIZE = 1024 * 1024  # what one recv may take: the parser's cost is per read
TLS_READ_SIZE = 64 * 1024
YIELD_BYTES = 1024 * 1024  # a reader yields after this much read without waiting
EARLY_BYTES = 1024 * 1024  # read before our start at most (then the reader waits)
# Chunks of a direct connection: large, so that what a chunk costs (its head, its
# 200, a few calls) is paid per MiB; a chat message still waits at most one chunk
# (a few ms at file speed). Through a relay the session's default (64 KiB) stays.
DIRECT_CHUNK_SIZE = 1024 * 1024
# Received messages cross the bus in one event, under its size limit: larger
# ones are refused with 413 (RFC 4975 7.3) instead of being lost on the way.
MAX_MESSAGE_BYTES = MAX_MESSAGE_SIZE - 64 * 1024
TIMER_GRANULARITY = 1.0  # the timer wakes at least this often (deadlines move as we send)

class Endpoint:
    def __init__(self, local_uri: MSRPURI, emit: Emit,
                 on_gone: Callable[[], None] = lambda: None,
                 tls_client: Callable[[], ssl.SSLContext] | None = None,
                 response_timeout: float = TIMEOUT) -> None:
        self.local_uri = local_uri
        self.response_timeout = response_timeout  # then a local 408 (RFC 4975 7.1.1)
        self._tls_client = tls_client
        self.session: MSRPSession | None = None
        self.active: bool | None = None
        self.state = "created"  # created, starting, connected, ended
        self._emit = emit
        self._on_gone = on_gone
        self._sock: Any = None
        self._peer: MSRPURI | None = None  # the last From-Path URI of a passive connection
        self._early: list[bytes] = []  # read before start: fed to the session then
        self._live = gevent.event.Event()  # set once the reader may feed the session
        self._write_lock = gevent.lock.Semaphore()
        self._writer: gevent.Greenlet | None = None  # sends a file, chunk after chunk
        self._greenlets: list[gevent.Greenlet] = []
        self._messages: dict[str, bool] = {}  # ours in flight -> Success-Report asked
        self._started_at = 0.0
        # Files (RFC 5547): ours being read; the peer's, announced and being written
        self._sending: dict[str, OutgoingFile] = {}
        self._receiving = FileReceiver(emit)
        self._stream_types: tuple[str, ...] = ()
        self.use_path: tuple[MSRPURI, ...] = ()  # our relay's hops (RFC 4976), if any
        self._relay_auth: RelayAuth | None = None
        self._refresh_at: float | None = None  # when the relay's grant is renewed
        # (direction, what one read or write carried): set while the owner traces
        self.trace: Callable[[str, Iterable[bytes | memoryview]], None] | None = None
        # Desktop sharing with an external VNC peer (transport/splice.py): its
        # streamed RFB bytes go to a TCP socket instead of the bus.
        self.splice: Splice | None = None

    def __repr__(self) -> str:
        return f"<Endpoint {self.local_uri} {self.state}>"

    # --- calls -----------------------------------------------------------------

    def start(self, remote_path: tuple[MSRPURI, ...], active: bool,
              accept_types: Iterable[str] = ("*",)) -> None:
        if self.state != "created":
            raise RuntimeError(f"the session was started already ({self.state})")
        if self.use_path:
            # RFC 4976: the relay's hops go before the peer's path; the connection is
            # ours to the relay already, whatever a=setup said.
            remote_path, active = self.use_path + remote_path, True
        self.session = MSRPSession(self.local_uri, remote_path, accept_types=accept_types,
                                   stream_types=self._stream_types,
                                   chunk_size=SPLICE_CHUNK if self.splice is not None
                                   else DEFAULT_CHUNK_SIZE if self.use_path
                                   else DIRECT_CHUNK_SIZE,
                                   keepalive_interval=KEEPALIVE_INTERVAL,
                                   max_message_bytes=MAX_MESSAGE_BYTES,
                                   response_timeout=self.response_timeout)
        for expectation in self._receiving.announced:
            self.session.resume_next(have(expectation))
        self.active, self.state, self._started_at = active, "starting", time.monotonic()
        self._greenlets.append(gevent.spawn(self._timer))
        if self.use_path:
            self._feed_early()  # what the relay sent already, before the binding
            self.session.keepalive()  # binds the path end to end
            self._connected()
        elif active:
            self._feed_early()  # nothing: the connection is ours to make
            self._greenlets.append(gevent.spawn(self._connect, remote_path[0]))
        elif self._sock is not None:  # the peer connected before our start
            if not self._expected(self._peer):
                self._early.clear()
                sock, self._sock = self._sock, None
                sock.close()  # its reader ends; we wait for the right peer
                self._feed_early()
                return
            self._connected()
            self._feed_early()
        else:
            self._feed_early()

    def send_message(self, content_type: str, body: bytes, message_id: str | None,
                     success_report: bool, failure_report: FailureReport) -> str:
        if self.session is None or self.state == "ended":
            raise RuntimeError(f"the session is {self.state}")
        message_id = self.session.send_message(
            content_type, body, message_id=message_id, success_report=success_report,
            failure_report=failure_report)
        # No positive news for Failure-Report no/partial without Success-Report.
        if success_report or failure_report is FailureReport.YES:
            self._messages[message_id] = success_report
        self._flush()
        return message_id

    def send_nickname(self, nickname: str, transaction_id: str | None = None) -> str:
        """A NICKNAME (RFC 7701) to the peer; its answer comes as ``nickname_answered``."""
        if self.session is None or self.state == "ended":
            raise RuntimeError(f"the session is {self.state}")
        transaction_id = self.session.send_nickname(nickname, transaction_id=transaction_id)
        self._flush()
        return transaction_id

    def answer_nickname(self, transaction_id: str, code: int, comment: str | None) -> None:
        """Answer the peer's NICKNAME (``nickname_received``)."""
        if self.session is None or self.state == "ended":
            raise RuntimeError(f"the session is {self.state}")
        self.session.answer_nickname(transaction_id, code, comment)
        self._flush()

    def send_file(self, path: str, content_type: str, message_id: str | None,
                  offset: int = 0) -> str:
        """Queue a file (from `offset`: a resumed one): read as the session wants
        data, one chunk after another."""
        if self.session is None or self.state == "ended":
            raise RuntimeError(f"the session is {self.state}")
        message_id = message_id or secrets.token_hex(8)
        try:
            outgoing = OutgoingFile(message_id, path, offset)
        except TransferError as exc:
            raise ValueError(str(exc)) from None
        try:
            self.session.start_message(content_type, None, total=outgoing.size,
                                       message_id=message_id, priority=FILE,
                                       success_report=True, failure_report=FailureReport.YES,
                                       offset=offset)
        except ValueError:
            outgoing.close()
            raise
        self._sending[message_id] = outgoing
        self._messages[message_id] = True
        self._greenlets.append(gevent.spawn(self._flush))  # not in the caller's greenlet
        return message_id

    def expect_file(self, expectation: FileExpectation, content_type: str = "*") -> None:
        """A file the peer will send (its SDP's file-selector): messages of
        `content_type` are streamed to disk instead of kept."""
        self._receiving.announced.append(expectation)
        self._stream_types = (*self._stream_types, content_type)
        if self.session is not None:
            self.session.stream_types = self._stream_types
            self.session.resume_next(have(expectation))

    def attach_splice(self, splice: Splice) -> None:
        """Bridge the session's RFB bytes to `splice`'s TCP connection (before `start`)."""
        if self.state != "created" or self.splice is not None:
            raise RuntimeError(f"a splice is attached once, before the session starts "
                               f"(the session is {self.state})")
        self.splice, splice.emit = splice, self._emit
        self._stream_types = (*self._stream_types, SPLICE_TYPE)

    def send_stream(self, content_type: str, data: bytes) -> None:
        """Bytes of a spliced byte stream, as one message without reports (RFB over MSRP:
        Failure-Report partial, as the original SDK); written before this returns, so
        whoever reads them from elsewhere waits while the MSRP connection is slow."""
        if self.session is None or self.state != "connected":
            raise RuntimeError(f"the session is {self.state}")
        self.session.send_message(content_type, data, failure_report=FailureReport.PARTIAL)
        self._flush(wait=True)

    def end(self, reason: str, failed: bool = False) -> None:
        """Close the connection; ``session_ended`` (or ``session_failed``) with `reason`."""
        if self.state == "ended":
            return
        self.state = "ended"
        if self.splice is not None:
            self.splice.close()
        self._live.set()  # a reader held before our start sees the end
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        if self.session is not None:
            self._handle(self.session.close())
        for message_id in list(self._messages):
            self._emit("message_failed", {"message_id": message_id, "code": 408,
                                          "reason": f"session ended: {reason}"})
        self._messages.clear()
        for outgoing in self._sending.values():
            outgoing.close()
        self._sending.clear()
        self._receiving.interrupt(f"session ended: {reason}")
        self._emit("session_failed" if failed else "session_ended", {"reason": reason})
        current = gevent.getcurrent()
        for greenlet in self._greenlets:
            if greenlet is not current:
                greenlet.kill(block=False)
        self._on_gone()

    # --- the connection ---------------------------------------------------------

    def attach(self, sock: Any, data: bytes, peer: MSRPURI | None) -> bool:
        """A connection the listener matched to us by its To-Path, its first bytes and the
        last URI of its From-Path (`peer`); reads it, or False when it is not ours."""
        if self._sock is not None or self.state == "ended" or self.active:
            return False  # RFC 4975 7.1.1: one connection per session
        if self.session is not None and not self._expected(peer):
            return False
        self._sock, self._peer = sock, peer
        if self.session is None:
            self._early.append(data)
        else:
            self._connected()
            self._feed(data)
        self._read()
        return True

    def _expected(self, peer: MSRPURI | None) -> bool:
        """Whether the connecting peer is the one of the SDP: its From-Path ends with the
        session id of the last URI of its a=path (the address may differ behind a NAT)."""
        assert self.session is not None
        if peer is not None and peer.session_id == self.session.to_path[-1].session_id:
            return True
        log.warning("%r: refused a connection from %s: the peer's path is %s", self, peer,
                    self.session.to_path[-1])
        return False

    def _connect(self, target: MSRPURI) -> None:
        host = target.host.strip("[]")
        port = target.port or DEFAULT_PORT
        try:
            sock = gevent.socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            self.end(f"cannot connect to {target}: {exc}", failed=True)
            return
        no_delay(sock)
        if target.secure:
            sock = self._secure(sock, target, host)
            if sock is None:
                return
        sock.settimeout(None)
        if self.state == "ended":
            sock.close()
            return
        self._sock = sock
        assert self.session is not None
        self.session.keepalive()  # the empty SEND that binds the connection
        self._connected()
        self._read()

    def connect_relay(self, relay: MSRPURI, credentials: RelayCredentials,
                      tls_name: str | None = None) -> None:
        """Connect to our relay and AUTH (RFC 4976), blocking; sets `use_path` and reads on.

        Raises ConnectionError with the reason when the relay cannot be reached or
        refuses us. Before `start`, what the relay sends waits (as a passive early
        connection's bytes). `tls_name`: the name an msrps relay's certificate must
        carry (SNI too), else the URI's host."""
        host, port = relay.host.strip("[]"), relay.port or DEFAULT_PORT
        try:
            sock = gevent.socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConnectionError(f"cannot connect to the relay {relay}: {exc}") from None
        no_delay(sock)
        if relay.secure:
            try:
                if self._tls_client is None:
                    raise ssl.SSLError("this service has no TLS client settings")
                sock = self._tls_client().wrap_socket(sock, server_hostname=tls_name or host)
            except (OSError, ValueError) as exc:
                sock.close()
                reason = describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else str(exc)
                raise ConnectionError(f"cannot connect to the relay {relay}: {reason}") from None
        auth = RelayAuth(relay, self.local_uri, credentials)
        parser = StreamParser()
        request = auth.request()
        try:
            while True:
                sock.sendall(bytes(request))
                if self.trace is not None:
                    self.trace("outgoing", (bytes(request),))
                event = None
                while event is None:
                    data = sock.recv(READ_SIZE)
                    if not data:
                        raise ConnectionError(f"the relay {relay} closed the connection")
                    if self.trace is not None:
                        self.trace("incoming", (data,))
                    for message in collect(parser.feed(data)):
                        if isinstance(message, MSRPResponse):
                            event = auth.handle_response(message, time.monotonic())
                if isinstance(event, AuthRetry):
                    request = event.request
                    continue
                if isinstance(event, AuthFailed):
                    raise ConnectionError(f"the relay {relay} refused AUTH: {event.reason}")
                assert isinstance(event, AuthSucceeded)
                break
        except (OSError, gevent.Timeout) as exc:
            sock.close()
            if isinstance(exc, ConnectionError):
                raise
            raise ConnectionError(f"AUTH to the relay {relay} failed: {exc}") from None
        sock.settimeout(None)
        self.use_path, self._sock = event.use_path, sock
        self._relay_auth, self._refresh_at = auth, event.refresh_at
        log.info("%r: AUTH at %s, Use-Path %s for %d s", self, relay,
                 " ".join(map(str, event.use_path)), event.expires)
        self._greenlets.append(gevent.spawn(self._read))

    def _secure(self, sock: Any, target: MSRPURI, host: str) -> Any:
        """The TLS socket over `sock`, its certificate checked for `host` (None: ended)."""
        try:
            if self._tls_client is None:
                raise ssl.SSLError("this service has no TLS client settings")
            # server_hostname: SNI for a name, and the name (or IP SAN) the certificate
            # must carry; the handshake runs under the connect timeout still set.
            return self._tls_client().wrap_socket(sock, server_hostname=host)
        except (OSError, ValueError) as exc:
            sock.close()
            reason = describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else str(exc)
            self.end(f"cannot connect to {target}: {reason}", failed=True)
            return None

    def _connected(self) -> None:
        self.state = "connected"
        self._emit("session_started", {"active": bool(self.active)})
        if self.splice is not None:
            # interactive: a chunk's small tail must not wait for the peer's delayed ACK
            with contextlib.suppress(OSError, AttributeError):
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SPLICE_SEND_BUFFER)
            self.splice.session_connected(lambda data: self.send_stream(SPLICE_TYPE, data))
        self._flush()

    def _read(self) -> None:
        sock = self._sock
        # TLS hands over one record (16 KiB at most) per read: a larger buffer
        # would only be allocated and shrunk again every time.
        size = SPLICE_RECEIVE if self.splice is not None else \
            TLS_READ_SIZE if isinstance(sock, gevent.ssl.SSLSocket) else READ_SIZE
        unyielded = 0
        while self.state != "ended" and sock is self._sock:
            try:
                data = sock.recv(size)
            except OSError as exc:
                if sock is self._sock:  # else we dropped it ourselves
                    self._lost(f"connection error: {exc}")
                return
            if not data:
                if sock is self._sock:
                    self._lost("the peer closed the connection")
                return
            if self.trace is not None:
                self.trace("incoming", (data,))
            if not self._live.is_set():
                self._early.append(data)
                if sum(map(len, self._early)) >= EARLY_BYTES:
                    self._live.wait()  # before our start: TCP holds the peer back
            else:
                self._feed(data)
            unyielded += len(data)
            if unyielded >= YIELD_BYTES:
                # A fast peer keeps a read ready, and a ready read does not yield:
                # let the other greenlets (a chat session, the bus) in now and then.
                unyielded = 0
                gevent.sleep(0)

    def _feed_early(self) -> None:
        """What was read before `start`, in order, then the reader feeds on its own.

        Feeding may yield (a write waiting, a send): what the reader gets meanwhile
        queues behind, so the session sees the bytes in the order they came."""
        while self._early:
            early, self._early = self._early, []
            for data in early:
                self._feed(data)
        self._live.set()

    def _lost(self, reason: str) -> None:
        if self.state != "ended":
            self.end(reason, failed=True)

    def _feed(self, data: bytes) -> None:
        assert self.session is not None
        self._handle(self.session.receive(data, time.monotonic()))
        self._flush()

    def _flush(self, wait: bool = False) -> None:
        session, sock = self.session, self._sock
        if session is None or sock is None or self.state != "connected":
            return
        # One writer at a time; another caller's message is in the session
        # already and the writer takes it (no waiting behind a whole file),
        # unless the caller `wait`s until it is written (a splice's backpressure).
        if not self._write_lock.acquire(blocking=wait):
            return
        try:
            while True:
                if self._sending:
                    self._supply_files()
                out = session.outgoing(time.monotonic())
                if not out:
                    return
                try:
                    send_parts(sock, out)
                except OSError as exc:
                    gevent.spawn(self._lost, f"connection error: {exc}")
                    return
                if self.trace is not None:
                    self.trace("outgoing", out)
                if self._sending:
                    # A file goes on in a greenlet of its own: the caller may be the
                    # reader, which must go on reading (the responses to the chunks:
                    # unread while a whole file went, they timed out after 30 s).
                    current = gevent.getcurrent()
                    if current is not self._writer:
                        if self._writer is None or self._writer.dead:
                            self._writer = gevent.spawn(self._flush)
                            self._greenlets.append(self._writer)
                        return
                    gevent.sleep(0)  # a file on a fast link must not starve the loop
        finally:
            self._write_lock.release()

    def _supply_files(self) -> None:
        assert self.session is not None
        for message_id in self.session.wants_data():
            outgoing = self._sending.get(message_id)
            if outgoing is None:
                continue
            try:
                data, last = outgoing.read(self.session.chunk_size)
            except (OSError, TransferError) as exc:
                if self._sending.get(message_id) is not outgoing:
                    continue  # dropped while it read (failed, ended): told already
                self.session.abort(message_id)
                self._drop_outgoing(message_id)
                self._messages.pop(message_id, None)
                self._emit("message_failed", {"message_id": message_id, "code": 0,
                                              "reason": f"cannot read the file: {exc}"})
                continue
            if self._sending.get(message_id) is not outgoing:
                continue  # dropped while it read: nothing more of it goes
            self.session.supply(message_id, data, final=last)
            if outgoing.progress.due(last):
                self._emit("file_progress", {"message_id": message_id,
                                             "transferred": outgoing.supplied,
                                             "total": outgoing.size})
            if last:
                self._drop_outgoing(message_id)

    def _drop_outgoing(self, message_id: str) -> None:
        outgoing = self._sending.pop(message_id, None)
        if outgoing is not None:
            outgoing.close()

    def _write_auth(self, request: MSRPRequest) -> None:
        """An AUTH of our own to the relay, between the session's chunks."""
        sock, session = self._sock, self.session
        if sock is None or session is None:
            return
        session.expect_response(request.transaction_id)
        with self._write_lock:
            try:
                sock.sendall(bytes(request))
            except OSError as exc:
                gevent.spawn(self._lost, f"connection error: {exc}")
                return
        if self.trace is not None:
            self.trace("outgoing", (bytes(request),))

    def _relay_answer(self, event: ResponseUnmatched) -> None:
        """The relay's response to a refresh AUTH (others are stray: ignored)."""
        if self._relay_auth is None:
            return
        outcome = self._relay_auth.handle_response(event.response, time.monotonic())
        if isinstance(outcome, AuthRetry):
            self._write_auth(outcome.request)
        elif isinstance(outcome, AuthSucceeded):
            self._refresh_at = outcome.refresh_at
            log.info("%r: AUTH refreshed at the relay for %d s", self, outcome.expires)
        elif isinstance(outcome, AuthFailed):
            self.end(f"the relay refused the AUTH refresh: {outcome.reason}", failed=True)

    def _timer(self) -> None:
        while self.state != "ended":
            session = self.session
            assert session is not None
            deadline = session.next_deadline()
            now = time.monotonic()
            delay = TIMER_GRANULARITY if deadline is None else deadline - now
            gevent.sleep(max(0.0, min(delay, TIMER_GRANULARITY)))
            now = time.monotonic()
            if self.state == "starting" and not self.active \
                    and now - self._started_at > PASSIVE_TIMEOUT:
                self.end(f"the peer did not connect within {PASSIVE_TIMEOUT:.0f} s", failed=True)
                return
            if self.state == "connected":
                if self._refresh_at is not None and now >= self._refresh_at \
                        and self._relay_auth is not None:
                    self._refresh_at = None  # the answer sets the next one
                    self._write_auth(self._relay_auth.refresh())
                self._handle(session.tick(now))
                self._flush()

    # --- session events -----------------------------------------------------------

    def _handle(self, events: list[SessionEvent]) -> None:
        for event in events:
            if isinstance(event, IncomingData | MessageAborted) or (
                    isinstance(event, MessageReceived) and event.body is None):
                if self.splice is None:
                    self._receiving.handle(event)
                elif isinstance(event, IncomingData):
                    self.splice.incoming(event.message_id, event.offset, event.data)
                else:
                    self.splice.message_done(event.message_id)
            elif isinstance(event, MessageReceived):
                self._emit("message_received", {
                    "message_id": event.message_id, "content_type": event.content_type,
                    "body": event.body or b""})
            elif isinstance(event, MessageDelivered):
                # With Success-Report the REPORT is the delivery; the 200 only the next hop's.
                if self._messages.get(event.message_id) is False:
                    del self._messages[event.message_id]
                    self._emit("message_delivered", {"message_id": event.message_id,
                                                     "code": 200, "reason": "OK"})
            elif isinstance(event, ReportReceived):
                if event.message_id in self._messages:
                    del self._messages[event.message_id]
                    name = "message_delivered" if event.success else "message_failed"
                    self._emit(name, {"message_id": event.message_id, "code": event.status.code,
                                      "reason": event.status.comment or ""})
            elif isinstance(event, DeliveryFailed):
                self._drop_outgoing(event.message_id)
                if event.message_id in self._messages:
                    del self._messages[event.message_id]
                    self._emit("message_failed", {"message_id": event.message_id,
                                                  "code": event.code,
                                                  "reason": event.comment or ""})
                elif self.state != "ended":
                    # The binding or a keep-alive failed: the path is dead (msrplib closes too).
                    self.end(f"keep-alive failed: {event.code} {event.comment or ''}".strip(),
                             failed=True)
            elif isinstance(event, StreamBroken):
                self.end(f"MSRP stream broken: {event.reason}", failed=True)
            elif isinstance(event, NicknameRequested):
                self._emit("nickname_received", {"transaction_id": event.transaction_id,
                                                 "nickname": event.nickname})
            elif isinstance(event, NicknameAnswered):
                self._emit("nickname_answered", {"transaction_id": event.transaction_id,
                                                 "code": event.code,
                                                 "reason": event.comment or ""})
            elif isinstance(event, ResponseUnmatched):
                self._relay_answer(event)
            elif isinstance(event, RequestRejected):
                log.info("%r: rejected a request (%s): %s", self, event.code, event.reason)
