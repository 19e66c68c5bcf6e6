"""The signalling service's read-only ``status`` method, against a real service and Kamailio.

The test is the bus client: what it claims, registers and calls shows up in
the snapshot, and goes away from it when it ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.signalling import signalling_transports

from sipsimple.bus.client import ServiceError, get_bus
from sipsimple.notification import Notification

pytestmark = pytest.mark.integration

SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service)


def of(name: str, key: str, value: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == f"signalling.{name}" and getattr(n.data, key) == value


def status() -> dict[str, Any]:
    result: dict[str, Any] = get_bus().call("signalling", "status")
    return result


def test_idle_service(ports: dict[str, Any]) -> None:
    snapshot = status()
    assert snapshot["accounts"] == snapshot["registrations"] == []
    assert snapshot["sessions"] == snapshot["subscriptions"] == []
    udp = {"transport": "udp", "host": ports["host"], "port": ports["udp"]}
    assert udp in snapshot["transports"]


def test_unknown_parameter_is_refused(ports: dict[str, Any]) -> None:
    with pytest.raises(ServiceError, match="unknown parameter"):
        get_bus().call("signalling", "status", verbose=True)


def test_registration_and_accounts(kamailio: Kamailio, ports: dict[str, Any],
                                   events: Recorder) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=kamailio.aor("alice"))
    rid = bus.call(
        "signalling", "register", aor=kamailio.aor("alice"),
        registrar={"host": "127.0.0.1", "port": kamailio.udp_port, "transport": "udp"},
        expires=300, credentials={"username": "alice", "password": kamailio.password("alice")},
    )["registration_id"]
    events.wait(of("registration_succeeded", "registration_id", rid))
    snapshot = status()
    client = snapshot["accounts"][0]["client"]
    assert snapshot["accounts"] == [
        {"aor": "sip:alice@sip.test", "client": client, "options": False, "any_user": False}]
    [registration] = snapshot["registrations"]
    assert registration == {
        "registration_id": rid, "aor": "sip:alice@sip.test",
        "registrar": {"host": "127.0.0.1", "port": kamailio.udp_port, "transport": "udp"},
        "state": "registered", "expires": 300, "contact": registration["contact"],
        "client": client,
    }
    assert f"127.0.0.1:{ports['udp']}" in registration["contact"]

    bus.call("signalling", "unregister", registration_id=rid)
    events.wait(of("registration_ended", "registration_id", rid))
    bus.call("signalling", "release_account", aor=kamailio.aor("alice"))
    snapshot = status()
    assert snapshot["registrations"] == snapshot["accounts"] == []


def test_sessions_in_both_directions(ports: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor="sip:bob@127.0.0.1")
    caller = bus.call(
        "signalling", "invite", from_uri="sip:alice@127.0.0.1", to_uri="sip:bob@127.0.0.1",
        body=SDP, route={"host": "127.0.0.1", "port": ports["tcp"], "transport": "tcp"},
    )["session_id"]
    callee = events.wait("signalling.session_incoming").data.session_id
    sessions = {s["session_id"]: s for s in status()["sessions"]}
    assert set(sessions) == {caller, callee}
    outgoing, incoming = sessions[caller], sessions[callee]
    assert outgoing["direction"] == "outgoing" and incoming["direction"] == "incoming"
    assert outgoing["call_id"] == incoming["call_id"] is not None
    assert outgoing["local"] == incoming["remote"] == "sip:alice@127.0.0.1"
    assert outgoing["remote"] == incoming["local"] == "sip:bob@127.0.0.1"
    assert outgoing["transport"] == incoming["transport"] == "tcp"
    assert incoming["state"] == "incoming"
    assert outgoing["state"] in ("calling", "proceeding")

    bus.call("signalling", "accept", session_id=callee, body=SDP)
    for sid in (caller, callee):
        events.wait(of("session_established", "session_id", sid))
    assert {s["state"] for s in status()["sessions"]} == {"connected"}
    bus.call("signalling", "end", session_id=caller)
    for sid in (caller, callee):
        events.wait(of("session_ended", "session_id", sid))
    assert status()["sessions"] == []


def test_subscriptions_in_both_directions(ports: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor="sip:bob@127.0.0.1")
    sid = bus.call(
        "signalling", "subscribe", from_uri="sip:alice@127.0.0.1", to_uri="sip:bob@127.0.0.1",
        event="presence", route={"host": "127.0.0.1", "port": ports["udp"], "transport": "udp"},
    )["subscription_id"]
    nid = events.wait("signalling.subscription_incoming").data.subscription_id
    subscriptions = {s["subscription_id"]: s for s in status()["subscriptions"]}
    assert set(subscriptions) == {sid, nid}
    outgoing, incoming = subscriptions[sid], subscriptions[nid]
    assert outgoing["direction"] == "outgoing" and incoming["direction"] == "incoming"
    assert outgoing["event"] == incoming["event"] == "presence"
    assert outgoing["local"] == incoming["remote"] == "sip:alice@127.0.0.1"
    assert outgoing["remote"] == incoming["local"] == "sip:bob@127.0.0.1"
    assert incoming["state"] == "incoming"

    bus.call("signalling", "reject_subscription", subscription_id=nid, code=403)
    events.wait(of("subscription_failed", "subscription_id", sid))
    assert status()["subscriptions"] == []
