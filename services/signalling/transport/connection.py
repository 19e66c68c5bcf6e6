"""One TCP or TLS connection: a reader greenlet around `StreamParser`, and locked writes.

`BufferBudget` is shared by a manager's connections: the bytes their parsers
hold (partial messages), bounded as a whole.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.lock

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.parser import (
    KeepAlive,
    Limits,
    ParseFailure,
    StreamParser,
)
from sipsimple_services.signalling.sip.message.values import (
    PartialMessage,
    SIPMessage,
    reject_malformed,
)
from sipsimple_services.signalling.transport.types import TransportAddress, TransportError

__all__ = ["READ_SIZE", "BufferBudget", "Connection", "error_response"]

log = logging.getLogger("sipsimple_services.signalling.transport")

READ_SIZE = 65536
PING = b"\r\n\r\n"
PONG = b"\r\n"


def error_response(error: SIPParseError) -> bytes | None:
    """The 400 (or 505) a parse error allows, serialized; None when it cannot be built
    (a response, an ACK, or no Via/From/To/Call-ID/CSeq to copy: only then is it dropped)."""
    partial = error.partial
    if not isinstance(partial, PartialMessage) or not partial.can_respond:
        return None
    try:
        # a new To tag, as for any stateless final answer (RFC 3261 8.2.6.2)
        return bytes(reject_malformed(partial, error.status, str(error), secrets.token_hex(6)))
    except (SIPParseError, ValueError):
        return None


class BufferBudget:
    """The bytes held by the stream parsers of one manager, against ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def change(self, delta: int) -> bool:
        """Account for `delta` more (or fewer) bytes; False when over the limit."""
        self.used += delta
        return self.used <= self.limit


def _local_ip(sock: Any) -> str | None:
    try:
        return str(sock.getsockname()[0])
    except (OSError, IndexError, TypeError):  # already reset, or not an IP socket
        return None


class Connection:
    """A stream to one peer, inbound (accepted) or outbound (connected by us).

    ``message_started`` is when the message now being received began (None
    between messages): the manager's deadline for finishing it.

    ``local_ip`` is the address our end is bound to (None if the socket could
    not tell): the manager closes the connection once the host no longer has it.

    ``deliver(message, connection)`` receives every parsed message and
    ``closed(connection, reason)`` is called once when it ends.
    """

    def __init__(
        self,
        connection_id: int,
        sock: Any,
        remote: TransportAddress,
        *,
        outbound: bool,
        limits: Limits,
        deliver: Callable[[SIPMessage, Connection], None],
        closed: Callable[[Connection, str], None],
        server_name: str = "",
        budget: BufferBudget | None = None,
    ) -> None:
        self.id = connection_id
        self.sock = sock
        self.remote = remote
        self.outbound = outbound
        self.server_name = server_name
        self.local_ip = _local_ip(sock)
        self.parser = StreamParser(limits)
        self._deliver = deliver
        self._closed = closed
        self._lock = gevent.lock.Semaphore()
        # Traffic that proves the connection in use: messages sent, and received
        # (any data on our own connections; whole messages only on a peer's, so
        # that its keep-alives alone do not hold it open). Pings and pongs we
        # send do not count, or a dead peer would never time out.
        self.last_activity = self.last_ping = time.monotonic()
        self.message_started: float | None = None
        self._budget = budget
        self._held = 0  # what this connection counts in the budget
        self.is_closed = False
        self._reader: gevent.Greenlet | None = None

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.remote.transport, self.remote.host, self.remote.port, self.server_name)

    def start(self) -> None:
        self._reader = gevent.spawn(self._read_loop)

    def send(self, data: bytes, *, ping: bool = False) -> None:
        if self.is_closed:
            raise TransportError(self.remote, "connection closed")
        try:
            with self._lock:  # concurrent senders must not interleave partial writes
                self.sock.sendall(data)
        except OSError as exc:
            self.close(f"send failed: {exc}")
            raise TransportError(self.remote, f"send failed: {exc}") from None
        if ping:
            self.last_ping = time.monotonic()
        else:
            self.last_activity = time.monotonic()

    def close(self, reason: str) -> None:
        if self.is_closed:
            return
        self.is_closed = True
        self._account(0)
        with contextlib.suppress(OSError):
            self.sock.close()
        reader = self._reader
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=False)
        self._closed(self, reason)

    def _read_loop(self) -> None:
        reason = "closed by peer"
        try:
            while not self.is_closed:
                data = self.sock.recv(READ_SIZE)
                if not data:
                    break
                if not self._handle(data):
                    reason = "parse error"
                    break
                if not self._account(self.parser.buffered):
                    reason = "too many bytes buffered (all connections)"
                    log.warning("closing the connection with %s: partial messages over the "
                                "buffer budget of %d bytes", self.remote, self._budget_limit)
                    break
        except OSError as exc:  # ssl.SSLError included
            reason = f"read failed: {exc}"
        self.close(reason)

    @property
    def _budget_limit(self) -> int:
        return self._budget.limit if self._budget is not None else 0

    def _account(self, held: int) -> bool:
        """Hold `held` bytes in the budget; False when that takes it past its limit."""
        delta, self._held = held - self._held, held
        if self._budget is None:
            return True
        within = self._budget.change(delta)
        return within or held == 0

    def _handle(self, data: bytes) -> bool:
        """Feed the parser and act on its events; False when the stream must be closed."""
        events = self.parser.feed(data)
        now = time.monotonic()
        completed = any(isinstance(event, SIPMessage) for event in events)
        if not self.parser.in_message:
            self.message_started = None
        elif self.message_started is None or completed:
            self.message_started = now  # a new message began
        if self.outbound or completed:
            self.last_activity = now
        for event in events:
            if isinstance(event, KeepAlive):
                if event.ping:
                    self._try_send(PONG, keepalive=True)  # no activity: see last_activity
            elif isinstance(event, ParseFailure):
                log.warning(
                    "%s from %s: %s%s", "bad stream" if event.fatal else "bad message",
                    self.remote, event.error, ", closing" if event.fatal else "",
                )
                answer = error_response(event.error)
                if answer is not None:
                    self._try_send(answer)
                if event.fatal:
                    return False
            else:
                self._deliver(event, self)
        return True

    def _try_send(self, data: bytes, *, keepalive: bool = False) -> None:
        try:
            self.send(data, ping=keepalive)
        except TransportError as exc:
            log.info("could not answer %s: %s", self.remote, exc.reason)
