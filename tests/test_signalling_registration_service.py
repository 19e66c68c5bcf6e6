"""Registrations and a call through Kamailio, over the signalling service's bus API.

A real service process (spawn_service) and a real Kamailio (registrar and
proxy with digest auth) on loopback. The test is the bus client: it
registers accounts of the domain sip.test (401 answered with the
credentials), unregisters, sees a wrong password refused with 403, and makes
a call from alice to bob through the proxy (alice's INVITE gets 407 and is
sent again with credentials; Kamailio forwards it to bob's registered
contact, which is the same service).

SIPp plays registrars whose scenarios check what arrives: the unregistration
of a client that said goodbye or stopped heartbeating, a refresh before a
2-second binding expires, and a 423 answered with the Min-Expires.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.signalling import finished, signalling_transports
from harness.sipp import SIPp, free_ports, needs_sipp, scenario

from sipsimple.bus.client import BusClient, get_bus
from sipsimple.notification import Notification

pytestmark = pytest.mark.integration

SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
ANSWER = SDP.replace(b"40000", b"41000")


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")


def route(kamailio: Kamailio, transport: str = "udp") -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": kamailio.port(transport), "transport": transport}


def register(kamailio: Kamailio, user: str, transport: str = "udp",
             password: str | None = None) -> str:
    reply = get_bus().call(
        "signalling", "register", aor=kamailio.aor(user), registrar=route(kamailio, transport),
        expires=300, credentials={"username": user,
                                  "password": password or kamailio.password(user)})
    rid: str = reply["registration_id"]
    return rid


def of(events: Recorder, name: str, key: str, value: str) -> Callable[[Notification], bool]:
    return lambda n: n.name == f"signalling.{name}" and getattr(n.data, key) == value


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_and_unregister(kamailio: Kamailio, ports: dict[str, Any], events: Recorder,
                                 transport: str) -> None:
    rid = register(kamailio, "alice", transport)
    done = events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert done.data.expires > 0
    contacts = kamailio.wait_registered("alice")
    assert len(contacts) == 1, kamailio.log()
    assert f"127.0.0.1:{ports[transport]}" in contacts[0]
    assert ("transport=tcp" in contacts[0].lower()) == (transport == "tcp")
    assert any(f":{ports[transport]}" in c for c in done.data.contacts)

    get_bus().call("signalling", "unregister", registration_id=rid)
    ended = events.wait(of(events, "registration_ended", "registration_id", rid))
    assert ended.data.code == 200
    assert kamailio.contacts("alice") == []


def test_wrong_password_fails_with_403(kamailio: Kamailio, ports: dict[str, Any],
                                       events: Recorder) -> None:
    rid = register(kamailio, "carol", password="not-the-secret")
    failed = events.wait(of(events, "registration_failed", "registration_id", rid))
    assert failed.data.code == 403, failed.data.__dict__
    assert failed.data.retry_after is not None  # it keeps trying, backing off
    assert kamailio.contacts("carol") == []
    get_bus().call("signalling", "unregister", registration_id=rid)


def test_call_between_two_accounts_through_kamailio(
        kamailio: Kamailio, ports: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    for user in ("alice", "bob"):
        bus.call("signalling", "claim_account", aor=kamailio.aor(user))
    registrations = [register(kamailio, user) for user in ("alice", "bob")]
    for rid in registrations:
        events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert kamailio.wait_registered("bob"), kamailio.log()

    reply = bus.call("signalling", "invite", from_uri=kamailio.aor("alice"),
                     to_uri=kamailio.aor("bob"), body=SDP, route=route(kamailio),
                     credentials={"username": "alice", "password": kamailio.password("alice")})
    caller = reply["session_id"]
    incoming = events.wait("signalling.session_incoming")
    callee = incoming.data.session_id
    assert callee != caller
    assert incoming.data.body == SDP
    assert "bob@sip.test" in incoming.data.to
    bus.call("signalling", "accept", session_id=callee, body=ANSWER)

    for sid in (caller, callee):
        established = events.wait(of(events, "session_established", "session_id", sid))
        assert established.data.remote_body == (ANSWER if sid == caller else SDP)
    # the first INVITE was challenged by the proxy and answered with credentials
    assert any(n.name == "signalling.session_transaction" and n.data.session_id == caller
               and n.data.method == "INVITE" and n.data.code == 407
               for n in list(events.seen)), [n.data.__dict__ for n in events.seen]

    bus.call("signalling", "end", session_id=caller)
    ended = events.wait(of(events, "session_ended", "session_id", callee))
    assert ended.data.originator == "remote"
    events.wait(of(events, "session_ended", "session_id", caller))
    for rid in registrations:
        bus.call("signalling", "unregister", registration_id=rid)
        events.wait(of(events, "registration_ended", "registration_id", rid))


# -- SIPp as the registrar ----------------------------------------------------------------

ALICE = "sip:alice@127.0.0.1"


def registrar(sipp: SIPp, name: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """SIPp playing the registrar scenario `name`, and the route to it."""
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    process = sipp.start(scenario(name, sipp.workdir), port=port, timeout=30)
    return process, {"host": "127.0.0.1", "port": port, "transport": "udp"}


def register_at(sipp: SIPp, name: str, expires: int) -> tuple[subprocess.Popen[bytes], str]:
    """alice registers at SIPp playing the registrar scenario `name`; SIPp, the registration."""
    process, to_registrar = registrar(sipp, name)
    rid: str = get_bus().call("signalling", "register", aor=ALICE, registrar=to_registrar,
                              expires=expires)["registration_id"]
    return process, rid


def unregister_from(process: subprocess.Popen[bytes], sipp: SIPp, events: Recorder,
                    rid: str) -> None:
    """Unregister; once it has ended, SIPp has run its scenario to the end."""
    get_bus().call("signalling", "unregister", registration_id=rid)
    events.wait(of(events, "registration_ended", "registration_id", rid))
    finished(process, sipp)


@needs_sipp
@pytest.mark.parametrize("goodbye", [True, False], ids=["goodbye", "heartbeat-lost"])
def test_registrations_of_a_client_that_goes_away_are_unregistered(
        ports: dict[str, Any], events: Recorder, sipp: SIPp, goodbye: bool) -> None:
    process, to_registrar = registrar(sipp, "uas_register_unregister.xml")
    other = BusClient(services=["signalling"], post_notifications=False)
    other.start()
    try:
        rid = other.call("signalling", "register", aor=ALICE, registrar=to_registrar,
                         expires=3600)["registration_id"]
        done = events.wait(of(events, "registration_succeeded", "registration_id", rid))
        assert done.data.expires == 3600 and done.data.client == other.client_id
    finally:
        # goodbye, or silence: the service gives up on it after SIPSIMPLE_CLIENT_TIMEOUT
        other.stop(goodbye=goodbye)
    ended = events.wait(of(events, "registration_ended", "registration_id", rid))
    assert ended.data.code == 200 and ended.data.client == other.client_id
    finished(process, sipp)  # it saw the REGISTER with Expires: 0
    expired = events.wait(lambda n: n.name == "service.client_expired"
                          and n.data.client == other.client_id)
    assert expired.data.reason == ("said goodbye" if goodbye else "heartbeat stopped")


@needs_sipp
def test_registration_is_refreshed_before_it_expires(
        ports: dict[str, Any], events: Recorder, sipp: SIPp) -> None:
    process, rid = register_at(sipp, "uas_register_refresh.xml", expires=300)
    first = events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert first.data.expires == 2  # what the registrar granted, not what we asked
    # the refresh: the registrar's second 200 grants an hour
    refreshed = events.wait(lambda n: n.name == "signalling.registration_succeeded"
                            and n.data.registration_id == rid and n.data.expires == 3600)
    assert refreshed.data.code == 200
    unregister_from(process, sipp, events, rid)


@needs_sipp
def test_423_is_answered_with_the_min_expires(
        ports: dict[str, Any], events: Recorder, sipp: SIPp) -> None:
    process, rid = register_at(sipp, "uas_register_423.xml", expires=30)
    done = events.wait(of(events, "registration_succeeded", "registration_id", rid))
    assert done.data.expires == 120
    assert not events.named("signalling.registration_failed")  # the 423 was no failure
    unregister_from(process, sipp, events, rid)
