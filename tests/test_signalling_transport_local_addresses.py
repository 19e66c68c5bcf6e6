"""Which connections' local addresses the host no longer has: the rule (`stale`, `gone_after`)
and the probe (`address_gone`) against the host's real addresses.

An address really removed from an interface is the lab test's
(`tests/test_signalling_transport_lab.py`); here the probe meets addresses
the host has (loopback) and documentation addresses no host has.
"""

from __future__ import annotations

import errno

import pytest
from harness.loopback import ipv6_available

from sipsimple_services.signalling.transport.local_addresses import (
    address_gone,
    gone_after,
    stale,
)

needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="no IPv6")


def test_only_eaddrnotavail_means_gone() -> None:
    assert gone_after(OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"))
    assert not gone_after(None)  # the bind worked: the host has it
    for doubt in (errno.EACCES, errno.EADDRINUSE, errno.EAFNOSUPPORT, errno.EINVAL,
                  errno.ENOBUFS, errno.EMFILE):
        assert not gone_after(OSError(doubt, "doubt")), errno.errorcode[doubt]
    assert not gone_after(OSError("no errno at all"))


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.0.2",
                                pytest.param("::1", marks=needs_ipv6)])
def test_addresses_the_host_has_are_not_gone(ip: str) -> None:
    assert not address_gone(ip)


@pytest.mark.parametrize("ip", ["192.0.2.1", pytest.param("2001:db8::1", marks=needs_ipv6)])
def test_addresses_no_interface_has_are_gone(ip: str) -> None:
    assert address_gone(ip)  # RFC 5737 / RFC 3849 documentation addresses


@pytest.mark.parametrize("ip", ["fe80::1%no-such-interface9", "", "10.1.0.2\x00"])
def test_what_cannot_be_checked_is_kept(ip: str) -> None:
    assert not address_gone(ip)


def test_each_distinct_address_is_asked_once_and_unknown_ones_are_kept() -> None:
    asked: list[str] = []

    def gone(ip: str) -> bool:
        asked.append(ip)
        return ip in ("10.1.0.2", "2001:db8::2")

    connections = [(1, "10.1.0.2"), (2, "10.1.0.3"), (3, None), (4, "10.1.0.2"),
                   (5, "2001:db8::2"), (6, "10.1.0.3")]
    assert stale(connections, gone) == [(1, "10.1.0.2"), (4, "10.1.0.2"), (5, "2001:db8::2")]
    assert asked == ["10.1.0.2", "10.1.0.3", "2001:db8::2"]
    assert stale([], gone) == []
