"""sipsimple.lookup: DNSLookup and DNSManager through the bus and the real DNS service."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.notifications import Recorder, dns_subscribed

from sipsimple import lookup as lookup_module
from sipsimple.bus.client import get_bus, reset_bus
from sipsimple.core import SIPURI, Route
from sipsimple.lookup import DNSLookup, DNSLookupError, DNSLookupResult, DNSManager
from sipsimple.notification import Notification, NotificationCenter

pytestmark = pytest.mark.integration

ALL = ["udp", "tcp", "tls"]
OUTCOMES = ("DNSLookupDidSucceed", "DNSLookupDidFail")



@pytest.fixture
def dns(dns_service: Path) -> Iterator[DNSLookup]:
    yield DNSLookup()


@pytest.fixture
def recorder(dns: DNSLookup) -> Iterator[Recorder]:
    recorder = Recorder(sender=dns)
    yield recorder
    recorder.close()


@pytest.fixture
def restore_nameservers(dns_service: Path, dnsmasq: int) -> Iterator[None]:
    yield
    DNSManager().set_nameservers([f"127.0.0.1:{dnsmasq}"], [])
    assert lookup_module.get_bus().call("dns", "probe_nameservers")["healthy"]


def test_wait_returns_routes(dns: DNSLookup) -> None:
    result = dns.lookup_sip_proxy(SIPURI.parse("sips:alice@example.test"), ALL)
    assert isinstance(result, DNSLookupResult)
    assert result.wait(10) == [
        Route("127.0.0.1", 5061, "tls", "example.test"), Route("::1", 5061, "tls", "example.test"),
    ]
    assert result.done()


def test_notifications_traces_then_outcome(dns: DNSLookup, recorder: Recorder) -> None:
    dns.lookup_sip_proxy(SIPURI("srvonly.test"), ["tcp", "udp"], tls_name="tls.srvonly.test")
    success = recorder.wait_for(*OUTCOMES)
    assert success.name == "DNSLookupDidSucceed" and success.sender is dns
    assert success.data.result == [
        Route("127.0.0.3", 5071, "tcp", "tls.srvonly.test"),
        Route("127.0.0.3", 5070, "udp", "tls.srvonly.test"),
    ]
    names = [n.name for n in recorder.seen]
    assert names[-1] == "DNSLookupDidSucceed"
    traces = recorder.named("DNSLookupTrace")
    assert len(traces) == names.index("DNSLookupDidSucceed") > 0  # all traces come first
    assert sorted(t.data.seq for t in traces) == list(range(len(traces)))  # each exactly once
    first = traces[0].data
    assert (first.query_type, first.query_name) == ("NAPTR", "srvonly.test")
    assert first.lookup == "sip" and first.uri == "sip:srvonly.test"
    assert isinstance(first.nameservers, list) and isinstance(first.answer, list)
    time.sleep(0.2)  # late trace events are not posted again
    assert len(recorder.named("DNSLookupTrace")) == len(traces)


def test_nxdomain_both_ways(dns: DNSLookup, recorder: Recorder) -> None:
    result = dns.lookup_sip_proxy(SIPURI("missing.example.test"), ALL)
    with pytest.raises(DNSLookupError, match="no DNS records") as info:
        result.wait(10)
    assert info.value.reason == "not-found"
    failure = recorder.wait_for(*OUTCOMES)
    assert failure.name == "DNSLookupDidFail"
    assert "no DNS records" in failure.data.error and failure.data.reason == "not-found"
    assert recorder.named("DNSLookupTrace")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: d.lookup_sip_proxy("sip:example.test", ALL), "expected a SIPURI"),
        (lambda d: d.lookup_sip_proxy(None, ALL), "expected a SIPURI"),
        (lambda d: d.lookup_sip_proxy(SIPURI("example.test"), []), "empty"),
        (lambda d: d.lookup_sip_proxy(SIPURI("example.test"), "udp"), "must be a list"),
        (lambda d: d.lookup_sip_proxy(SIPURI("example.test"), ["udp", "sctp"]),
         "unsupported transport 'sctp'"),
        (lambda d: d.lookup_sip_proxy(SIPURI("example.test", secure=True), ["udp", "tcp"]),
         "needs TLS"),
        (lambda d: d.lookup_sip_proxy(SIPURI.parse("sip:example.test;transport=sctp"), ALL),
         "not supported"),
        (lambda d: d.lookup_sip_proxy(SIPURI("example.test"), ALL, lifetime=-1), "lifetime"),
        (lambda d: d.lookup_stun_server("example.test"), "expected a SIPURI"),
        (lambda d: d.lookup_msrp_relay(42), "expected a SIPURI"),
        (lambda d: d.lookup_msrp_relay(SIPURI("example.test"), transport="udp"), "tls or tcp"),
        (lambda d: d.lookup_xcap_server(SIPURI("127.0.0.1")), "domain name"),
    ],
)
def test_invalid_input_fails_both_ways(
    dns: DNSLookup, recorder: Recorder, call: object, message: str,
) -> None:
    result = call(dns)  # type: ignore[operator]  # never raises
    failure = recorder.wait_for(*OUTCOMES)
    assert failure.name == "DNSLookupDidFail" and message in failure.data.error
    assert failure.data.reason == "invalid"
    with pytest.raises(DNSLookupError, match=message):
        result.wait(5)


def test_services(dns: DNSLookup) -> None:
    assert dns.lookup_stun_server(SIPURI("example.test")).wait(10) == [
        Route("127.0.0.5", 3479, "udp", None)
    ]
    assert dns.lookup_msrp_relay(SIPURI("example.test", user="bob")).wait(10) == [
        Route("127.0.0.6", 2856, "tls", "example.test")
    ]
    assert dns.lookup_msrp_relay(SIPURI("example.test"), transport="tcp").wait(10) == [
        Route("127.0.0.6", 2857, "tcp", None)
    ]
    assert dns.lookup_xcap_server(SIPURI("example.test")).wait(10) == [
        "https://xcap.example.test/xcap-root"
    ]
    with pytest.raises(DNSLookupError) as info:
        dns.lookup_stun_server(SIPURI("missing.test")).wait(10)
    assert info.value.reason == "not-found"


def test_cached_lookup_traces_say_so(dns: DNSLookup, recorder: Recorder) -> None:
    dns.lookup_stun_server(SIPURI("example.test")).wait(10)
    recorder.seen.clear()
    dns.lookup_stun_server(SIPURI("example.test")).wait(10)
    recorder.wait_for(*OUTCOMES)
    traces = recorder.named("DNSLookupTrace")
    assert traces and all(t.data.cached for t in traces)


def test_timeout_with_black_hole(
    dns: DNSLookup, recorder: Recorder, blackhole_nameserver: str, restore_nameservers: None,
) -> None:
    DNSManager().set_nameservers([blackhole_nameserver], [])
    result = dns.lookup_sip_proxy(SIPURI("example.test"), ALL, lifetime=1)
    with pytest.raises(DNSLookupError, match="still running"):
        result.wait(0.05)
    with pytest.raises(DNSLookupError, match="timeout") as info:
        result.wait(10)
    assert info.value.reason == "timeout"
    failure = recorder.wait_for(*OUTCOMES)
    assert failure.data.reason == "timeout"


def test_dns_manager(dns_service: Path, dnsmasq: int, blackhole_nameserver: str,
                     restore_nameservers: None) -> None:
    manager = DNSManager()
    assert manager is DNSManager()
    good = f"127.0.0.1:{dnsmasq}"
    recorder = Recorder(sender=manager)
    try:
        manager.start()
        manager.start()  # idempotent
        initialized = recorder.wait_for("DNSResolverDidInitialize")
        assert initialized.data.nameservers == [good] == manager.nameservers
        dns_subscribed(get_bus())  # before the events we wait for
        state = manager.set_nameservers([blackhole_nameserver], [good])
        assert state["configured_nameservers"] == [blackhole_nameserver]
        manager.probe()
        deadline = time.monotonic() + 10
        while not any(
            n.name == "DNSNameserversDidChange" and n.data.nameservers == [good]
            for n in recorder.seen
        ):
            assert time.monotonic() < deadline, [(n.name, n.data) for n in recorder.seen]
            time.sleep(0.02)
        assert manager.using_fallback and manager.nameservers == [good]
        with pytest.raises(ValueError, match="not an IP address"):
            manager.set_nameservers(["dns.example.test"])
    finally:
        manager.stop()
        manager.stop()
        recorder.close()
    assert len(recorder.named("DNSResolverDidInitialize")) == 1


def test_service_unavailable(monkeypatch: pytest.MonkeyPatch, dns_service: Path) -> None:
    # Point the process-wide bus at a directory where no service runs.
    empty = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    monkeypatch.setenv("SIPSIMPLE_RUNTIME_DIR", empty)
    monkeypatch.setattr(lookup_module, "BUS_MARGIN", 0.2)
    reset_bus()
    try:
        with pytest.raises(DNSLookupError, match="unavailable") as info:
            DNSLookup().lookup_stun_server(SIPURI("example.test"), lifetime=0.3).wait(10)
        assert info.value.reason == "unavailable"
    finally:
        reset_bus()
        monkeypatch.setenv("SIPSIMPLE_RUNTIME_DIR", str(dns_service))
        shutil.rmtree(empty, ignore_errors=True)


def test_wait_on_the_bus_thread_fails_instead_of_deadlocking(dns: DNSLookup) -> None:
    errors: list[BaseException] = []
    finished = threading.Event()

    class Handler:
        def handle_notification(self, notification: Notification) -> None:
            try:
                DNSLookup().lookup_stun_server(SIPURI("example.test")).wait(5)
            except DNSLookupError as exc:
                errors.append(exc)
            finished.set()

    handler = Handler()
    NotificationCenter().add_observer(handler, name="DNSLookupDidSucceed", sender=dns)
    try:
        dns.lookup_stun_server(SIPURI("example.test"))
        assert finished.wait(10)
        assert errors and "bus thread" in str(errors[0])
    finally:
        NotificationCenter().discard_observer(handler, name="DNSLookupDidSucceed", sender=dns)
