"""sipsimple_services.dns.resolver: dnspython against dnsmasq, cache, budget, traces."""

from __future__ import annotations

import time

import pytest

from sipsimple_services.dns.nameservers import parse_nameserver
from sipsimple_services.dns.records import (
    NAPTR,
    SRV,
    TXT,
    Address,
    NXDomain,
    QueryFailed,
    QueryTimeout,
)
from sipsimple_services.dns.resolver import DNSResolver, Trace, probe_nameserver

pytestmark = pytest.mark.integration


@pytest.fixture
def resolver(dnsmasq: int) -> DNSResolver:
    return DNSResolver([parse_nameserver(f"127.0.0.1:{dnsmasq}")], attempt_timeout=1.0)


def test_record_types(resolver: DNSResolver) -> None:
    query = resolver.query_function(5)
    assert query("sip1.example.test", "A").records == (Address("127.0.0.1"),)
    assert query("sip1.example.test", "AAAA").records == (Address("::1"),)
    assert query("_sip._udp.example.test", "SRV").records == (
        SRV(0, 10, 5060, "sip1.example.test"),
    )
    naptr = query("example.test", "NAPTR").records
    assert NAPTR(5, 10, "S", "SIPS+D2T", "", "_sips._tcp.example.test") in naptr
    assert set(query("xcap.example.test", "TXT").records) == {
        TXT("https://xcap.example.test/xcap-root"), TXT("ftp://xcap.example.test/not-http"),
    }
    answer = query("stun.example.test", "AAAA")  # NODATA
    assert answer.records == ()


def test_nxdomain(resolver: DNSResolver) -> None:
    with pytest.raises(NXDomain):
        resolver.query_function(5)("missing.example.test", "A")


def test_cache_and_traces(resolver: DNSResolver) -> None:
    traces: list[Trace] = []
    query = resolver.query_function(5, traces.append)
    first = query("sip1.example.test", "A")
    assert 0 < first.ttl <= 300
    assert query("SIP1.example.test.", "A") == first
    assert [t.cached for t in traces] == [False, True]
    assert traces[0].answer == ("127.0.0.1",)
    assert traces[0].query_type == "A" and traces[0].query_name == "sip1.example.test"
    assert traces[0].nameservers == (str(resolver.nameservers[0]),)
    assert traces[0].error is None
    resolver.set_nameservers(list(resolver.nameservers))  # same list: cache kept
    query("sip1.example.test", "A")
    assert traces[-1].cached
    resolver.set_nameservers([parse_nameserver("127.0.0.1:9")])
    assert len(resolver.cache) == 0


def test_budget_used_up_sends_nothing(resolver: DNSResolver) -> None:
    traces: list[Trace] = []
    query = resolver.query_function(0.0001, traces.append)
    time.sleep(0.01)
    with pytest.raises(QueryTimeout, match="budget"):
        query("aonly.test", "A")
    assert traces == []


def test_black_hole_times_out_within_the_budget(blackhole_nameserver: str) -> None:
    resolver = DNSResolver([parse_nameserver(blackhole_nameserver)], attempt_timeout=0.3)
    traces: list[Trace] = []
    query = resolver.query_function(0.8, traces.append)
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        query("example.test", "NAPTR")
    with pytest.raises(QueryTimeout):  # the budget is shared by the whole lookup
        query("example.test", "A")
    assert time.monotonic() - started < 1.5
    assert len(traces) == 1 and traces[0].error and "timeout" in traces[0].error


def test_bad_input(resolver: DNSResolver) -> None:
    query = resolver.query_function(5)
    with pytest.raises(QueryFailed, match="not supported"):
        query("example.test", "MX")
    with pytest.raises(QueryFailed, match="invalid DNS name"):
        query("a" * 70 + ".example.test", "A")
    with pytest.raises(QueryFailed, match="no nameservers"):
        DNSResolver([]).query_function(5)("example.test", "A")


def test_refused_is_a_failure(resolver: DNSResolver) -> None:
    with pytest.raises(QueryFailed):  # dnsmasq has no upstream for names outside .test
        resolver.query_function(5)("example.org", "A")


def test_probe(dnsmasq: int, blackhole_nameserver: str) -> None:
    server = parse_nameserver(f"127.0.0.1:{dnsmasq}")
    assert probe_nameserver(server, None, timeout=1)  # any answer counts (here REFUSED)
    assert probe_nameserver(server, "probe.test", timeout=1)
    assert probe_nameserver(server, "_sip._udp.example.test", "SRV", timeout=1)
    assert not probe_nameserver(server, "missing.test", timeout=1)  # NXDOMAIN
    assert not probe_nameserver(server, "stun.example.test", "AAAA", timeout=1)  # NODATA
    started = time.monotonic()
    assert not probe_nameserver(parse_nameserver(blackhole_nameserver), None, timeout=0.3)
    assert time.monotonic() - started < 1
