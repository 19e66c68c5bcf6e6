"""The DNS service process on the bus, resolving against dnsmasq."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from harness.notifications import Recorder, dns_subscribed

from sipsimple.bus import endpoints
from sipsimple.bus.auth import Credentials
from sipsimple.bus.client import BusClient, ServiceError, get_bus

pytestmark = pytest.mark.integration

ALL = ["udp", "tcp", "tls"]



@pytest.fixture
def bus(dns_service: Path) -> BusClient:
    return get_bus()


@pytest.fixture
def dnsmasq_server(dnsmasq: int) -> str:
    return f"127.0.0.1:{dnsmasq}"


@pytest.fixture
def restore_nameservers(bus: BusClient, dnsmasq_server: str) -> Iterator[None]:
    yield
    bus.call("dns", "set_nameservers", nameservers=[dnsmasq_server], fallback_nameservers=[])
    bus.call("dns", "probe_nameservers")


def sip(bus: BusClient, uri: str, transports: list[Any] | None = None, **params: Any) -> Any:
    return bus.call(
        "dns", "lookup_sip_proxy", uri=uri,
        supported_transports=ALL if transports is None else transports, **params,
    )


def test_sip_proxy_naptr_order(bus: BusClient) -> None:
    reply = sip(bus, "sip:alice@example.test")
    assert [(r["address"], r["port"], r["transport"]) for r in reply["result"]] == [
        ("127.0.0.1", 5061, "tls"), ("::1", 5061, "tls"),
        ("127.0.0.1", 5060, "tcp"), ("::1", 5060, "tcp"),
        ("127.0.0.1", 5060, "udp"), ("::1", 5060, "udp"),
    ]
    assert {r["tls_name"] for r in reply["result"]} == {"example.test"}
    assert reply["traces"][0]["query_type"] == "NAPTR"
    assert [t["seq"] for t in reply["traces"]] == list(range(len(reply["traces"])))


@pytest.mark.parametrize(
    ("uri", "transports", "expected"),
    [
        ("sips:example.test", ALL, [("127.0.0.1", 5061, "tls"), ("::1", 5061, "tls")]),
        ("sip:example.test", ["udp"], [("127.0.0.1", 5060, "udp"), ("::1", 5060, "udp")]),
        ("sip:srvonly.test", ALL, [("127.0.0.3", 5070, "udp"), ("127.0.0.3", 5071, "tcp")]),
        ("sip:srvonly.test", ["tcp", "udp"],
         [("127.0.0.3", 5071, "tcp"), ("127.0.0.3", 5070, "udp")]),
        ("sip:aonly.test", ALL, [("127.0.0.4", 5060, "udp"), ("fd00::4", 5060, "udp")]),
        ("sips:aonly.test", ALL, [("127.0.0.4", 5061, "tls"), ("fd00::4", 5061, "tls")]),
        ("sip:example.test:5099", ALL, [("127.0.0.2", 5099, "udp")]),
        ("sip:srvonly.test;transport=tcp", ALL, [("127.0.0.3", 5071, "tcp")]),
        ("sip:aonly.test;transport=tls", ALL,
         [("127.0.0.4", 5061, "tls"), ("fd00::4", 5061, "tls")]),
        ("sip:192.0.2.1", ALL, [("192.0.2.1", 5060, "udp")]),
        ("sips:[::1]:5071", ALL, [("::1", 5071, "tls")]),
    ],
)
def test_sip_proxy_branches(
    bus: BusClient, uri: str, transports: list[str], expected: list[tuple[str, int, str]],
) -> None:
    reply = sip(bus, uri, transports)
    assert [(r["address"], r["port"], r["transport"]) for r in reply["result"]] == expected


def test_literal_makes_no_query(bus: BusClient) -> None:
    assert sip(bus, "sip:[2001:db8::1]")["traces"] == []


def test_nxdomain(bus: BusClient) -> None:
    reply = sip(bus, "sip:missing.example.test")
    assert reply["reason"] == "not-found" and "no DNS records" in reply["error"]
    assert {t["error"] for t in reply["traces"]} == {"NXDOMAIN"}


@pytest.mark.parametrize(
    ("uri", "transports", "message"),
    [
        ("sip:", ALL, "invalid URI"),
        ("not a uri", ALL, "invalid URI"),
        ("sip:exa mple.test", ALL, "invalid URI"),
        ("sip:example.test", [], "empty"),
        ("sip:example.test", ["udp", "sctp"], "unsupported transport"),
        ("sip:example.test", [1, 2], "unsupported transport"),
        ("sips:example.test", ["udp"], "needs TLS"),
        ("sip:example.test;transport=sctp", ALL, "not supported"),
    ],
)
def test_invalid_input(bus: BusClient, uri: str, transports: list[Any], message: str) -> None:
    reply = sip(bus, uri, transports)
    assert reply["reason"] == "invalid" and message in reply["error"]
    assert reply["traces"] == []


def test_invalid_params_are_bus_errors(bus: BusClient) -> None:
    with pytest.raises(ServiceError) as info:
        bus.call("dns", "lookup_sip_proxy", uri=5, supported_transports=ALL)
    assert info.value.code == "invalid-params"
    with pytest.raises(ServiceError, match="lifetime"):
        sip(bus, "sip:example.test", lifetime=0)
    with pytest.raises(ServiceError) as info:
        bus.call("dns", "set_nameservers", nameservers=["dns.example.test"])
    assert info.value.code == "invalid-params"


def test_services(bus: BusClient) -> None:
    stun = bus.call("dns", "lookup_stun_server", uri="sip:example.test")
    assert stun["result"] == [
        {"address": "127.0.0.5", "port": 3479, "transport": "udp", "tls_name": None}
    ]
    relay = bus.call("dns", "lookup_msrp_relay", uri="sip:bob@example.test")
    assert relay["result"] == [
        {"address": "127.0.0.6", "port": 2856, "transport": "tls", "tls_name": "example.test"}
    ]
    relay = bus.call("dns", "lookup_msrp_relay", uri="sip:aonly.test")
    assert [r["port"] for r in relay["result"]] == [2855, 2855]
    relay = bus.call("dns", "lookup_msrp_relay", uri="sip:bob@example.test", transport="tcp")
    assert relay["result"] == [
        {"address": "127.0.0.6", "port": 2857, "transport": "tcp", "tls_name": None}
    ]
    relay = bus.call("dns", "lookup_msrp_relay", uri="sip:example.test", transport="udp")
    assert relay["reason"] == "invalid" and "tls or tcp" in relay["error"]
    xcap = bus.call("dns", "lookup_xcap_server", uri="sip:alice@example.test")
    assert xcap["result"] == ["https://xcap.example.test/xcap-root"]
    assert xcap["traces"][0]["query_name"] == "xcap.example.test"
    missing = bus.call("dns", "lookup_xcap_server", uri="sip:aonly.test")
    assert missing["reason"] == "not-found"
    address = bus.call("dns", "lookup_xcap_server", uri="sip:127.0.0.1")
    assert address["reason"] == "invalid"


def test_cache(bus: BusClient) -> None:
    sip(bus, "sip:srvonly.test", ["udp"])
    again = sip(bus, "sip:srvonly.test", ["udp"])
    assert again["traces"] and all(t["cached"] for t in again["traces"])


def test_traces_are_published(bus: BusClient) -> None:
    recorder = Recorder("dns.trace")
    try:
        dns_subscribed(bus)
        reply = sip(bus, "sip:aonly.test", lookup_id="trace-test-1")
        assert reply["lookup_id"] == "trace-test-1"
        last = len(reply["traces"]) - 1
        seen = recorder.wait(lambda n: n.data.lookup_id == "trace-test-1" and n.data.seq == last)
        assert seen.data.sender_id == "trace-test-1" and seen.data.service == "dns"
        assert seen.data.query_name == reply["traces"][last]["query_name"]
    finally:
        recorder.close()


def test_black_hole_nameserver_times_out_fast(
    bus: BusClient, blackhole_nameserver: str, restore_nameservers: None,
) -> None:
    bus.call("dns", "set_nameservers", nameservers=[blackhole_nameserver], fallback_nameservers=[])
    reply = sip(bus, "sip:example.test", lifetime=1)
    assert reply["reason"] == "timeout" and "timeout" in reply["error"]
    assert reply["traces"][0]["error"].startswith("timeout")
    # Lookups run concurrently: while four wait on the black hole, another is answered.
    waiting = [
        bus.call_async("dns", "lookup_sip_proxy", {"uri": "sip:aonly.test", "lifetime": 5,
                                                   "supported_transports": ALL}, timeout=30)
        for _ in range(4)
    ]
    assert sip(bus, "sip:127.0.0.1:5060", ["udp"])["result"]  # an address: no query needed
    assert not any(future.done() for future in waiting)
    assert [future.result(30)["reason"] for future in waiting] == ["timeout"] * 4
    assert bus.ping("dns")["service"] == "dns"


def test_fallback_nameservers(
    bus: BusClient, blackhole_nameserver: str, dnsmasq_server: str, restore_nameservers: None,
) -> None:
    recorder = Recorder("dns.nameservers_changed")
    try:
        state = bus.call(
            "dns", "set_nameservers", nameservers=[blackhole_nameserver],
            fallback_nameservers=[dnsmasq_server],
        )
        assert state["nameservers"] == [blackhole_nameserver]
        state = bus.call("dns", "probe_nameservers")
        assert state["nameservers"] == [dnsmasq_server]
        assert state["using_fallback"] and state["healthy"]
        assert state["configured_nameservers"] == [blackhole_nameserver]
        changed = recorder.wait(lambda n: n.data.nameservers == [dnsmasq_server])
        assert changed.data.using_fallback
        assert sip(bus, "sip:aonly.test")["result"]  # lookups use the fallback
        assert bus.call("dns", "get_nameservers")["nameservers"] == [dnsmasq_server]
        # Back to a working primary: the fallback is dropped.
        state = bus.call("dns", "set_nameservers", nameservers=[dnsmasq_server])
        assert state["fallback_nameservers"] == [dnsmasq_server]
        state = bus.call("dns", "probe_nameservers")
        assert state["nameservers"] == [dnsmasq_server] and not state["using_fallback"]
    finally:
        recorder.close()


def test_nothing_answers_keeps_configured(
    bus: BusClient, blackhole_nameserver: str, restore_nameservers: None,
) -> None:
    bus.call("dns", "set_nameservers", nameservers=[blackhole_nameserver], fallback_nameservers=[])
    state = bus.call("dns", "probe_nameservers")
    assert state["nameservers"] == [blackhole_nameserver]
    assert not state["healthy"] and not state["using_fallback"]


def test_garbage_on_the_command_socket(bus: BusClient) -> None:
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    raw = context.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    credentials = Credentials.generate()
    credentials.apply(raw, endpoints.command_endpoint("dns"))
    raw.connect(endpoints.command_endpoint("dns"))
    try:
        for frames in (
            [b"\xff\xfe garbage"], [b""], [b"a", b"b", b"c"],
            [msgpack.packb([1, 2, 3])],
            [msgpack.packb({"v": 1, "id": 7, "client": credentials.client_id,
                            "method": "lookup_sip_proxy",
                            "params": {"uri": "sip:example.test", "supported_transports": "udp"}})],
            [msgpack.packb({"v": 1, "id": 8, "client": credentials.client_id,
                            "method": "set_nameservers",
                            "params": {"nameservers": [None, 5]}})],
        ):
            raw.send_multipart(frames)
            assert raw.poll(3000), f"no reply to {frames!r}"
            reply = msgpack.unpackb(raw.recv())
            assert "error" in reply
    finally:
        raw.close()
    assert sip(bus, "sip:aonly.test")["result"]


def test_set_nameservers_none_restores_the_environment(
    bus: BusClient, blackhole_nameserver: str, dnsmasq_server: str, restore_nameservers: None,
) -> None:
    bus.call("dns", "set_nameservers", nameservers=[blackhole_nameserver])
    state = bus.call("dns", "set_nameservers", nameservers=None)
    assert state["configured_nameservers"] == [dnsmasq_server]  # SIPSIMPLE_DNS_NAMESERVERS
    assert state["nameservers"] == [dnsmasq_server]


def test_blocking_methods_are_declared() -> None:
    from sipsimple.bus.schema import METHODS
    from sipsimple_services.dns.service import DNSService

    dns_methods = set(METHODS["dns"])
    assert DNSService.blocking_methods <= dns_methods
    # Everything that waits on the network; the rest only reads or sets state.
    assert {m for m in dns_methods if m.startswith("lookup_")} <= DNSService.blocking_methods
    assert "probe_nameservers" in DNSService.blocking_methods
    assert not {"get_nameservers", "set_nameservers"} & DNSService.blocking_methods
