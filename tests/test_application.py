"""SIPApplication against the real services, started under supervisord on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.fixtures import stop_application
from harness.notifications import Recorder

from sipsimple import supervision
from sipsimple.application import SIPApplication, SIPApplicationError
from sipsimple.configuration import ConfigurationError
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.storage import FileStorage, MemoryStorage

pytestmark = pytest.mark.integration

APP_NOTIFICATIONS = (
    "SIPApplicationWillStart",
    "SIPApplicationDidStart",
    "SIPApplicationWillEnd",
    "SIPApplicationDidEnd",
    "DNSResolverDidInitialize",
)


@pytest.fixture
def app(runtime: Path) -> Iterator[SIPApplication]:
    application = SIPApplication()
    yield application
    stop_application(application)


def test_start_brings_the_services_up_and_stop_ends_cleanly(app: SIPApplication) -> None:
    assert all(s.state == "STOPPED" for s in supervision.status())
    recorder = Recorder(*APP_NOTIFICATIONS)
    try:
        app.start(MemoryStorage())
        assert app.running and app.storage is not None
        recorder.wait("SIPApplicationDidStart")
        recorder.wait("DNSResolverDidInitialize")
        assert recorder.names.index("SIPApplicationWillStart") < recorder.names.index(
            "SIPApplicationDidStart"
        )
        assert app.state == "started"
        assert all(s.state == "RUNNING" for s in supervision.status())
        with pytest.raises(SIPApplicationError):
            app.start(MemoryStorage())
        app.stop()
        assert not app.running
        recorder.wait("SIPApplicationDidEnd")
        assert recorder.names.index("SIPApplicationWillEnd") < recorder.names.index(
            "SIPApplicationDidEnd"
        )
        assert app.state == "stopped"
        for notification in recorder.seen:
            assert notification.sender is app or notification.name.startswith("DNS")
            assert notification.data.timestamp is not None
        # The services outlive the application.
        assert all(s.state == "RUNNING" for s in supervision.status())
    finally:
        recorder.close()


def test_a_configuration_error_propagates_and_start_can_be_retried(
    app: SIPApplication, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "config-dir")
    config = Path(storage.configuration_file)
    config.write_text('sip:\n  invite_timeout = "unterminated\n')
    with pytest.raises(ConfigurationError) as info:
        app.start(storage)
    assert str(config) in str(info.value)
    assert app.state in (None, "stopped") and not app.running
    assert config.read_text() == 'sip:\n  invite_timeout = "unterminated\n'  # left alone
    config.write_text("")
    recorder = Recorder(*APP_NOTIFICATIONS)
    try:
        app.start(storage)
        recorder.wait("SIPApplicationDidStart")
    finally:
        recorder.close()


def test_singleton_and_shared_attributes(runtime: Path) -> None:
    class MyApplication(SIPApplication):
        pass

    assert SIPApplication() is SIPApplication()
    assert MyApplication().running is SIPApplication().running
    SIPApplication.local_nat_type = "symmetric"
    try:
        assert MyApplication().local_nat_type == "symmetric"
    finally:
        SIPApplication.local_nat_type = "unknown"


def test_storage_must_implement_the_interface(app: SIPApplication) -> None:
    with pytest.raises(TypeError):
        app.start(object())  # type: ignore[arg-type]
    assert app.state in (None, "stopped")


def test_stop_right_after_start_leaves_nothing_running(app: SIPApplication) -> None:
    recorder = Recorder(*APP_NOTIFICATIONS)
    try:
        app.start(MemoryStorage())
        app.stop()
        recorder.wait("SIPApplicationDidEnd")
        names = recorder.names
        assert names[0] == "SIPApplicationWillStart" and names[-1] == "SIPApplicationDidEnd"
        if "SIPApplicationDidStart" in names:  # start finished before stop took effect
            assert names.index("SIPApplicationDidStart") < names.index("SIPApplicationDidEnd")
        assert app.state == "stopped"
        from sipsimple.lookup import DNSManager

        assert not DNSManager()._running  # its component was stopped, not left behind
    finally:
        recorder.close()


def kill_the_dns_service() -> None:
    """SIGKILL the DNS service and return once the facade has seen its restart (observed
    on the bus's own notifications, so after the application's observer ran)."""
    import os
    import signal

    from sipsimple.bus.client import get_bus

    bus = get_bus()
    deadline = time.monotonic() + 10
    while not bus.state["dns"].instance:  # the facade knows the instance it kills
        assert time.monotonic() < deadline
        time.sleep(0.02)
    restarted = threading.Event()

    class Restart:
        def handle_notification(self, notification: Notification) -> None:
            if notification.name == "ServiceDidRestart" and notification.data.service == "dns":
                restarted.set()

    watcher = Restart()
    NotificationCenter().add_observer(watcher, sender=bus)
    try:
        os.kill(bus.ping("dns")["pid"], signal.SIGKILL)
        assert restarted.wait(30), "the DNS service was not restarted"
    finally:
        NotificationCenter().discard_observer(watcher, sender=bus)


def test_dns_settings_survive_a_dns_service_crash(
    app: SIPApplication, tmp_path: Path, dnsmasq: int
) -> None:
    from sipsimple.core import SIPURI
    from sipsimple.lookup import DNSLookup

    storage = FileStorage(tmp_path / "config-dir")
    # The services' environment points DNS at a dead port; the setting must win.
    Path(storage.configuration_file).write_text(
        f"SIPSimpleSettings:\n    dns:\n        nameservers = 127.0.0.1:{dnsmasq},\n"
    )
    recorder = Recorder(*APP_NOTIFICATIONS)
    try:
        app.start(storage)
        recorder.wait("SIPApplicationDidStart")
        uri = SIPURI.parse("sip:srvonly.test")
        routes = DNSLookup().lookup_sip_proxy(uri, ["udp"]).wait(10)
        assert [(r.address, r.port) for r in routes] == [("127.0.0.3", 5070)]
        kill_the_dns_service()
        deadline = time.monotonic() + 10
        while True:  # the settings are re-applied shortly after the restart
            try:
                routes = DNSLookup().lookup_sip_proxy(uri, ["udp"]).wait(10)
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert [(r.address, r.port) for r in routes] == [("127.0.0.3", 5070)]
    finally:
        recorder.close()


def test_a_restarted_dns_service_gets_the_applications_lists_and_keeps_its_fallback(
    app: SIPApplication, dnsmasq: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sipsimple.bus.client import get_bus
    from sipsimple.configuration.settings import SIPSimpleSettings

    # The service's own fallback (its environment); the application sets no fallback
    # list, so neither a settings change nor a restart may replace it with "none".
    monkeypatch.setenv("SIPSIMPLE_DNS_FALLBACK_NAMESERVERS", "127.0.0.1:9")
    recorder = Recorder(*APP_NOTIFICATIONS)

    def lists_become(nameservers: list[str]) -> dict[str, list[str]]:
        deadline = time.monotonic() + 20
        while True:
            state = get_bus().call("dns", "get_nameservers")
            if [str(n) for n in state["nameservers"]] == nameservers:
                return state
            assert time.monotonic() < deadline, state
            time.sleep(0.1)

    try:
        app.start(MemoryStorage())
        recorder.wait("SIPApplicationDidStart")
        settings = SIPSimpleSettings()
        settings.dns.nameservers = [f"127.0.0.1:{dnsmasq}"]
        settings.save()
        ours = [f"127.0.0.1:{dnsmasq}"]
        assert [str(n) for n in lists_become(ours)["fallback_nameservers"]] == ["127.0.0.1:9"]
        kill_the_dns_service()
        state = lists_become(ours)  # pushed again, in one request with the fallback
        assert [str(n) for n in state["fallback_nameservers"]] == ["127.0.0.1:9"]
    finally:
        recorder.close()


def test_a_dns_service_restart_gets_what_the_start_pushed(
    app: SIPApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An application on its own storage pushes the dns settings at start, and again to
    a restarted DNS service: the same push, so the service's default fallback
    nameservers stay and it holds no override it did not hold."""
    from sipsimple.bus.client import get_bus

    monkeypatch.setenv("SIPSIMPLE_DNS_FALLBACK_NAMESERVERS", "127.0.0.2:53")
    recorder = Recorder(*APP_NOTIFICATIONS)
    try:
        app.start(MemoryStorage())
        recorder.wait("SIPApplicationDidStart")
        bus = get_bus()
        started = bus.call("dns", "get_nameservers")
        assert started["fallback_nameservers"] == ["127.0.0.2"]
        owned = bus.call("dns", "resources")["objects"]["client_objects"]
        kill_the_dns_service()
        for thread in threading.enumerate():  # the push, started before the restart was seen
            if thread.name == "sipsimple-dns-settings":
                thread.join(30)
        assert bus.call("dns", "get_nameservers")["fallback_nameservers"] == ["127.0.0.2"]
        assert bus.call("dns", "resources")["objects"]["client_objects"] == owned
    finally:
        recorder.close()


def test_stop_ends_the_sessions_first(app: SIPApplication) -> None:
    from harness.streams import ProbeStream

    from sipsimple.account import Account, AccountManager
    from sipsimple.bus.client import get_bus
    from sipsimple.core import SIPURI, Route, ToHeader
    from sipsimple.session import Session, SessionManager

    recorder = Recorder(*APP_NOTIFICATIONS, "SIPSessionNewIncoming", "SIPSessionDidStart",
                        "SIPSessionDidEnd")
    try:
        app.start(MemoryStorage())
        recorder.wait("SIPApplicationDidStart")
        assert AccountManager().started and SessionManager().started
        accounts = []
        for name in ("alice", "bob"):
            account = Account(f"{name}@sip.test")
            account.enabled = True
            account.sip.register = False
            account.save()
            accounts.append(account)
        deadline = time.monotonic() + 10
        while len(get_bus().call("signalling", "status")["accounts"]) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = get_bus().call("signalling", "get_transports")["udp"]
        session = Session(accounts[0])
        session.connect(ToHeader(SIPURI(user="bob", host="sip.test")),
                        [Route("127.0.0.1", port, "udp")], [ProbeStream(accounts[0])])
        new = recorder.wait("SIPSessionNewIncoming")
        new.sender.accept(new.data.streams)
        recorder.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
        recorder.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is new.sender)
        app.stop()
        recorder.wait("SIPApplicationDidEnd")
        ended = [n for n in recorder.seen if n.name == "SIPSessionDidEnd"]
        assert {n.sender for n in ended} == {session, new.sender}
        assert all(recorder.seen.index(n) < recorder.names.index("SIPApplicationDidEnd")
                   for n in ended)
        assert not SessionManager().started and not AccountManager().started
        assert get_bus().call("signalling", "status")["sessions"] == []
    finally:
        recorder.close()
