"""SUBSCRIBE/NOTIFY and a REFER with NOTIFY sipfrag between two of our accounts.

A real service process (spawn_service) on loopback that is both ends: the
test client claims bob, subscribes from alice to bob's presence (the
service's own UDP port is the route), answers as the notifier and follows
the NOTIFYs; then calls bob and transfers the call with REFER, which reaches
bob's side as transfer_incoming: accepted there (NOTIFY "100 Trying"), then the
new call's 200 reported (the final sipfrag NOTIFY). Transfers end with their
session, whichever side hangs up.

SIPp plays the other end where the wire must be checked: subscriptions of a
client that says goodbye or stops heartbeating end (SUBSCRIBE with Expires: 0
from the subscriber side, NOTIFY terminated from the notifier side); a REFER
challenged with 401 is sent again with the session's credentials.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.signalling import finished, named, signalling_claiming
from harness.sipp import SIPp, free_ports, needs_sipp, scenario

from sipsimple.bus.client import BusClient, ServiceError, get_bus

pytestmark = pytest.mark.integration

ALICE, BOB = "sip:alice@127.0.0.1", "sip:bob@127.0.0.1"
PIDF = b'<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob"/>'
SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")


@pytest.fixture
def route(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_claiming(spawn_service, BOB)


def call_bob(events: Recorder, route: dict[str, Any]) -> tuple[str, str]:
    """alice calls bob, who accepts; (caller's session id, callee's), once established."""
    bus = get_bus()
    caller = bus.call("signalling", "invite", from_uri=ALICE, to_uri=BOB, body=SDP,
                      route=route)["session_id"]
    callee = events.wait(named("session_incoming")).data.session_id
    bus.call("signalling", "accept", session_id=callee, body=SDP)
    events.wait(named("session_established", session_id=caller))
    return caller, callee


def transfer_to_carol(events: Recorder, caller: str, callee: str) -> tuple[str, Any]:
    """The caller refers the callee to carol, who accepts; (transfer id, transfer_incoming)."""
    bus = get_bus()
    tid = bus.call("signalling", "refer", session_id=caller,
                   refer_to="<sip:carol@127.0.0.1>")["transfer_id"]
    incoming = events.wait(named("transfer_incoming", session_id=callee)).data
    bus.call("signalling", "accept_transfer", session_id=callee,
             transfer_id=incoming.transfer_id)
    return tid, incoming


def test_subscribe_notify_round_trip(route: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    sid = bus.call("signalling", "subscribe", from_uri=ALICE, to_uri=BOB, event="presence",
                   route=route, accept=["application/pidf+xml"], expires=600)["subscription_id"]
    incoming = events.wait(named("subscription_incoming"))
    nid = incoming.data.subscription_id
    assert incoming.data.event == "presence" and nid != sid
    bus.call("signalling", "accept_subscription", subscription_id=nid, body=PIDF,
             content_type="application/pidf+xml")

    events.wait(named("subscription_started", subscription_id=sid))
    first = events.wait(named("subscription_notify", subscription_id=sid))
    assert (first.data.state, first.data.body) == ("active", PIDF)
    bus.call("signalling", "notify", subscription_id=nid, body=PIDF + b" ",
             content_type="application/pidf+xml")
    events.wait(named("subscription_notify", subscription_id=sid, body=PIDF + b" "))

    bus.call("signalling", "unsubscribe", subscription_id=sid)
    events.wait(named("subscription_ended", subscription_id=sid))
    events.wait(named("subscription_ended", subscription_id=nid))


def test_refer_with_notify_sipfrag(route: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    caller, callee = call_bob(events, route)

    tid = bus.call("signalling", "refer", session_id=caller, refer_to="<sip:carol@127.0.0.1>",
                   referred_by=f"<{ALICE}>")["transfer_id"]
    incoming = events.wait(named("transfer_incoming", session_id=callee)).data
    assert incoming.refer_to == "<sip:carol@127.0.0.1>"
    assert incoming.referred_by == f"<{ALICE}>" and incoming.replaces is None
    bus.call("signalling", "accept_transfer", session_id=callee,
             transfer_id=incoming.transfer_id)
    events.wait(named("transfer_accepted", transfer_id=tid))
    trying = events.wait(named("transfer_progress", transfer_id=tid))
    assert (trying.data.code, trying.data.reason) == (100, "Trying")
    bus.call("signalling", "transfer_progress", session_id=callee,
             transfer_id=incoming.transfer_id, code=200)
    progress = events.wait(named("transfer_progress", transfer_id=tid, code=200))
    assert progress.data.reason == "OK"
    ended = events.wait(named("transfer_ended", transfer_id=tid))
    assert ended.data.code == 200
    # the transferee's side ends too, once its final NOTIFY is answered
    theirs = events.wait(named("transfer_ended", transfer_id=incoming.transfer_id)).data
    assert (theirs.session_id, theirs.code, theirs.reason) == (callee, 200, "OK")
    assert theirs.client == bus.client_id

    bus.call("signalling", "end", session_id=caller)
    events.wait(named("session_ended", session_id=callee))


def test_transfer_ends_with_its_session(route: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    caller, callee = call_bob(events, route)
    tid, incoming = transfer_to_carol(events, caller, callee)
    bus.call("signalling", "transfer_progress", session_id=callee,
             transfer_id=incoming.transfer_id, code=180)
    events.wait(named("transfer_progress", transfer_id=tid, code=180))

    # the transferee hangs up before the new call is answered: a terminating NOTIFY
    # with the last status goes out before the BYE
    bus.call("signalling", "end", session_id=callee)
    ours = events.wait(named("transfer_ended", transfer_id=incoming.transfer_id)).data
    assert (ours.code, ours.reason) == (180, "Ringing")
    theirs = events.wait(named("transfer_ended", transfer_id=tid)).data
    assert (theirs.code, theirs.reason) == (180, "Ringing")
    events.wait(named("session_ended", session_id=caller))
    assert len([n for n in events.seen if n.name == "signalling.transfer_ended"]) == 2


def test_transfer_ends_when_the_peer_hangs_up(route: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    caller, callee = call_bob(events, route)
    tid, incoming = transfer_to_carol(events, caller, callee)
    events.wait(named("transfer_progress", transfer_id=tid, code=100))

    # the transferor hangs up first: both ends forget the transfer with the session
    bus.call("signalling", "end", session_id=caller)
    events.wait(named("session_ended", session_id=callee))
    ours = events.wait(named("transfer_ended", transfer_id=incoming.transfer_id)).data
    assert (ours.code, ours.reason) == (100, "Trying")
    assert events.wait(named("transfer_ended", transfer_id=tid)).data.code == 100
    with pytest.raises(ServiceError) as failure:
        bus.call("signalling", "transfer_progress", session_id=callee,
                 transfer_id=incoming.transfer_id, code=200)
    assert failure.value.code == "not-found"


# -- a client that goes away, SIPp at the other end -----------------------------------------


def leave(client: BusClient, goodbye: bool, events: Recorder) -> None:
    """The client goes: with goodbye, or silent until SIPSIMPLE_CLIENT_TIMEOUT passes."""
    client.stop(goodbye=goodbye)
    expired = events.wait(lambda n: n.name == "service.client_expired"
                          and n.data.client == client.client_id)
    assert expired.data.reason == ("said goodbye" if goodbye else "heartbeat stopped")


@needs_sipp
@pytest.mark.parametrize("goodbye", [True, False], ids=["goodbye", "heartbeat-lost"])
def test_subscriptions_of_a_client_that_goes_away_are_unsubscribed(
        route: dict[str, Any], events: Recorder, sipp: SIPp, goodbye: bool) -> None:
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    process = sipp.start(scenario("uas_subscribe_unsubscribe.xml", sipp.workdir), port=port,
                         timeout=30)
    other = BusClient(services=["signalling"], post_notifications=False)
    other.start()
    try:
        sid = other.call("signalling", "subscribe", from_uri=ALICE,
                         to_uri=f"sip:presentity@127.0.0.1:{port}", event="presence",
                         route={"host": "127.0.0.1", "port": port, "transport": "udp"},
                         expires=600)["subscription_id"]
        notify = events.wait(named("subscription_notify", subscription_id=sid))
        assert notify.data.state == "active" and notify.data.client == other.client_id
    finally:
        leave(other, goodbye, events)
    finished(process, sipp)  # it saw the SUBSCRIBE with Expires: 0
    ended = events.wait(named("subscription_ended", subscription_id=sid))
    assert ended.data.client == other.client_id


@needs_sipp
@pytest.mark.parametrize("goodbye", [True, False], ids=["goodbye", "heartbeat-lost"])
def test_incoming_subscriptions_of_a_client_that_goes_away_are_terminated(
        route: dict[str, Any], events: Recorder, sipp: SIPp, goodbye: bool) -> None:
    other = BusClient(services=["signalling"], post_notifications=False)
    other.start()
    try:
        other.call("signalling", "claim_account", aor="sip:carol@127.0.0.1")
        process = sipp.start(scenario("uac_subscribe_owner_gone.xml", sipp.workdir),
                             remote=f"127.0.0.1:{route['port']}", service="carol", timeout=30)
        incoming = events.wait(named("subscription_incoming")).data
        assert incoming.client == other.client_id and incoming.event == "presence"
        other.call("signalling", "accept_subscription", subscription_id=incoming.subscription_id,
                   body=PIDF, content_type="application/pidf+xml")
        events.wait(named("subscription_notify_response",
                          subscription_id=incoming.subscription_id))
    finally:
        leave(other, goodbye, events)
    finished(process, sipp)  # it saw the NOTIFY terminated;reason=noresource
    events.wait(named("subscription_ended", subscription_id=incoming.subscription_id))


@needs_sipp
def test_challenged_refer_is_sent_with_the_sessions_credentials(
        route: dict[str, Any], events: Recorder, sipp: SIPp) -> None:
    bus = get_bus()
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    process = sipp.start(scenario("uas_refer_auth.xml", sipp.workdir), port=port, timeout=30)
    caller = bus.call("signalling", "invite", from_uri=ALICE, to_uri=f"sip:sipp@127.0.0.1:{port}",
                      body=SDP, route={"host": "127.0.0.1", "port": port, "transport": "udp"},
                      credentials={"username": "alice", "password": "secret",
                                   "realm": "sipp.test"})["session_id"]
    events.wait(named("session_established", session_id=caller))
    tid = bus.call("signalling", "refer", session_id=caller,
                   refer_to="<sip:carol@127.0.0.1>")["transfer_id"]
    assert events.wait(named("transfer_accepted", transfer_id=tid)).data.code == 202
    # the NOTIFY names the REFER sent again (its new CSeq): it is taken as this transfer's
    ended = events.wait(named("transfer_ended", transfer_id=tid)).data
    assert (ended.code, ended.reason) == (200, "OK")
    assert not events.named("signalling.transfer_failed")
    challenged = [n.data for n in events.seen if n.name == "signalling.session_transaction"
                  and n.data.session_id == caller and n.data.method == "REFER"]
    assert [d.code for d in challenged] == [401, 202]
    bus.call("signalling", "end", session_id=caller)
    finished(process, sipp)
    events.wait(named("session_ended", session_id=caller))


@needs_sipp
def test_481_to_our_notify_ends_the_transfer_not_the_call(
        route: dict[str, Any], events: Recorder, sipp: SIPp) -> None:
    bus = get_bus()
    process = sipp.start(scenario("uac_refer_481.xml", sipp.workdir),
                         remote=f"127.0.0.1:{route['port']}", service="bob", timeout=30)
    callee = events.wait(named("session_incoming")).data.session_id
    bus.call("signalling", "accept", session_id=callee, body=SDP)
    incoming = events.wait(named("transfer_incoming", session_id=callee)).data
    bus.call("signalling", "accept_transfer", session_id=callee,
             transfer_id=incoming.transfer_id)
    ended = events.wait(named("transfer_ended", transfer_id=incoming.transfer_id)).data
    assert (ended.code, ended.reason) == (100, "Trying")
    with pytest.raises(ServiceError) as failure:
        bus.call("signalling", "transfer_progress", session_id=callee,
                 transfer_id=incoming.transfer_id, code=200)
    assert failure.value.code == "not-found"
    # the call lived on until SIPp hung up (its BYE got 200, not 481)
    finished(process, sipp)
    assert events.wait(named("session_ended", session_id=callee)).data.originator == "remote"
