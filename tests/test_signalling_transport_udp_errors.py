"""udp_errors: decoding the kernel's error queue entries, and reading it on real sockets."""

from __future__ import annotations

import errno
import select
import socket
import struct
import sys

import pytest
from harness.loopback import HOSTS
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.signalling.transport.udp_errors import (
    Drained,
    ErrorQueue,
    Unreachable,
    decode,
)

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")


def extended_error(code: int, origin: int, kind: int = 3, icmp_code: int = 3) -> bytes:
    # struct sock_extended_err, then the offender's address (ignored)
    return struct.pack("=IBBBBII", code, origin, kind, icmp_code, 0, 0, 0) + b"\0" * 16


@pytest.mark.parametrize(
    ("ancillary", "address", "expected"),
    [
        ([(socket.IPPROTO_IP, 11, extended_error(errno.ECONNREFUSED, 2))], ("10.0.0.1", 5060),
         Unreachable("10.0.0.1", 5060, "port unreachable")),
        ([(socket.IPPROTO_IPV6, 25, extended_error(errno.EHOSTUNREACH, 3, 1, 3))],
         ("::1", 5062, 0, 0), Unreachable("::1", 5062, "host unreachable")),
        ([(socket.IPPROTO_IP, 11, extended_error(errno.ENETUNREACH, 2, 3, 0))], ("10.0.0.1", 9),
         Unreachable("10.0.0.1", 9, "network unreachable")),
        # "fragmentation needed" says nothing of the peer; a local error neither
        ([(socket.IPPROTO_IP, 11, extended_error(errno.EMSGSIZE, 2, 3, 4))], ("10.0.0.1", 9),
         None),
        ([(socket.IPPROTO_IP, 11, extended_error(errno.ECONNREFUSED, 1))], ("10.0.0.1", 9), None),
        # truncated or foreign control messages, no address
        ([(socket.IPPROTO_IP, 11, b"\x6f\0\0")], ("10.0.0.1", 9), None),
        ([(socket.SOL_SOCKET, 11, extended_error(errno.ECONNREFUSED, 2))], ("10.0.0.1", 9), None),
        ([(socket.IPPROTO_IP, 11, extended_error(errno.ECONNREFUSED, 2))], None, None),
        ([], ("10.0.0.1", 9), None),
    ],
)
def test_decode(ancillary: list[tuple[int, int, bytes]], address: object,
                expected: Unreachable | None) -> None:
    assert decode(ancillary, address) == expected


@linux
@pytest.mark.parametrize("host", HOSTS)
def test_the_queue_names_the_dead_destination(host: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as closed:
        closed.bind((host, 0))
        dead = closed.getsockname()[1]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        queue = ErrorQueue.enable(sock, family)
        assert queue is not None
        try:
            assert queue.drain() == Drained(0, ())  # empty: says so at once
            sock.sendto(b"ping", (host, dead))
            poller = select.poll()
            poller.register(sock, select.POLLIN)  # an error wakes it up too (POLLERR)
            assert poller.poll(10_000), "no ICMP error queued"
            assert queue.drain() == Drained(1, (Unreachable(host, dead, "port unreachable"),))
            assert queue.drain() == Drained(0, ())
        finally:
            queue.close()


@given(
    st.lists(st.tuples(st.sampled_from([socket.IPPROTO_IP, socket.IPPROTO_IPV6, 1]),
                       st.integers(0, 30), st.binary(max_size=40)), max_size=3),
    st.one_of(st.none(), st.tuples(st.text(max_size=10), st.integers(0, 65535))),
)
def test_decode_never_raises(ancillary: list[tuple[int, int, bytes]], address: object) -> None:
    found = decode(ancillary, address)
    assert found is None or found.reason in ("port unreachable", "host unreachable",
                                             "network unreachable")
