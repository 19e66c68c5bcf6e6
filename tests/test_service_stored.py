"""Services read the stored configuration at start and whenever it changes.

Unit tests of `sipsimple_services.common.stored` (which values, the precedence
of the layers, noticing a change), then the real thing: settings stored with
`sipsimple config set` under an XDG_CONFIG_HOME of the test's own, services
started with `sipsimple services start` (supervisord), and a SIP peer (a raw
socket) or `sipsimple lookup` seeing them take effect.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness.cli import run_console_script
from harness.notifications import Recorder
from harness.sipp import free_ports

from sipsimple import supervision
from sipsimple.bus.client import BusClient
from sipsimple.configuration.datatypes import NameserverList, Port
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig

STORED = StoredConfig({
    "udp_port": ("sip.udp_port", Port),
    "nameservers": ("dns.nameservers", NameserverList),
})


# --- unit ----------------------------------------------------------------------


def test_stored_values_are_converted_and_bad_ones_left_out() -> None:
    data = {"SIPSimpleSettings": {"sip": {"udp_port": "5070"},
                                  "dns": {"nameservers": ["127.0.0.1:53", "::1"]}}}
    values = STORED.values(data)
    assert values["udp_port"] == 5070
    assert [str(n) for n in values["nameservers"]] == ["127.0.0.1:53", "[::1]"]
    assert STORED.values({"SIPSimpleSettings": {"sip": {"udp_port": "70000"}}}) == {}
    assert STORED.values({"SIPSimpleSettings": {"sip": "not a group"}}) == {}
    assert STORED.values({"Accounts": {}}) == {}


def test_read_keeps_the_previous_values_when_the_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "config"
    assert STORED.read(path) == {}  # no file: nothing stored
    path.write_text("SIPSimpleSettings:\n    sip:\n        udp_port = 5071\n")
    assert STORED.read(path) == {"udp_port": 5071}
    path.write_text('SIPSimpleSettings:\n    sip:\n        udp_port = "unterminated\n')
    assert STORED.read(path) is None


def test_file_watch_sees_atomic_replacement_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "config"
    watch = FileWatch(path)
    assert not watch.changed()
    path.write_text("a")
    assert watch.changed() and not watch.changed()
    replacement = tmp_path / "new"
    replacement.write_text("a")  # same size and possibly the same mtime: a new inode
    os.replace(replacement, path)
    assert watch.changed()
    path.unlink()
    assert watch.changed() and not watch.changed()


def test_layers_precedence_and_the_latest_change_wins() -> None:
    layers = Layers(environment={"tcp_port": 6000}, stored={"udp_port": 5070, "tcp_port": 5071})
    assert layers.values() == {"udp_port": 5070, "tcp_port": 6000}  # environment over stored
    assert layers.values({"udp_port": 1}) == {"udp_port": 1, "tcp_port": 6000}  # a preview
    assert layers.values()["udp_port"] == 5070
    layers.override("app", {"udp_port": 5080, "tcp_port": 5081})
    assert layers.values() == {"udp_port": 5080, "tcp_port": 5081}
    # A stored change of an unrelated setting leaves the override.
    assert layers.set_stored({"udp_port": 5070, "tcp_port": 5071, "tls_port": 5072}) == {
        "tls_port"}
    assert layers.values()["udp_port"] == 5080
    # A stored change of the setting ends the override (the latest change wins);
    # the environment still pins tcp_port, so that override stays.
    assert layers.set_stored({"udp_port": 5090, "tcp_port": 7000}) == {
        "udp_port", "tcp_port", "tls_port"}
    assert layers.values() == {"udp_port": 5090, "tcp_port": 5081}
    layers.drop("tcp_port", "someone else")
    assert layers.values()["tcp_port"] == 5081
    assert layers.drop_client("app") and not layers.drop_client("app")
    assert layers.values() == {"udp_port": 5090, "tcp_port": 6000}


# --- with the real services ----------------------------------------------------

pytest_integration = pytest.mark.integration


sipsimple = run_console_script


def ok(*args: str) -> str:
    done = sipsimple(*args)
    assert done.returncode == 0, f"sipsimple {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture
def services(runtime: Path, config_home: Path) -> Iterator[Callable[[], None]]:
    """`sipsimple services start` when the test calls it; stopped at teardown."""
    def start() -> None:
        ok("services", "start")

    yield start
    sipsimple("services", "stop")


def options(port: int, transport: str = "udp") -> bytes:
    """One OPTIONS from a raw socket; the first bytes of the answer."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(10)
        if transport == "udp":
            sock.bind(("127.0.0.1", 0))
        else:
            sock.connect(("127.0.0.1", port))
        local = sock.getsockname()[1]
        branch = os.urandom(6).hex()
        request = (
            f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport.upper()} 127.0.0.1:{local};branch=z9hG4bK{branch}\r\n"
            "Max-Forwards: 70\r\nTo: <sip:probe@127.0.0.1>\r\n"
            "From: <sip:raw@127.0.0.1>;tag=r1\r\n"
            f"Call-ID: stored-{branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        if transport == "udp":
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(65535)
        else:
            sock.sendall(request)
            data = sock.recv(65535)
    return data


def transports() -> dict[str, int]:
    snapshot: dict[str, Any] = json.loads(ok("status", "--json"))["signalling"]
    return {t["transport"]: t["port"] for t in snapshot["transports"]}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


@pytest_integration
def test_stored_sip_ports_apply_at_start_and_when_changed(
    services: Callable[[], None], config_home: Path
) -> None:
    udp = free_ports(kinds=(socket.SOCK_DGRAM,))
    tcp = free_ports(kinds=(socket.SOCK_STREAM,))
    ok("config", "set", "sip.udp_port", str(udp))
    ok("config", "set", "sip.tcp_port", str(tcp))
    assert (config_home / "sipsimple" / "config").exists()
    services()
    assert options(udp).startswith(b"SIP/2.0 200 ")
    assert options(tcp, "tcp").startswith(b"SIP/2.0 200 ")
    assert transports() == {"udp": udp, "tcp": tcp}
    # Changed while the services run: the transport is rebound, status shows it.
    moved = free_ports(kinds=(socket.SOCK_DGRAM,))
    ok("config", "set", "sip.udp_port", str(moved))
    wait_for(lambda: transports().get("udp") == moved, f"UDP on {moved}")
    assert options(moved).startswith(b"SIP/2.0 200 ")
    assert transports()["tcp"] == tcp  # untouched
    assert f"udp 127.0.0.1:{moved}" in ok("status")
    # A port that is taken: logged, and the transports in use stay.
    log = supervision.log_dir() / "signalling.log"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        ok("config", "set", "sip.udp_port", str(taken.getsockname()[1]))
        wait_for(lambda: "keeping the SIP transports" in log.read_text(), "the error in the log")
    assert transports() == {"udp": moved, "tcp": tcp}
    assert options(moved).startswith(b"SIP/2.0 200 ")


@pytest_integration
def test_an_environment_port_wins_over_the_stored_one(
    services: Callable[[], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored, pinned = (free_ports(kinds=(socket.SOCK_DGRAM,)) for _ in range(2))
    ok("config", "set", "sip.udp_port", str(stored))
    monkeypatch.setenv("SIPSIMPLE_SIP_UDP_PORT", str(pinned))
    services()
    assert transports()["udp"] == pinned
    assert options(pinned).startswith(b"SIP/2.0 200 ")


def nameservers() -> dict[str, Any]:
    client = BusClient(services=["dns"], post_notifications=False)
    client.start()
    try:
        state: dict[str, Any] = client.call("dns", "get_nameservers", timeout=5)
        return state
    finally:
        client.stop()


def lookup(name: str) -> list[tuple[str, int]]:
    routes = json.loads(ok("lookup", "sip", name, "-t", "udp", "--json"))
    return [(r["address"], r["port"]) for r in routes]


@pytest_integration
def test_stored_nameservers_for_lookup_and_back_after_an_application(
    services: Callable[[], None], monkeypatch: pytest.MonkeyPatch, dnsmasq: int,
    blackhole_nameserver: str,
) -> None:
    from sipsimple.application import SIPApplication
    from sipsimple.storage import MemoryStorage

    monkeypatch.delenv("SIPSIMPLE_DNS_NAMESERVERS")  # the session's: it would win
    monkeypatch.setenv("SIPSIMPLE_DNS_PROBE_NAME", "probe.test")  # dnsmasq has no upstream
    stored = f"127.0.0.1:{dnsmasq}"
    ok("config", "set", "dns.nameservers", stored + ",")
    services()
    assert nameservers()["configured_nameservers"] == [stored]
    assert lookup("srvonly.test") == [("127.0.0.3", 5070)]

    # An application with settings of its own (not the stored file) overrides
    # them while it runs, and only while it runs.
    storage = MemoryStorage()
    storage.configuration_backend.save(
        {"SIPSimpleSettings": {"dns": {"nameservers": [blackhole_nameserver]}}})
    app = SIPApplication()
    recorder = Recorder("SIPApplicationDidStart", "SIPApplicationDidEnd")
    try:
        app.start(storage)
        recorder.wait("SIPApplicationDidStart")
        assert nameservers()["configured_nameservers"] == [blackhole_nameserver]
        app.stop()
        recorder.wait("SIPApplicationDidEnd")
    finally:
        if app.state not in (None, "stopped"):
            app.stop()
            recorder.wait("SIPApplicationDidEnd")
        recorder.close()
    wait_for(lambda: nameservers()["configured_nameservers"] == [stored], "the stored nameservers")
    assert lookup("srvonly.test") == [("127.0.0.3", 5070)]

    # Changed with the CLI while no application runs: the service follows.
    ok("config", "set", "dns.nameservers", blackhole_nameserver + ",")
    wait_for(lambda: nameservers()["configured_nameservers"] == [blackhole_nameserver],
             "the changed nameservers")
    # Emptied: the system's nameservers again.
    ok("config", "set", "dns.nameservers", ",")
    wait_for(lambda: nameservers()["configured_nameservers"] != [blackhole_nameserver],
             "the system's nameservers")
    assert all(s.state == "RUNNING" for s in supervision.status())


@pytest_integration
def test_a_client_port_override_ends_with_the_client(services: Callable[[], None]) -> None:
    stored, override = (free_ports(kinds=(socket.SOCK_DGRAM,)) for _ in range(2))
    ok("config", "set", "sip.udp_port", str(stored))
    services()
    client = BusClient(services=["signalling"], post_notifications=False)
    client.start()
    try:
        changed = client.call("signalling", "configure", udp_port=override, timeout=10)
        assert changed["udp"] == override and transports()["udp"] == override
        assert options(override).startswith(b"SIP/2.0 200 ")
    finally:
        client.stop()  # says goodbye: its override goes with it
    wait_for(lambda: transports().get("udp") == stored, f"UDP back on {stored}")
    assert options(stored).startswith(b"SIP/2.0 200 ")


def media_settings() -> dict[str, Any]:
    client = BusClient(services=["media"], post_notifications=False)
    client.start()
    try:
        state: dict[str, Any] = client.call("media", "configure", timeout=5)  # changes nothing
        return {key: state[key] for key in ("port_range", "rtp_timeout")}
    finally:
        client.stop()


@pytest_integration
def test_stored_rtp_settings_and_an_application_of_its_own(services: Callable[[], None]) -> None:
    from sipsimple.application import SIPApplication
    from sipsimple.storage import MemoryStorage

    ok("config", "set", "rtp.port_range", "40000-40100")
    ok("config", "set", "rtp.timeout", "12")
    services()
    assert media_settings() == {"port_range": [40000, 40100], "rtp_timeout": 12}
    storage = MemoryStorage()
    storage.configuration_backend.save(
        {"SIPSimpleSettings": {"rtp": {"port_range": "41000-41010", "timeout": "5"}}})
    app = SIPApplication()
    recorder = Recorder("SIPApplicationDidStart", "SIPApplicationDidEnd")
    try:
        app.start(storage)
        recorder.wait("SIPApplicationDidStart")
        assert media_settings() == {"port_range": [41000, 41010], "rtp_timeout": 5}
        # The stored value changed by someone else meanwhile: the latest change wins.
        ok("config", "set", "rtp.timeout", "13")
        wait_for(lambda: media_settings()["rtp_timeout"] == 13, "the stored timeout")
        assert media_settings()["port_range"] == [41000, 41010]
        app.stop()
        recorder.wait("SIPApplicationDidEnd")
    finally:
        if app.state not in (None, "stopped"):
            app.stop()
            recorder.wait("SIPApplicationDidEnd")
        recorder.close()
    wait_for(lambda: media_settings() == {"port_range": [40000, 40100], "rtp_timeout": 13},
             "the stored RTP settings")


@pytest_integration
def test_a_change_while_an_application_on_the_stored_file_runs(
    services: Callable[[], None], monkeypatch: pytest.MonkeyPatch, dnsmasq: int,
    blackhole_nameserver: str,
) -> None:
    from sipsimple import directories
    from sipsimple.application import SIPApplication
    from sipsimple.storage import FileStorage

    monkeypatch.delenv("SIPSIMPLE_DNS_NAMESERVERS")  # the session's: it would win
    stored = f"127.0.0.1:{dnsmasq}"
    ok("config", "set", "dns.nameservers", stored + ",")
    services()
    app = SIPApplication()
    recorder = Recorder("SIPApplicationDidStart", "SIPApplicationDidEnd")
    try:
        app.start(FileStorage(directories.config_dir()))
        recorder.wait("SIPApplicationDidStart")
        assert nameservers()["configured_nameservers"] == [stored]
        # Changed by the CLI while the application runs: nothing of the
        # application's stands in the way.
        ok("config", "set", "dns.nameservers", blackhole_nameserver + ",")
        wait_for(lambda: nameservers()["configured_nameservers"] == [blackhole_nameserver],
                 "the changed nameservers")
        app.stop()
        recorder.wait("SIPApplicationDidEnd")
    finally:
        if app.state not in (None, "stopped"):
            app.stop()
            recorder.wait("SIPApplicationDidEnd")
        recorder.close()
    assert nameservers()["configured_nameservers"] == [blackhole_nameserver]
