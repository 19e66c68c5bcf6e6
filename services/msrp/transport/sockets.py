"""What an MSRP connection does to its socket: TCP_NODELAY, and writes of many
parts in as few system calls (and TLS records) as they allow."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import gevent.ssl

__all__ = ["COALESCE_BYTES", "MAX_IOV", "no_delay", "send_parts"]

COALESCE_BYTES = 64 * 1024  # smaller writes of one flush go out joined (TLS)
MAX_IOV = 64  # parts per sendmsg (IOV_MAX is 1024 on Linux)


def no_delay(sock: Any) -> None:
    """TCP_NODELAY on an MSRP connection: Nagle's algorithm held the next small write
    (a response, a chunk's end-line) until the peer's delayed ACK, 40 ms later."""
    with contextlib.suppress(OSError):  # not TCP (a test's socketpair)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def send_parts(sock: Any, parts: list[bytes | memoryview]) -> None:
    """The parts in as few writes as they allow. A plain socket takes them in one
    `sendmsg` (a chunk's head, body and end-line: one system call, and no small
    segment of its own for the head); TLS has no sendmsg: small parts are joined up
    to `COALESCE_BYTES` (a chat message, responses and a chunk's head: one record
    each), a large one goes alone (a file's chunk is not copied)."""
    if not isinstance(sock, gevent.ssl.SSLSocket):
        _sendmsg(sock, parts)
        return
    run: list[bytes | memoryview] = []
    size = 0
    for part in parts:
        if run and size + len(part) > COALESCE_BYTES:
            sock.sendall(b"".join(run) if len(run) > 1 else run[0])
            run, size = [], 0
        run.append(part)
        size += len(part)
    if run:
        sock.sendall(b"".join(run) if len(run) > 1 else run[0])


def _sendmsg(sock: Any, parts: list[bytes | memoryview]) -> None:
    """Every part written, with as few `sendmsg` calls as the socket's buffer allows
    (one, unless it is full: then on from where the kernel stopped)."""
    views = [memoryview(part) for part in parts if len(part)]
    first = 0
    while first < len(views):
        sent = sock.sendmsg(views[first:first + MAX_IOV])
        while sent:
            size = views[first].nbytes
            if sent < size:
                views[first] = views[first][sent:]
                break
            sent -= size
            first += 1
