"""`sipsimple status` as a subprocess, with the services down and under supervisord.

With the services running, the test process is a bus client of the signalling
service: it claims accounts, holds a registration with Kamailio and has an
INVITE waiting for an answer while the command looks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder

from sipsimple.bus.client import get_bus

pytestmark = pytest.mark.integration

COMMAND = [sys.executable, "-c", "from sipsimple.cli.main import main; main()"]
SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, "status", *args], capture_output=True, text=True,
                          timeout=60, env=os.environ.copy())


def test_services_down(runtime: Path) -> None:
    result = status("--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert {s["service"] for s in shown["services"]} == {"dns", "signalling", "media", "msrp"}
    assert {s["state"] for s in shown["services"]} == {"STOPPED"}
    assert shown["signalling"] is None and "signalling" in shown["error"]
    text = status()
    assert text.returncode == 0
    assert text.stdout.splitlines()[-1].startswith("signalling: no status (")


def test_registration_and_dialog(kamailio: Kamailio, supervised: Path) -> None:
    bus = get_bus()
    for user in ("alice", "bob"):
        bus.call("signalling", "claim_account", aor=kamailio.aor(user))
    with Recorder() as events:
        rid = bus.call(
            "signalling", "register", aor=kamailio.aor("alice"),
            registrar={"host": "127.0.0.1", "port": kamailio.udp_port, "transport": "udp"},
            expires=300,
            credentials={"username": "alice", "password": kamailio.password("alice")},
        )["registration_id"]
        events.wait(lambda n: n.name == "signalling.registration_succeeded"
                    and n.data.registration_id == rid)
        ports: dict[str, Any] = bus.call("signalling", "get_transports")
        caller = bus.call(
            "signalling", "invite", from_uri=kamailio.aor("alice"), to_uri=kamailio.aor("bob"),
            body=SDP, route={"host": "127.0.0.1", "port": ports["udp"], "transport": "udp"},
        )["session_id"]
        callee = events.wait("signalling.session_incoming").data.session_id

        result = status("--json")
        assert result.returncode == 0, result.stderr
        shown = json.loads(result.stdout)
        assert shown["error"] is None
        assert all(s["answers"] for s in shown["services"])
        snapshot = shown["signalling"]
        assert {a["aor"] for a in snapshot["accounts"]} == {"sip:alice@sip.test",
                                                           "sip:bob@sip.test"}
        [registration] = snapshot["registrations"]
        assert registration["registration_id"] == rid
        assert (registration["aor"], registration["state"]) == ("sip:alice@sip.test",
                                                                "registered")
        assert registration["registrar"]["port"] == kamailio.udp_port
        assert {s["session_id"]: s["direction"] for s in snapshot["sessions"]} == {
            caller: "outgoing", callee: "incoming"}
        held = {s["service"]: s["resources"] for s in shown["services"]}
        assert held["signalling"]["objects"]["sessions"] == 2
        assert held["signalling"]["objects"]["registrations"] == 1
        for service in held.values():  # bus sockets, the ZAP handler, the loops
            assert service["descriptors"] > 0 and service["zmq_sockets"] >= 3
            assert service["threads"] >= 1 and service["greenlets"] >= 3
            assert service["rss"] > 0 and service["clients"] >= 1

        text = status()
        assert text.returncode == 0, text.stderr
        lines = text.stdout.splitlines()
        assert "Registrations:" in lines and "Sessions (dialogs):" in lines
        shown_objects = lines[lines.index("Resources:") + 2:]
        assert any(line.split()[0] == "signalling" and "sessions 2" in line
                   for line in shown_objects)
        accounts = lines[lines.index("Accounts (claimed by clients):") + 2:]
        assert accounts[0].split() == ["sip:alice@sip.test", "registered"]
        assert accounts[1].split() == ["sip:bob@sip.test", "not", "registered"]
        assert any(line.split()[:3] == [callee, "incoming", "incoming"] for line in lines)
        assert any(rid in line and f"udp:127.0.0.1:{kamailio.udp_port}" in line
                   for line in lines)

        bus.call("signalling", "end", session_id=caller)
        bus.call("signalling", "unregister", registration_id=rid)
        events.wait(lambda n: n.name == "signalling.registration_ended"
                    and n.data.registration_id == rid)
    shown = json.loads(status("--json").stdout)
    assert shown["signalling"]["registrations"] == []
    [signalling] = [s["resources"] for s in shown["services"] if s["service"] == "signalling"]
    assert signalling["objects"]["sessions"] == signalling["objects"]["registrations"] == 0


@pytest.fixture
def two_media_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")


def test_each_media_workers_streams_and_load(two_media_workers: None, supervised: Path) -> None:
    bus = get_bus()
    streams = [bus.call("media-1", "create_stream", address="127.0.0.1") for _ in range(2)]
    streams.append(bus.call("media", "create_stream", address="127.0.0.1"))
    shown = json.loads(status("--json").stdout)
    workers = {w["worker"]: w for w in shown["media_workers"]}
    assert list(workers) == ["media", "media-1"]
    assert (workers["media"]["streams"], workers["media-1"]["streams"]) == (1, 2)
    assert workers["media-1"]["pid"] == next(
        s["pid"] for s in shown["services"] if s["service"] == "media-1")
    for worker in workers.values():
        assert worker["ports"] == 0 and worker["busy"] >= 0 and worker["cpu"] >= 0
    lines = status().stdout.splitlines()
    rows = lines[lines.index("Media workers:") + 2:][:2]
    assert [row.split()[:3] for row in rows] == [["media", "1", "0"], ["media-1", "2", "0"]]
    for stream in streams:
        bus.call("media-1" if stream is not streams[-1] else "media", "end_stream",
                 stream_id=stream["stream_id"])
