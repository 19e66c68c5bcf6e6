"""The ZAP handler of a service: answers libzmq's authentication requests.

libzmq asks it over ``inproc://zeromq.zap.01`` whenever a peer connects to a
socket with a ZAP domain (see `sipsimple.bus.auth`); the decision itself is
`sipsimple.bus.auth.authenticate`. It runs as a greenlet of the service, on a
plain zmq socket waited on through gevent like the command loop.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import gevent.socket
import zmq

from sipsimple.bus.auth import ZAP_ENDPOINT, authenticate

log = logging.getLogger("sipsimple.service.zap")


def bind_zap(context: zmq.Context[Any]) -> zmq.Socket[Any]:
    """The handler's socket; bound before any socket that needs it."""
    socket = context.socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(ZAP_ENDPOINT)
    return socket


def answer(request: list[bytes], keys: Path, service: str) -> list[bytes]:
    """The reply frames to one ZAP request (RFC 27)."""
    if len(request) < 6 or request[0] != b"1.0":
        version = request[0] if request else b"1.0"
        request_id = request[1] if len(request) > 1 else b""
        return [version, request_id, b"400", b"malformed ZAP request", b"", b""]
    _version, request_id, domain, address, _routing_id, mechanism, *credentials = request
    client, why = authenticate(domain, mechanism, credentials, keys)
    if client is None:
        log.warning(
            "%s: refused a %s connection from %s: %s",
            service, mechanism.decode(errors="replace"), address.decode(errors="replace") or "ipc",
            why,
        )
        return [b"1.0", request_id, b"400", why.encode(), b"", b""]
    return [b"1.0", request_id, b"200", b"OK", client.encode(), b""]


def serve_zap(socket: Any, keys: Path, service: str) -> None:
    fd = socket.getsockopt(zmq.FD)
    while True:
        try:
            request = socket.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            if not socket.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                with contextlib.suppress(TimeoutError):
                    gevent.socket.wait_read(fd, timeout=1.0)
            continue
        try:
            reply = answer(request, keys, service)
        except Exception:  # a bug here must not stop every future connection
            log.exception("%s: ZAP request failed", service)
            reply = [b"1.0", request[1] if len(request) > 1 else b"", b"500", b"error", b"", b""]
        socket.send_multipart(reply)
