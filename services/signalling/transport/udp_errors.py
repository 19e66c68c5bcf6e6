"""ICMP errors on the UDP socket: which destinations answered "unreachable" (Linux).

An unconnected UDP socket hears nothing of the ICMP port-unreachable that a
datagram to a dead port brings back, so a request there would only fail at
Timer B/F (32 s). With ``IP_RECVERR`` (``IPV6_RECVERR``) Linux queues each
error with the destination of the datagram that caused it; reading that
queue (``recvmsg`` with ``MSG_ERRQUEUE``) tells which destination to fail at
once, as RFC 3261 18.4 allows. Elsewhere `ErrorQueue.enable` returns None
and the timeout behaviour stays.

With the option on, the kernel also reports a queued error once as the
result of the next ``recvfrom`` or ``sendto`` on the socket, whatever its
destination (the send is then not made), and keeps the socket readable (an
error) until the queue is read: so every error of those calls must be
followed by `ErrorQueue.drain`, and a send whose error came from the queue
(`Drained.count` > 0, or an error in `PENDING`) is tried again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["PENDING", "Drained", "ErrorQueue", "Unreachable", "decode"]

# <linux/in.h>, <linux/in6.h>, <linux/errqueue.h>: Python does not name them all.
_IP_RECVERR = 11
_IPV6_RECVERR = 25
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
_ORIGIN_ICMP = 2
_ORIGIN_ICMP6 = 3
# struct sock_extended_err: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
_EXTENDED_ERR = struct.Struct("=IBBBBII")

REASONS = {
    errno.ECONNREFUSED: "port unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}
PENDING = frozenset(REASONS)


@dataclass(frozen=True)
class Unreachable:
    """A datagram to ``host``:``port`` came back as an ICMP error."""

    host: str
    port: int
    reason: str


@dataclass(frozen=True)
class Drained:
    """What one read of the queue found: how many errors, and the unreachable ones."""

    count: int
    unreachable: tuple[Unreachable, ...]


def decode(ancillary: list[tuple[int, int, bytes]], address: Any) -> Unreachable | None:
    """The error one ``MSG_ERRQUEUE`` read returned, when it says the destination is
    unreachable (other errors, e.g. "fragmentation needed", say nothing of the peer)."""
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    for level, kind, data in ancillary:
        if (level, kind) not in (
            (socket.IPPROTO_IP, _IP_RECVERR), (socket.IPPROTO_IPV6, _IPV6_RECVERR)
        ) or len(data) < _EXTENDED_ERR.size:
            continue
        code, origin = _EXTENDED_ERR.unpack_from(data)[:2]
        if origin in (_ORIGIN_ICMP, _ORIGIN_ICMP6) and code in REASONS:
            return Unreachable(str(address[0]), int(address[1]), REASONS[code])
    return None


class ErrorQueue:
    """The error queue of one UDP socket, read without blocking."""

    def __init__(self, sock: Any, family: socket.AddressFamily) -> None:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_RECVERR, 1)
        # A plain non-blocking socket on the same file: the gevent socket would
        # wait for the queue to fill instead of saying that it is empty.
        self._reader = socket.socket(fileno=os.dup(sock.fileno()))
        self._reader.setblocking(False)

    @classmethod
    def enable(cls, sock: Any, family: socket.AddressFamily) -> ErrorQueue | None:
        """Turn the error queue on for `sock`; None where the platform has none."""
        if not sys.platform.startswith("linux"):
            return None
        try:
            return cls(sock, family)
        except OSError:
            return None

    def drain(self, limit: int = 1024) -> Drained:
        """Empty the queue (at most `limit` errors): the unreachable destinations in it."""
        found: list[Unreachable] = []
        count = 0
        for _ in range(limit):
            try:
                _, ancillary, _, address = self._reader.recvmsg(0, 512, _MSG_ERRQUEUE)
            except OSError:  # BlockingIOError: empty
                break
            count += 1
            item = decode(ancillary, address)
            if item is not None and item not in found:
                found.append(item)
        return Drained(count, tuple(found))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.close()
