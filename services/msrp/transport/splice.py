"""The TCP side of a desktop-sharing session: RFB bytes between a socket and MSRP.

A desktop-sharing stream (``application/x-rfb`` over MSRP) whose handler is an
external VNC viewer or server has its bytes moved here, inside the msrp
service, so that frame data never crosses the bus. A `Splice` belongs to one
`Endpoint`; once the MSRP session is connected it gets its TCP connection:

- ``viewer``: the one connection a VNC viewer makes to a socket we listen on
  (`listen`, made when the application creates its handler), accepted within
  ``timeout`` seconds of the MSRP connection; the listening socket closes then;
- ``server``: our connection to a running VNC server, made within ``timeout``.

Then what the socket gives goes out as MSRP SENDs (`send`, the endpoint's
`send_stream`, which returns once the bytes are written: a slow MSRP
connection slows the reading here, and nothing piles up), and what the
session streams in (`incoming`) is written to the socket in order, from the
endpoint's reader (a slow VNC peer slows the MSRP reading). Bytes that come
before the TCP connection is up (an RFB server's greeting) wait, up to
`MAX_EARLY` bytes.

What happens goes out through `emit` (the endpoint's, set as it is
attached): ``splice_connected`` ({address}: the peer's), ``splice_failed``
({context: ``connecting``, ``reading`` or ``sending``, reason}). A failure
closes the sockets; the MSRP session is the client's to end (its stream
fails). The session ending closes them too.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any

import gevent
import gevent.lock
import gevent.socket

__all__ = ["CONTENT_TYPE", "MAX_EARLY", "READ_SIZE", "RECEIVE_SIZE", "SEND_BUFFER", "Splice",
           "listen"]

log = logging.getLogger("sipsimple.msrp.splice")

CONTENT_TYPE = "application/x-rfb"
# Bytes per read of the TCP side, sent as one MSRP message in one chunk (the spliced
# session's chunk size): few, large chunks for screen updates of megabytes, yet a
# message a receiver that keeps messages whole takes (ours over the bus: < 1 MiB).
READ_SIZE = 512 * 1024
RECEIVE_SIZE = 1024 * 1024  # bytes per read of the spliced session's MSRP connection
MAX_EARLY = 1024 * 1024  # bytes from MSRP held until the VNC connection is up
# The send buffer of both TCP legs a splice writes (this socket, and the spliced
# session's MSRP connection): screen updates of megabytes queue in the kernel while
# the next stage waits for a core (the shared machine of bench/desktop_sharing.py),
# instead of holding up the stage before it (Linux caps it at net.core.wmem_max).
SEND_BUFFER = 4 * 1024 * 1024

Emit = Callable[[str, dict[str, Any]], None]
Send = Callable[[bytes], None]


def listen(host: str, port: int) -> Any:
    """A listening socket (backlog 1) for one VNC viewer; OSError if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    infos = gevent.socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if infos:
        family = infos[0][0]
    sock = gevent.socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(infos[0][4] if infos else (host, port))
        sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


class Splice:
    def __init__(self, mode: str, timeout: float, *,
                 listener: Any = None, target: tuple[str, int] | None = None) -> None:
        if (listener is None) if mode == "viewer" else (mode != "server" or target is None):
            raise ValueError(f"a {mode} splice needs a listener (viewer) or a target (server)")
        self.mode = mode
        self.emit: Emit = lambda what, data: None  # the endpoint's (attach_splice)
        self._timeout = timeout
        self._listener = listener
        self._target = target
        self._send: Send | None = None
        self._sock: Any = None
        self._early: list[bytes] = []
        self._early_size = 0
        self._write_lock = gevent.lock.Semaphore()
        self._greenlets: list[gevent.Greenlet] = []
        self._expected: dict[str, int] = {}  # message id -> the next offset in order
        self.state = "waiting"  # waiting, connecting, connected, closed

    def __repr__(self) -> str:
        return f"<Splice {self.mode} {self.state}>"

    # --- the endpoint's calls ---------------------------------------------------------

    def session_connected(self, send: Send) -> None:
        """The MSRP session is up: get the TCP connection (in a greenlet of its own)."""
        if self.state != "waiting":
            return
        self._send, self.state = send, "connecting"
        self._greenlets.append(gevent.spawn(self._connect))

    def incoming(self, message_id: str, offset: int, data: memoryview | bytes) -> None:
        """RFB bytes of a streamed message from the peer, at `offset` in it."""
        if self.state == "closed":
            return
        expected = self._expected.get(message_id, 0)
        if offset != expected:
            self.fail("reading", f"RFB data out of order (offset {offset}, expected {expected})")
            return
        self._expected[message_id] = offset + len(data)
        if self._sock is None:
            self._early_size += len(data)
            if self._early_size > MAX_EARLY:
                self.fail("sending", f"more than {MAX_EARLY} bytes came before the VNC "
                                     "connection was up")
                return
            self._early.append(bytes(data))
            return
        self._write(data)

    def message_done(self, message_id: str) -> None:
        """A streamed message completed or was aborted: its offsets are forgotten."""
        self._expected.pop(message_id, None)

    def close(self) -> None:
        """Close both sockets, without an event (the session ended, or the splice failed)."""
        if self.state == "closed":
            return
        self.state = "closed"
        for sock in (self._listener, self._sock):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._listener = self._sock = None
        self._early.clear()
        current = gevent.getcurrent()
        for greenlet in self._greenlets:
            if greenlet is not current:
                greenlet.kill(block=False)

    def fail(self, context: str, reason: str) -> None:
        if self.state == "closed":
            return
        log.info("%r: %s: %s", self, context, reason)
        self.close()
        self.emit("splice_failed", {"context": context, "reason": reason})

    # --- the TCP side ------------------------------------------------------------------

    def _connect(self) -> None:
        try:
            if self.mode == "viewer":
                sock = self._accept()
            else:
                assert self._target is not None
                sock = gevent.socket.create_connection(self._target, timeout=self._timeout)
        except (OSError, gevent.Timeout) as exc:
            reason = _describe(exc)
            if self.mode == "viewer":
                reason = f"no VNC viewer connected: {reason}"
            else:
                host, port = self._target or ("?", 0)
                reason = f"cannot connect to the VNC server at {host}:{port}: {reason}"
            self.fail("connecting", reason)
            return
        if self.state == "closed":
            sock.close()
            return
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        peer = sock.getpeername()
        with self._write_lock:
            self._sock, self.state = sock, "connected"
            early, self._early = self._early, []
            try:
                for data in early:
                    sock.sendall(data)
            except OSError as exc:
                gevent.spawn(self.fail, "sending", _describe(exc))
                return
        self.emit("splice_connected", {"address": [str(peer[0]), int(peer[1])]})
        self._read()

    def _accept(self) -> Any:
        listener = self._listener
        listener.settimeout(self._timeout)
        sock, _ = listener.accept()
        self._listener = None
        listener.close()  # one viewer only
        return sock

    def _read(self) -> None:
        sock, send = self._sock, self._send
        assert send is not None
        while self.state == "connected":
            try:
                data = sock.recv(READ_SIZE)
            except OSError as exc:
                self.fail("reading", _describe(exc))
                return
            if not data:
                who = "VNC viewer" if self.mode == "viewer" else "VNC server"
                self.fail("reading", f"the {who} closed the connection")
                return
            try:
                send(data)
            except (RuntimeError, ValueError) as exc:  # the session ended meanwhile
                self.fail("sending", str(exc))
                return

    def _write(self, data: memoryview | bytes) -> None:
        with self._write_lock:
            sock = self._sock
            if sock is None:
                return
            try:
                sock.sendall(data)
            except OSError as exc:
                # not in the endpoint's reader: fail() closes what it may be reading
                gevent.spawn(self.fail, "sending", _describe(exc))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, gevent.Timeout | socket.timeout | TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
