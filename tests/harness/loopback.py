"""Loopback hosts to parametrize transport tests with, a minimal request to send,
whether a peer closed a connection, and free ports."""

from __future__ import annotations

import itertools
import socket

import pytest


def peer_closed(sock: socket.socket) -> bool:
    """Whether the other end closed the connection `sock` (nothing is read: a peek
    that must not wait, so this works on blocking and gevent sockets alike)."""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


def free_tcp_udp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (picked by the kernel)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free UDP+TCP port")


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


HOSTS = [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not ipv6_available(), reason="no IPv6")),
]
_branches = itertools.count(1)


def request_bytes(
    transport: str,
    host: str,
    port: int,
    *,
    rport: bool = False,
    method: str = "OPTIONS",
    extra: str = "",
    body: str = "",
) -> bytes:
    """A valid request whose top Via names `host:port` over `transport`, a new branch each time."""
    sent_by = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    params = ";rport" if rport else ""
    return (
        f"{method} sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {sent_by}{params};branch=z9hG4bK{next(_branches)}\r\n"
        "Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
        "From: <sip:alice@example.com>;tag=1\r\nCall-ID: c1@example.com\r\n"
        f"CSeq: 1 {method}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
