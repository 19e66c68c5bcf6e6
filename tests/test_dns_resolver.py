"""sipsimple_services.dns.resolver: dnspython against dnsmasq, cache, budget, traces."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
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
    with pytest.raises(QueryTimeout):
        query("example.test", "NAPTR")
    with pytest.raises(QueryTimeout):  # the budget is shared by the whole lookup: none left
        query("example.test", "A")
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
    assert not probe_nameserver(server, None, timeout=1)  # no upstream: ". NS" is REFUSED
    assert probe_nameserver(server, "probe.test", timeout=1)
    assert probe_nameserver(server, "_sip._udp.example.test", "SRV", timeout=1)
    assert not probe_nameserver(server, "missing.test", timeout=1)  # NXDOMAIN
    assert not probe_nameserver(server, "stun.example.test", "AAAA", timeout=1)  # NODATA
    assert not probe_nameserver(parse_nameserver(blackhole_nameserver), None, timeout=0.3)


class ScriptedNameserver:
    """A loopback UDP nameserver answering every query with one rcode."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.rcode = dns.rcode.NOERROR
        self.questions: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(data)
            self.questions.append(query.question[0].to_text())
            response = dns.message.make_response(query)
            response.flags |= dns.flags.RA
            response.set_rcode(self.rcode)
            if self.rcode == dns.rcode.NOERROR:
                response.answer.append(
                    dns.rrset.from_text(".", 3600, "IN", "NS", "a.root-servers.net.")
                )
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def scripted() -> Iterator[ScriptedNameserver]:
    server = ScriptedNameserver()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("rcode", "healthy"),
    [
        (dns.rcode.NOERROR, True),
        (dns.rcode.REFUSED, False),
        (dns.rcode.SERVFAIL, False),
        (dns.rcode.NXDOMAIN, False),  # the root always exists: a broken server
        (dns.rcode.NOTIMP, False),
    ],
)
def test_probe_without_a_name_needs_noerror_for_root_ns(
    scripted: ScriptedNameserver, rcode: dns.rcode.Rcode, healthy: bool
) -> None:
    scripted.rcode = rcode
    assert probe_nameserver(parse_nameserver(scripted.address), None, timeout=1) is healthy
    assert scripted.questions == [". IN NS"]
