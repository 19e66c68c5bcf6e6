"""The TCP listener all sessions of one local address share (RFC 4975 section 6).

A new connection is read up to the head of its first request; the session its
first To-Path URI names (by session id, checked with `MSRPURI.matches`) takes
the connection and every byte read so far, if the last From-Path URI has the
session id of the peer's a=path (`Endpoint.attach`). A connection that names no
session of ours, that sends garbage first or nothing for `FIRST_REQUEST_TIMEOUT`
is closed with a log line; it never disturbs the other sessions.
A TLS listener (``msrps``) first completes the handshake, within
`HANDSHAKE_TIMEOUT`; a failed handshake closes the connection with a log line.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from typing import Any, Protocol

import gevent
import gevent.pool
import gevent.socket
from gevent.server import StreamServer

from sipsimple_services.msrp.protocol.parser import (
    ParseFailure,
    RequestStarted,
    ResponseReceived,
    StreamParser,
)
from sipsimple_services.msrp.protocol.uri import MSRPURI
from sipsimple_services.msrp.transport.sockets import no_delay
from sipsimple_services.msrp.transport.tls import HANDSHAKE_TIMEOUT, describe_tls_error

__all__ = ["FIRST_REQUEST_TIMEOUT", "Listener"]

log = logging.getLogger("sipsimple.msrp.listener")

FIRST_REQUEST_TIMEOUT = 30.0  # msrplib's binding timeout
# Connections served at once per listener (each is a greenlet, until it ends):
# past it the listener stops accepting until one ends, whatever a flood sends.
MAX_CONNECTIONS = 10_000
READ_SIZE = 65536


class Attachable(Protocol):
    local_uri: MSRPURI

    def attach(self, sock: Any, data: bytes, peer: MSRPURI | None) -> bool: ...


class Listener:
    """One listening socket; `lookup(session_id)` finds the session a connection binds to."""

    def __init__(self, address: str, port: int,
                 lookup: Callable[[str], Attachable | None],
                 tls: ssl.SSLContext | None = None) -> None:
        self._lookup = lookup
        self.tls = tls
        self._server = StreamServer((address, port), self._handle,
                                    spawn=gevent.pool.Pool(MAX_CONNECTIONS))
        self._server.start()
        self.address = address
        self.port = int(self._server.address[1])

    def close(self) -> None:
        self._server.stop(timeout=1)

    def _handle(self, sock: Any, peer: Any) -> None:
        no_delay(sock)
        if self.tls is not None:
            sock = _handshake(self.tls, sock, peer)
            if sock is None:
                return
        try:
            data, request = _first_request(sock)
        except (OSError, TimeoutError, gevent.Timeout) as exc:
            log.info("connection from %s closed before a request: %s", peer, exc)
            sock.close()
            return
        if request is None:
            log.warning("connection from %s closed: its first bytes are no MSRP request", peer)
            sock.close()
            return
        to_path = request.request.to_path
        endpoint = self._lookup(to_path[0].session_id or "") if to_path else None
        if endpoint is None or not to_path[0].matches(endpoint.local_uri):
            log.warning("connection from %s closed: no session %s here", peer,
                        to_path[0] if to_path else None)
            sock.close()
            return
        from_path = request.request.from_path
        # The endpoint reads the connection from now on, in this greenlet.
        if not endpoint.attach(sock, data, from_path[-1] if from_path else None):
            log.warning("connection from %s closed: session %s refused it (taken, or "
                        "another peer)", peer, endpoint.local_uri)
            sock.close()


def _handshake(context: ssl.SSLContext, sock: Any, peer: Any) -> Any:
    """The TLS socket once the handshake is done, or None (closed, logged)."""
    try:
        with gevent.Timeout(HANDSHAKE_TIMEOUT):
            return context.wrap_socket(sock, server_side=True)
    except (OSError, gevent.Timeout) as exc:  # ssl.SSLError is an OSError
        reason = describe_tls_error(exc) if isinstance(exc, ssl.SSLError) else str(exc) or \
            "no handshake in time"
        log.warning("TLS connection from %s closed: %s", peer, reason)
        sock.close()
        return None


def _first_request(sock: Any) -> tuple[bytes, RequestStarted | None]:
    """The bytes read until the first request's head parsed, and that head (None: garbage)."""
    parser = StreamParser()
    received = bytearray()
    with gevent.Timeout(FIRST_REQUEST_TIMEOUT):
        while True:
            chunk = sock.recv(READ_SIZE)
            if not chunk:
                raise OSError("the peer closed the connection")
            received += chunk
            for event in parser.feed(chunk):
                if isinstance(event, RequestStarted):
                    return bytes(received), event
                if isinstance(event, (ParseFailure, ResponseReceived)):
                    return bytes(received), None
