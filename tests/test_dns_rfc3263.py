"""sipsimple_services.dns.rfc3263 against a fake zone: every branch of RFC 3263 section 4."""

from __future__ import annotations

import random

import pytest
from harness.dnszone import FakeZone

from sipsimple.core import SIPURI, Route
from sipsimple_services.dns.records import NAPTR
from sipsimple_services.dns.resolution import InvalidInput, NoRecords, ResolutionTimeout
from sipsimple_services.dns.rfc3263 import check_transports, resolve_sip_proxy

ALL = ["udp", "tcp", "tls"]


def resolve(uri: str, zone: FakeZone, transports: list[str] | None = None,
            **kwargs: object) -> list[Route]:
    return resolve_sip_proxy(
        SIPURI.parse(uri), ALL if transports is None else transports, zone,
        rng=random.Random(1), **kwargs,  # type: ignore[arg-type]
    )


def full_zone() -> FakeZone:
    """example.com with NAPTR for all three transports, SRV and A/AAAA."""
    zone = FakeZone()
    zone.naptr(
        "example.com",
        (20, 10, "S", "SIP+D2U", "_sip._udp.example.com"),
        (10, 20, "S", "SIP+D2T", "_sip._tcp.example.com"),
        (10, 10, "S", "SIPS+D2T", "_sips._tcp.example.com"),
    )
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "udp.example.com"))
    zone.srv("_sip._tcp.example.com", (0, 0, 5062, "tcp.example.com"))
    zone.srv("_sips._tcp.example.com", (0, 0, 5063, "tls.example.com."))
    zone.a("udp.example.com", "192.0.2.1")
    zone.a("tcp.example.com", "192.0.2.2", "2001:db8::2")
    zone.a("tls.example.com", "192.0.2.3")
    zone.a("example.com", "192.0.2.100")
    return zone


# --- IP address targets: no DNS at all ---------------------------------------


@pytest.mark.parametrize(
    ("uri", "transports", "route"),
    [
        ("sip:192.0.2.1", ALL, Route("192.0.2.1", 5060, "udp", "192.0.2.1")),
        ("sip:192.0.2.1:5070", ALL, Route("192.0.2.1", 5070, "udp", "192.0.2.1")),
        ("sips:192.0.2.1", ALL, Route("192.0.2.1", 5061, "tls", "192.0.2.1")),
        ("sip:192.0.2.1;transport=tcp", ALL, Route("192.0.2.1", 5060, "tcp", "192.0.2.1")),
        ("sip:192.0.2.1;transport=TLS", ALL, Route("192.0.2.1", 5061, "tls", "192.0.2.1")),
        ("sips:192.0.2.1;transport=tcp", ALL, Route("192.0.2.1", 5061, "tls", "192.0.2.1")),
        ("sip:[2001:db8::1]", ALL, Route("2001:db8::1", 5060, "udp", "2001:db8::1")),
        ("sips:[::1]:5071", ALL, Route("::1", 5071, "tls", "::1")),
        ("sip:192.0.2.1", ["tcp", "tls"], Route("192.0.2.1", 5060, "tcp", "192.0.2.1")),
        ("sip:192.0.2.1", ["tls"], Route("192.0.2.1", 5061, "tls", "192.0.2.1")),
    ],
)
def test_ip_address_needs_no_query(uri: str, transports: list[str], route: Route) -> None:
    zone = FakeZone()
    assert resolve(uri, zone, transports) == [route]
    assert zone.queries == []


def test_maddr_replaces_the_host() -> None:
    zone = full_zone()
    assert resolve("sip:alice@example.com;maddr=192.0.2.9", zone) == [
        Route("192.0.2.9", 5060, "udp", "example.com")
    ]
    assert zone.queries == []
    zone.a("proxy.example.net", "192.0.2.10")
    assert resolve("sip:example.com:5090;maddr=proxy.example.net", zone) == [
        Route("192.0.2.10", 5090, "udp", "example.com")
    ]
    with pytest.raises(InvalidInput, match="maddr"):
        resolve("sip:example.com;maddr=bad..name", zone)


# --- explicit port: A/AAAA only ----------------------------------------------


def test_explicit_port_uses_addresses_only() -> None:
    zone = full_zone()
    zone.a("example.com", "2001:db8::100")
    assert resolve("sip:example.com:5080", zone) == [
        Route("192.0.2.100", 5080, "udp", "example.com"),
        Route("2001:db8::100", 5080, "udp", "example.com"),
    ]
    assert zone.queries == [("example.com", "A"), ("example.com", "AAAA")]


def test_explicit_port_with_transport_and_sips() -> None:
    zone = full_zone()
    assert resolve("sip:example.com:5080;transport=tcp", zone) == [
        Route("192.0.2.100", 5080, "tcp", "example.com")
    ]
    assert resolve("sips:example.com:5081", zone) == [
        Route("192.0.2.100", 5081, "tls", "example.com")
    ]


# --- transport parameter: SRV for it, then A/AAAA ----------------------------


def test_transport_parameter_uses_its_srv() -> None:
    zone = full_zone()
    assert resolve("sip:example.com;transport=tcp", zone) == [
        Route("192.0.2.2", 5062, "tcp", "example.com"),
        Route("2001:db8::2", 5062, "tcp", "example.com"),
    ]
    assert ("example.com", "NAPTR") not in zone.queries
    assert resolve("sip:example.com;transport=tls", zone) == [
        Route("192.0.2.3", 5063, "tls", "example.com")
    ]
    assert resolve("sips:example.com;transport=tcp", zone) == [
        Route("192.0.2.3", 5063, "tls", "example.com")
    ]


def test_transport_parameter_without_srv_uses_default_port() -> None:
    zone = FakeZone().a("example.org", "192.0.2.50")
    assert resolve("sip:example.org;transport=tcp", zone) == [
        Route("192.0.2.50", 5060, "tcp", "example.org")
    ]
    assert resolve("sip:example.org;transport=tls", zone) == [
        Route("192.0.2.50", 5061, "tls", "example.org")
    ]
    assert zone.queries == [
        ("_sip._tcp.example.org", "SRV"), ("example.org", "A"), ("example.org", "AAAA"),
        ("_sips._tcp.example.org", "SRV"), ("example.org", "A"), ("example.org", "AAAA"),
    ]


@pytest.mark.parametrize(
    ("uri", "transports", "message"),
    [
        ("sip:example.com;transport=sctp", ALL, "transport 'sctp' is not supported"),
        ("sip:example.com;transport=ws", ALL, "not supported"),
        ("sip:example.com;transport=tcp", ["udp"], "not among the supported"),
        ("sips:example.com;transport=udp", ALL, "cannot use transport=udp"),
        ("sips:example.com", ["udp", "tcp"], "needs TLS"),
        ("sips:192.0.2.1", ["udp"], "needs TLS"),
    ],
)
def test_unusable_transport(uri: str, transports: list[str], message: str) -> None:
    zone = full_zone()
    with pytest.raises(InvalidInput, match=message):
        resolve(uri, zone, transports)
    assert zone.queries == []


# --- NAPTR -------------------------------------------------------------------


def test_naptr_order_then_preference() -> None:
    assert resolve("sip:example.com", full_zone()) == [
        Route("192.0.2.3", 5063, "tls", "example.com"),  # order 10, pref 10
        Route("192.0.2.2", 5062, "tcp", "example.com"),  # order 10, pref 20
        Route("2001:db8::2", 5062, "tcp", "example.com"),
        Route("192.0.2.1", 5060, "udp", "example.com"),  # order 20
    ]


def test_naptr_kept_only_for_supported_transports() -> None:
    assert resolve("sip:example.com", full_zone(), ["udp"]) == [
        Route("192.0.2.1", 5060, "udp", "example.com")
    ]
    assert resolve("sip:example.com", full_zone(), ["udp", "tcp"]) == [
        Route("192.0.2.2", 5062, "tcp", "example.com"),
        Route("2001:db8::2", 5062, "tcp", "example.com"),
        Route("192.0.2.1", 5060, "udp", "example.com"),
    ]


def test_sips_keeps_only_sips_naptr() -> None:
    assert resolve("sips:example.com", full_zone()) == [
        Route("192.0.2.3", 5063, "tls", "example.com")
    ]


def test_naptr_filters_unknown_services_and_flags() -> None:
    zone = FakeZone()
    zone.add("example.com", NAPTR(1, 1, "S", "SIP+D2S", "", "_sip._sctp.example.com"))
    zone.add("example.com", NAPTR(2, 1, "U", "SIP+D2U", "!^.*$!sip:x@example.com!", ""))
    zone.add("example.com", NAPTR(3, 1, "A", "SIP+D2T", "", "host.example.com"))
    zone.add("example.com", NAPTR(4, 1, "s", "sip+d2u", "", "_sip._udp.example.com."))
    zone.srv("_sip._sctp.example.com", (0, 0, 5090, "sctp.example.com"))
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "udp.example.com"))
    zone.a("sctp.example.com", "192.0.2.90").a("udp.example.com", "192.0.2.1")
    zone.a("host.example.com", "192.0.2.91")
    assert resolve("sip:example.com", zone) == [Route("192.0.2.1", 5060, "udp", "example.com")]
    assert ("_sip._sctp.example.com", "SRV") not in zone.queries


def test_no_usable_naptr_falls_back_to_srv_per_transport_in_client_order() -> None:
    zone = FakeZone()
    zone.naptr("example.com", (10, 10, "S", "SIP+D2S", "_sip._sctp.example.com"))
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "udp.example.com"))
    zone.srv("_sip._tcp.example.com", (0, 0, 5062, "tcp.example.com"))
    zone.srv("_sips._tcp.example.com", (0, 0, 5063, "tls.example.com"))
    zone.a("udp.example.com", "192.0.2.1").a("tcp.example.com", "192.0.2.2")
    zone.a("tls.example.com", "192.0.2.3")
    assert resolve("sip:example.com", zone, ["tcp", "tls", "udp"]) == [
        Route("192.0.2.2", 5062, "tcp", "example.com"),
        Route("192.0.2.3", 5063, "tls", "example.com"),
        Route("192.0.2.1", 5060, "udp", "example.com"),
    ]
    assert resolve("sips:example.com", zone) == [Route("192.0.2.3", 5063, "tls", "example.com")]


def test_without_naptr_srv_per_transport() -> None:
    zone = FakeZone()
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "udp.example.com"))
    zone.a("udp.example.com", "192.0.2.1")
    assert resolve("sip:example.com", zone) == [Route("192.0.2.1", 5060, "udp", "example.com")]
    assert zone.queries == [
        ("example.com", "NAPTR"),
        ("_sip._udp.example.com", "SRV"), ("udp.example.com", "A"), ("udp.example.com", "AAAA"),
        ("_sip._tcp.example.com", "SRV"), ("_sips._tcp.example.com", "SRV"),
    ]


def test_naptr_pointing_to_empty_srv_falls_through() -> None:
    zone = FakeZone()
    zone.naptr("example.com", (10, 10, "S", "SIP+D2U", "_sip._udp.gone.example.com"))
    zone.srv("_sip._tcp.example.com", (0, 0, 5062, "tcp.example.com"))
    zone.a("tcp.example.com", "192.0.2.2")
    assert resolve("sip:example.com", zone) == [Route("192.0.2.2", 5062, "tcp", "example.com")]


def test_srv_target_without_addresses_yields_nothing() -> None:
    zone = FakeZone()
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "nowhere.example.com"))
    zone.a("example.com", "192.0.2.100")
    assert resolve("sip:example.com", zone) == [
        Route("192.0.2.100", 5060, "udp", "example.com")
    ]


def test_srv_dot_target_means_no_service() -> None:
    zone = FakeZone().srv("_sip._udp.example.com", (0, 0, 0, "."))
    zone.a("example.com", "192.0.2.100")
    assert resolve("sip:example.com", zone, ["udp"]) == [
        Route("192.0.2.100", 5060, "udp", "example.com")
    ]


# --- A/AAAA on the default port, last ----------------------------------------


@pytest.mark.parametrize(
    ("uri", "transports", "port", "transport"),
    [
        ("sip:example.com", ALL, 5060, "udp"),
        ("sip:example.com", ["tls", "tcp"], 5060, "tcp"),
        ("sip:example.com", ["tls"], 5061, "tls"),
        ("sips:example.com", ALL, 5061, "tls"),
    ],
)
def test_addresses_on_default_port(uri: str, transports: list[str], port: int,
                                   transport: str) -> None:
    zone = FakeZone().a("example.com", "192.0.2.100", "2001:db8::100")
    assert resolve(uri, zone, transports) == [
        Route("192.0.2.100", port, transport, "example.com"),
        Route("2001:db8::100", port, transport, "example.com"),
    ]
    assert zone.queries[-2:] == [("example.com", "A"), ("example.com", "AAAA")]


def test_aaaa_only() -> None:
    zone = FakeZone().a("example.com", "2001:db8::100")
    assert resolve("sip:example.com", zone) == [
        Route("2001:db8::100", 5060, "udp", "example.com")
    ]


def test_trailing_dot_host() -> None:
    zone = FakeZone().a("example.com", "192.0.2.100")
    assert resolve("sip:example.com.", zone) == [
        Route("192.0.2.100", 5060, "udp", "example.com")
    ]


# --- tls_name, duplicates ----------------------------------------------------


def test_tls_name_override() -> None:
    routes = resolve("sips:example.com", full_zone(), tls_name="sip.example.net")
    assert {r.tls_name for r in routes} == {"sip.example.net"}


def test_duplicate_routes_are_dropped() -> None:
    zone = FakeZone()
    zone.naptr(
        "example.com",
        (10, 10, "S", "SIP+D2U", "_sip._udp.example.com"),
        (10, 20, "S", "SIP+D2U", "_sip._udp.example.com"),
    )
    zone.srv("_sip._udp.example.com", (0, 0, 5060, "a.example.com"), (1, 0, 5060, "b.example.com"))
    zone.a("a.example.com", "192.0.2.1").a("b.example.com", "192.0.2.1")
    assert resolve("sip:example.com", zone) == [Route("192.0.2.1", 5060, "udp", "example.com")]


# --- failures ----------------------------------------------------------------


def test_nxdomain_everywhere() -> None:
    with pytest.raises(NoRecords, match="no DNS records found"):
        resolve("sip:missing.example.com", FakeZone())


def test_servfail_counts_as_empty() -> None:
    zone = full_zone()
    zone.servfail.add(("example.com", "NAPTR"))
    assert resolve("sip:example.com", zone, ["udp"]) == [
        Route("192.0.2.1", 5060, "udp", "example.com")
    ]


def test_timeouts_everywhere_is_a_timeout() -> None:
    zone = FakeZone()
    for item in [("example.com", "NAPTR"), ("example.com", "A"), ("example.com", "AAAA")] + [
        (f"{p}.example.com", "SRV") for p in ("_sip._udp", "_sip._tcp", "_sips._tcp")
    ]:
        zone.timeout.add(item)
    with pytest.raises(ResolutionTimeout, match="timeout"):
        resolve("sip:example.com", zone)


def test_naptr_timeout_then_srv_succeeds() -> None:
    zone = full_zone()
    zone.timeout.add(("example.com", "NAPTR"))
    routes = resolve("sip:example.com", zone, ["udp"])
    assert routes == [Route("192.0.2.1", 5060, "udp", "example.com")]


@pytest.mark.parametrize(
    ("transports", "message"),
    [
        ([], "empty"),
        (["udp", "sctp"], "unsupported transport 'sctp'"),
        (["udp", 5], "unsupported transport 5"),
        ("udp", "must be a list"),
        (None, "must be a list"),
    ],
)
def test_bad_transport_lists(transports: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve_sip_proxy(SIPURI("example.com"), transports, FakeZone())  # type: ignore[arg-type]


def test_not_a_sip_uri() -> None:
    with pytest.raises(InvalidInput, match="SIPURI"):
        resolve_sip_proxy("sip:example.com", ALL, FakeZone())  # type: ignore[arg-type]


def test_check_transports_normalizes() -> None:
    assert check_transports(["TLS", "udp", "tls"]) == ("tls", "udp")
    assert check_transports(("tcp",)) == ("tcp",)


# --- SRV weighted order through the whole resolution -------------------------


def test_srv_priority_then_weighted_random() -> None:
    zone = FakeZone()
    zone.srv(
        "_sip._udp.example.com",
        (20, 0, 5060, "backup.example.com"),
        (10, 90, 5060, "big.example.com"),
        (10, 10, 5060, "small.example.com"),
    )
    zone.a("backup.example.com", "192.0.2.30").a("big.example.com", "192.0.2.10")
    zone.a("small.example.com", "192.0.2.20")
    firsts: dict[str, int] = {}
    rng = random.Random(7)
    for _ in range(2000):
        routes = resolve_sip_proxy(SIPURI("example.com"), ["udp"], zone, rng=rng)
        assert routes[-1].address == "192.0.2.30"  # the higher priority value comes last
        firsts[routes[0].address] = firsts.get(routes[0].address, 0) + 1
    share = firsts["192.0.2.10"] / 2000
    assert 0.86 < share < 0.94, firsts
