"""Destination and the response address of RFC 3261 18.2.2 / RFC 3581."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.addresses import Destination, response_destination
from sipsimple_services.signalling.sip.message.values import SIPRequest


def test_destination_value() -> None:
    d = Destination("192.0.2.1", 5060, "udp")
    assert d.transport == "UDP" and not d.reliable
    assert Destination("::1", 5061, "tls").reliable
    assert str(Destination("::1", 5061, "TLS")) == "TLS:[::1]:5061"
    assert d == Destination("192.0.2.1", 5060)
    assert len({d, Destination("192.0.2.1", 5060, "UDP")}) == 1
    # the TLS name is the request's business, not the address's: a lost connection
    # fails every transaction to that address, whatever name each verified
    named = Destination("192.0.2.1", 5061, "TLS", tls_name="sip.test")
    assert named == Destination("192.0.2.1", 5061, "TLS") and named.tls_name == "sip.test"


@pytest.mark.parametrize(
    "args", [("", 5060), ("h", 0), ("h", 65536), ("h", True), ("h", 5060, ""), (None, 1)]
)
def test_destination_rejects_junk(args: tuple) -> None:
    with pytest.raises(ValueError):
        Destination(*args)


def options(via: h.ViaHeader) -> SIPRequest:
    return SIPRequest("OPTIONS", SIPURI("example.com"), (via, h.CSeqHeader(1, "OPTIONS")))


@pytest.mark.parametrize(
    ("via", "source", "expected"),
    [
        # UDP: source address, port from sent-by (default 5060)
        (h.ViaHeader("UDP", "pc.example.com", 5070), Destination("198.51.100.1", 3333),
         Destination("198.51.100.1", 5070)),
        (h.ViaHeader("UDP", "pc.example.com"), Destination("198.51.100.1", 3333),
         Destination("198.51.100.1", 5060)),
        # rport: back to the source port (RFC 3581)
        (h.ViaHeader("UDP", "10.0.0.1", 5060, {"rport": None}),
         Destination("198.51.100.1", 3333), Destination("198.51.100.1", 3333)),
        # maddr wins
        (h.ViaHeader("UDP", "10.0.0.1", 5080, {"maddr": "239.1.1.1"}),
         Destination("198.51.100.1", 3333), Destination("239.1.1.1", 5080)),
        # reliable: the connection it came on
        (h.ViaHeader("TCP", "10.0.0.1", 5060), Destination("198.51.100.1", 3333, "TCP"),
         Destination("198.51.100.1", 3333, "TCP")),
        (h.ViaHeader("TLS", "10.0.0.1"), Destination("198.51.100.1", 3333, "TLS"),
         Destination("198.51.100.1", 3333, "TLS")),
    ],
)
def test_response_destination(
    via: h.ViaHeader, source: Destination, expected: Destination
) -> None:
    assert response_destination(options(via), source) == expected


def test_response_destination_without_via_is_the_source() -> None:
    request = options(h.ViaHeader("UDP", "10.0.0.1"))
    bare = replace(request, headers=request.headers[1:])
    source = Destination("198.51.100.1", 3333)
    assert response_destination(bare, source) == source
