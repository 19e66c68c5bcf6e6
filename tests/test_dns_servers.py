"""sipsimple_services.dns.servers: MSRP relay, STUN and XCAP lookups on a fake zone."""

from __future__ import annotations

import random

import pytest
from harness.dnszone import FakeZone

from sipsimple.core import SIPURI, Route
from sipsimple_services.dns.records import TXT
from sipsimple_services.dns.resolution import InvalidInput, NoRecords, ResolutionTimeout
from sipsimple_services.dns.servers import (
    resolve_msrp_relay,
    resolve_stun_server,
    resolve_xcap_server,
)


def uri(text: str) -> SIPURI:
    return SIPURI.parse(text)


def test_msrp_relay_srv() -> None:
    zone = FakeZone().srv("_msrps._tcp.example.com", (0, 0, 2856, "relay.example.com"))
    zone.a("relay.example.com", "192.0.2.6", "2001:db8::6")
    assert resolve_msrp_relay(uri("sip:alice@example.com"), zone, rng=random.Random(0)) == [
        Route("192.0.2.6", 2856, "tls", "example.com"),
        Route("2001:db8::6", 2856, "tls", "example.com"),
    ]


def test_msrp_relay_falls_back_to_addresses_on_2855() -> None:
    zone = FakeZone().a("example.com", "192.0.2.7")
    assert resolve_msrp_relay(uri("sip:example.com"), zone) == [
        Route("192.0.2.7", 2855, "tls", "example.com")
    ]


def test_msrp_relay_over_tcp() -> None:
    zone = FakeZone().srv("_msrp._tcp.example.com", (0, 0, 2857, "relay.example.com"))
    zone.srv("_msrps._tcp.example.com", (0, 0, 2856, "tls-relay.example.com"))
    zone.a("relay.example.com", "192.0.2.6").a("example.com", "192.0.2.7")
    assert resolve_msrp_relay(uri("sip:example.com"), zone, transport="tcp") == [
        Route("192.0.2.6", 2857, "tcp", None)
    ]
    assert ("_msrps._tcp.example.com", "SRV") not in zone.queries
    assert resolve_msrp_relay(uri("sip:example.org"), FakeZone().a("example.org", "192.0.2.8"),
                              transport="tcp") == [Route("192.0.2.8", 2855, "tcp", None)]
    assert resolve_msrp_relay(uri("sip:192.0.2.9:2999"), FakeZone(), transport="tcp") == [
        Route("192.0.2.9", 2999, "tcp", None)
    ]
    with pytest.raises(InvalidInput, match="tls or tcp"):
        resolve_msrp_relay(uri("sip:example.com"), zone, transport="udp")


def test_msrp_relay_explicit_port_and_address() -> None:
    zone = FakeZone().a("relay.example.com", "192.0.2.8")
    assert resolve_msrp_relay(uri("sip:relay.example.com:2999"), zone) == [
        Route("192.0.2.8", 2999, "tls", "relay.example.com")
    ]
    assert zone.queries == [("relay.example.com", "A"), ("relay.example.com", "AAAA")]
    assert resolve_msrp_relay(uri("sip:192.0.2.9"), FakeZone()) == [
        Route("192.0.2.9", 2855, "tls", "192.0.2.9")
    ]


def test_stun_srv_and_fallback() -> None:
    zone = FakeZone().srv(
        "_stun._udp.example.com", (0, 0, 3479, "stun1.example.com"),
        (1, 0, 3480, "stun2.example.com"),
    )
    zone.a("stun1.example.com", "192.0.2.5").a("stun2.example.com", "192.0.2.15")
    assert resolve_stun_server(uri("sip:example.com"), zone) == [
        Route("192.0.2.5", 3479, "udp"), Route("192.0.2.15", 3480, "udp"),
    ]
    zone = FakeZone().a("example.org", "192.0.2.50")
    assert resolve_stun_server(uri("sip:example.org"), zone) == [Route("192.0.2.50", 3478, "udp")]
    assert resolve_stun_server(uri("sip:[::1]:3490"), FakeZone()) == [Route("::1", 3490, "udp")]


def test_service_failures() -> None:
    with pytest.raises(NoRecords):
        resolve_stun_server(uri("sip:missing.example.com"), FakeZone())
    zone = FakeZone()
    zone.timeout |= {("_msrps._tcp.example.com", "SRV"), ("example.com", "A"),
                     ("example.com", "AAAA")}
    with pytest.raises(ResolutionTimeout):
        resolve_msrp_relay(uri("sip:example.com"), zone)
    with pytest.raises(InvalidInput):
        resolve_stun_server("sip:example.com", FakeZone())  # type: ignore[arg-type]


def test_xcap_keeps_http_urls() -> None:
    zone = FakeZone().add(
        "xcap.example.com",
        TXT("https://xcap.example.com/xcap-root"),
        TXT("v=spf1 -all"),
        TXT("ftp://xcap.example.com/"),
        TXT("http:///no-host"),
        TXT(" http://xcap2.example.com:8080/root "),
        TXT("https://xcap.example.com/xcap-root"),
        TXT("http://[bad"),
    )
    assert resolve_xcap_server(uri("sip:alice@example.com"), zone) == [
        "https://xcap.example.com/xcap-root", "http://xcap2.example.com:8080/root",
    ]
    assert zone.queries == [("xcap.example.com", "TXT")]


def test_xcap_failures() -> None:
    with pytest.raises(NoRecords, match=r"xcap\.example\.com"):
        resolve_xcap_server(uri("sip:example.com"), FakeZone().add("xcap.example.com", TXT("x")))
    with pytest.raises(NoRecords):
        resolve_xcap_server(uri("sip:example.com"), FakeZone())
    with pytest.raises(InvalidInput, match="domain name"):
        resolve_xcap_server(uri("sip:192.0.2.1"), FakeZone())
    zone = FakeZone()
    zone.timeout.add(("xcap.example.com", "TXT"))
    with pytest.raises(ResolutionTimeout):
        resolve_xcap_server(uri("sip:example.com"), zone)
