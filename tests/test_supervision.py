"""The services under a real supervisord, as `sipsimple services` and SIPApplication run them."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from sipsimple import supervision
from sipsimple.bus.client import BusClient
from sipsimple.bus.endpoints import bus_services
from sipsimple.bus.schema import ErrorCode, decode_reply
from sipsimple.notification import Notification, NotificationCenter

pytestmark = pytest.mark.integration

# Every service and both media workers (SIPSIMPLE_MEDIA_WORKERS=2, the `two_workers` fixture).
ALL = ("dns", "media", "media-1", "msrp", "signalling")


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")


def test_all_services_and_media_workers_run_and_answer(two_workers: None,
                                                        supervised: Path) -> None:
    states = supervision.status()
    assert [s.name for s in states] == list(ALL) == list(bus_services())
    assert all(s.state == "RUNNING" and s.pid for s in states)
    assert (supervised / "supervisor.sock").exists()
    assert (supervised.stat().st_mode & 0o777) == 0o700
    logs = supervision.log_dir()
    assert {f"{name}.log" for name in ALL} <= {p.name for p in logs.iterdir()}
    client = BusClient(post_notifications=False)
    client.start()
    try:
        pings = {name: client.ping(name) for name in ALL}
    finally:
        client.stop(goodbye=False)
    assert pings["media-1"]["service"] == "media-1"
    assert pings["media"]["load"]["index"] == 0 and pings["media-1"]["load"]["index"] == 1


def test_one_media_worker_when_asked(runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "1")
    supervision.start()
    try:
        assert [s.name for s in supervision.status()] == ["dns", "media", "msrp", "signalling"]
    finally:
        supervision.stop()
    assert not (runtime / "media-workers").exists()


def test_start_is_idempotent(supervised: Path) -> None:
    pids = [s.pid for s in supervision.status()]
    supervision.start()
    assert [s.pid for s in supervision.status()] == pids


class Restarts:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.connected: set[str] = set()
        NotificationCenter().add_observer(self, name="ServiceDidRestart")
        NotificationCenter().add_observer(self, name="ServiceDidConnect")

    def handle_notification(self, notification: Notification) -> None:
        if notification.name == "ServiceDidConnect":
            self.connected.add(notification.data.service)
        else:
            self.seen.append(notification.data.service)

    def close(self) -> None:
        NotificationCenter().remove_observer(self, name="ServiceDidRestart")
        NotificationCenter().remove_observer(self, name="ServiceDidConnect")


def test_sigkill_of_each_service_recovers_with_a_facade_attached(
    two_workers: None, supervised: Path
) -> None:
    restarts = Restarts()
    client = BusClient()
    client.start()
    try:
        deadline = time.monotonic() + 10
        while restarts.connected != set(ALL):  # the facade knows every instance
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for service in ALL:
            before = client.ping(service)
            os.kill(before["pid"], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while service not in restarts.seen:
                assert time.monotonic() < deadline, f"{service} was not restarted"
                time.sleep(0.05)
            after = client.ping(service)  # the same client, never restarted
            assert after["pid"] != before["pid"]
            assert after["instance"] != before["instance"]
        deadline = time.monotonic() + 10  # the last one may still be within startsecs
        while not all(s.state == "RUNNING" for s in supervision.status()):
            assert time.monotonic() < deadline, supervision.status()
            time.sleep(0.1)
    finally:
        restarts.close()
        client.stop()


def test_stop_then_status(supervised: Path) -> None:
    assert supervision.stop() is True
    assert all(s.state == "STOPPED" for s in supervision.status())
    assert supervision.stop() is False
    supervision.start()  # the fixture's teardown stops it again
    assert all(s.state == "RUNNING" for s in supervision.status())


def test_restart(supervised: Path) -> None:
    pids = {s.name: s.pid for s in supervision.status()}
    supervision.restart()
    after = {s.name: s.pid for s in supervision.status()}
    assert all(after[name] != pids[name] for name in bus_services())


def test_a_service_that_cannot_start_is_named(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interpreter that cannot import the services: every program exits at once.
    monkeypatch.setenv("SIPSIMPLE_PYTHON", "/bin/false")
    with pytest.raises(supervision.ServicesError) as info:
        supervision.start(timeout=3)
    message = str(info.value)
    assert "dns" in message and "signalling" in message and "logs in" in message
    supervision.stop()


def test_garbage_on_each_real_service_command_socket(supervised: Path) -> None:
    import random

    import zmq

    from sipsimple.bus import endpoints
    from sipsimple.bus.auth import Credentials

    rng = random.Random(7)
    client = BusClient()
    client.start()
    context = zmq.Context.instance()
    try:
        for service in bus_services():
            before = client.ping(service)
            raw = context.socket(zmq.DEALER)
            raw.setsockopt(zmq.LINGER, 0)
            Credentials.generate().apply(raw, endpoints.command_endpoint(service))
            raw.connect(endpoints.command_endpoint(service))
            payloads = [
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) for _ in range(200)
            ]
            payloads += [b"", b"\x80", b"\xc1" * 10, b"\x00" * (2 << 20)]
            for payload in payloads:
                raw.send(payload)
            for _ in payloads:  # every one is answered with an error reply
                assert raw.poll(10_000)
                reply = decode_reply(raw.recv())
                assert reply.error is not None, (service, reply)
                assert reply.error.code in (
                    ErrorCode.BAD_MESSAGE, ErrorCode.TOO_LARGE, ErrorCode.UNSUPPORTED_VERSION
                ), reply
            raw.close()
            after = client.ping(service)
            assert after["pid"] == before["pid"], f"{service} restarted"
    finally:
        client.stop()
