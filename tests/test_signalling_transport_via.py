"""Pure Via rules of the transport layer: received/rport stamping and 18.2.2 destinations."""

from __future__ import annotations

import pytest

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.transport import (
    TransportAddress,
    response_destination,
    stamp_received,
)
from sipsimple_services.signalling.transport.via import same_ip


def request(via: str) -> SIPRequest:
    message = parse_message(
        (
            "OPTIONS sip:bob@example.com SIP/2.0\r\n"
            f"Via: {via}\r\n"
            "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKproxy\r\n"
            "Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
            "From: <sip:alice@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SIPRequest)
    return message


def top(message: SIPRequest | SIPResponse) -> str:
    via = message.top_via
    assert via is not None
    return str(via)


@pytest.mark.parametrize(
    "via, source, expected",
    [
        # Same address, no rport: unchanged.
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", ("10.0.0.1", 5060),
         "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1"),
        # Another address: received (RFC 3261 18.2.1).
        ("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", ("192.0.2.7", 5060),
         "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=192.0.2.7"),
        # A host name: received.
        ("SIP/2.0/TCP pc.example.com;branch=z9hG4bK1", ("10.0.0.1", 40000),
         "SIP/2.0/TCP pc.example.com;branch=z9hG4bK1;received=10.0.0.1"),
        # rport: filled in, and received always (RFC 3581 section 4).
        ("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1", ("10.0.0.1", 6000),
         "SIP/2.0/UDP 10.0.0.1:5060;rport=6000;branch=z9hG4bK1;received=10.0.0.1"),
        ("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport", ("198.51.100.2", 1024),
         "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=1024;received=198.51.100.2"),
        # IPv6: textual forms compare as addresses; received carries no brackets.
        ("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1", ("2001:db8:0::1", 5060),
         "SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1"),
        ("SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;rport", ("2001:db8::2", 7000),
         "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1;rport=7000;received=[2001:db8::2]"),
        # An IPv4-mapped source (dual-stack socket) is written as IPv4.
        ("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", ("::ffff:192.0.2.9", 5060),
         "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;received=192.0.2.9"),
    ],
)
def test_stamp_received(via: str, source: tuple[str, int], expected: str) -> None:
    original = request(via)
    stamped = stamp_received(original, TransportAddress(*source))
    assert top(stamped) == expected
    # Only the top Via changes; the stamped message still serializes and parses.
    assert [str(v) for v in stamped.via[1:]] == [str(v) for v in original.via[1:]]
    assert top(parse_message(bytes(stamped))) == expected  # type: ignore[arg-type]
    if expected == via:
        assert stamped is original


def test_stamp_without_via_is_a_no_op() -> None:
    bare = SIPRequest("OPTIONS", request("SIP/2.0/UDP h;branch=z9hG4bK1").uri)
    assert stamp_received(bare, TransportAddress("10.0.0.1", 1)) is bare


def response_to(via: str) -> SIPResponse:
    return make_response(request(via), 200, to_tag="t")


@pytest.mark.parametrize(
    "via, expected",
    [
        # Unreliable: received + rport (RFC 3581), received + sent-by port, maddr, sent-by.
        ("SIP/2.0/UDP 10.0.0.1:5070;rport=6000;received=192.0.2.1;branch=z9hG4bK1",
         ("192.0.2.1", 6000, "UDP")),
        ("SIP/2.0/UDP 10.0.0.1:5070;received=192.0.2.1;branch=z9hG4bK1",
         ("192.0.2.1", 5070, "UDP")),
        ("SIP/2.0/UDP 10.0.0.1;received=192.0.2.1;branch=z9hG4bK1", ("192.0.2.1", 5060, "UDP")),
        ("SIP/2.0/UDP 10.0.0.1:5070;maddr=239.255.255.1;ttl=1;branch=z9hG4bK1",
         ("239.255.255.1", 5070, "UDP")),
        ("SIP/2.0/UDP pc.example.com;branch=z9hG4bK1", ("pc.example.com", 5060, "UDP")),
        ("SIP/2.0/UDP [2001:db8::1]:5080;branch=z9hG4bK1", ("2001:db8::1", 5080, "UDP")),
        ("SIP/2.0/UDP [2001:db8::1]:5080;received=[2001:db8::2];rport=9;branch=z9hG4bK1",
         ("2001:db8::2", 9, "UDP")),
        # Reliable: received (or sent-by) at the sent-by port; rport does not apply.
        ("SIP/2.0/TCP 10.0.0.1:5070;rport=6000;received=192.0.2.1;branch=z9hG4bK1",
         ("192.0.2.1", 5070, "TCP")),
        ("SIP/2.0/TLS pc.example.com;branch=z9hG4bK1", ("pc.example.com", 5061, "TLS")),
    ],
)
def test_response_destination(via: str, expected: tuple[str, int, str]) -> None:
    assert response_destination(response_to(via)) == TransportAddress(*expected)


def test_response_destination_needs_a_via() -> None:
    with pytest.raises(SIPParseError):
        response_destination(SIPResponse(200, "OK"))


def test_transport_address() -> None:
    address = TransportAddress("[::1]", 5060, "tls")
    assert (address.host, address.transport, address.reliable) == ("::1", "TLS", True)
    assert str(address) == "tls:[::1]:5060"
    assert same_ip("::1", "0:0::1") and not same_ip("host", "host")
