"""sipsimple.network.monitor: the polling thread and its notifications (a fake clock and reader)."""

from __future__ import annotations

import threading

from harness.notifications import Recorder

from sipsimple.application import SIPApplication
from sipsimple.network.monitor import NetworkMonitor, default_addresses


class Readings:
    def __init__(self, **families: str | None) -> None:
        self.values = dict(families)
        self.now = 0.0
        self.reads = 0
        self.lock = threading.Lock()

    def read(self) -> dict[str, str | None]:
        with self.lock:
            self.reads += 1
            return dict(self.values)

    def clock(self) -> float:
        return self.now


def test_poll_posts_the_change_once_it_settled() -> None:
    readings = Readings(ipv4="10.0.0.2", ipv6=None)
    monitor = NetworkMonitor(readings.read, interval=3600, settle=5, clock=readings.clock)
    with Recorder("SystemIPAddressDidChange", "NetworkConditionsDidChange") as recorder:
        monitor.start()
        try:
            readings.values["ipv4"] = "10.0.0.3"
            readings.now = 1
            assert monitor.poll() == []
            readings.now = 6
            [change] = monitor.poll()
            assert (change.old, change.new) == ("10.0.0.2", "10.0.0.3")
            readings.now = 20
            assert monitor.poll() == []
        finally:
            monitor.stop()
    assert recorder.names == ["SystemIPAddressDidChange", "NetworkConditionsDidChange"]
    ip, network = recorder.seen
    assert ip.sender is monitor
    assert (ip.data.old_ip_address, ip.data.new_ip_address) == ("10.0.0.2", "10.0.0.3")
    assert network.sender is SIPApplication()


def test_the_thread_polls_until_stopped() -> None:
    readings = Readings(ipv4="10.0.0.2")
    monitor = NetworkMonitor(readings.read, interval=0.01, settle=0, clock=readings.clock)
    with Recorder("NetworkConditionsDidChange") as recorder:
        monitor.start()
        try:
            readings.values["ipv4"] = "10.0.0.9"
            recorder.wait("NetworkConditionsDidChange", timeout=30)
        finally:
            monitor.stop()
    reads = readings.reads
    assert monitor._thread is None
    assert readings.reads == reads  # nothing read after stop returned


def test_a_failing_reader_is_logged_and_the_monitor_goes_on() -> None:
    calls = iter([{"ipv4": "10.0.0.2"}, RuntimeError("boom"), {"ipv4": "10.0.0.5"}])

    def read() -> dict[str, str | None]:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    monitor = NetworkMonitor(read, interval=3600, settle=0, clock=lambda: 0.0)
    monitor.start()
    try:
        assert monitor.poll() == []
        [change] = monitor.poll()
        assert change.new == "10.0.0.5"
    finally:
        monitor.stop()


def test_default_addresses_read_the_kernel_without_sending() -> None:
    addresses = default_addresses()
    assert set(addresses) == {"ipv4", "ipv6"}
    assert all(a is None or isinstance(a, str) for a in addresses.values())
