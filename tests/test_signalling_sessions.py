"""INVITE sessions through the signalling service's bus API, against SIPp on loopback.

A real service process (spawn_service); the test is the bus client that owns
the sessions. SIPp calls us (answer, CANCEL while ringing, offer in our 200,
REFER with NOTIFY sipfrag, our client vanishing) and we call SIPp (call with
re-INVITE and BYE, 486, CANCEL of a ringing call). One test drives a
`SessionGlue` in this process instead, with a UDP socket as the peer: the
Contact of a re-INVITE after our address changed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import gevent
import gevent.socket
import pytest
from harness.audio import wait_until
from harness.signalling import finished, signalling_transports
from harness.sipp import SIPp, needs_sipp, scenario

from sipsimple.bus.client import BusClient, get_bus
from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple.notification import Notification, NotificationCenter
from sipsimple_services.signalling.glue.engine import SignallingEngine
from sipsimple_services.signalling.glue.sessions import SessionGlue
from sipsimple_services.signalling.sip.invite.layer import UnknownSession
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import (
    SIPRequest,
    SIPResponse,
    make_response,
)
from sipsimple_services.signalling.sip.transactions.effects import TUEvent
from sipsimple_services.signalling.transport import TransportConfig

pytestmark = [pytest.mark.integration, needs_sipp]

ACCOUNT = "sip:service@127.0.0.1"
EVENTS = ("incoming", "state", "provisional", "established", "offer", "offer_requested",
          "answer", "reinvite_rejected", "ended", "failed", "transaction", "request",
          "response")
OUR_SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
           b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
OFFER_SDP = OUR_SDP.replace(b"40000", b"41000")


class Events:
    """Every signalling.session_* event, as (short name, data), and
    signalling.transfer_incoming as ("transfer_incoming", data)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.names = [f"signalling.session_{name}" for name in EVENTS]
        self.names.append("signalling.transfer_incoming")
        for name in self.names:
            NotificationCenter().add_observer(self, name=name)

    def close(self) -> None:
        for name in self.names:
            NotificationCenter().discard_observer(self, name=name)

    def handle_notification(self, notification: Notification) -> None:
        self.seen.append((notification.name.removeprefix("signalling.session_")
                          .removeprefix("signalling."), notification.data))

    def of(self, name: str, sid: str | None = None) -> list[Any]:
        return [data for kind, data in list(self.seen)
                if kind == name and (sid is None or data.session_id == sid)]

    def wait(self, name: str, sid: str | None = None,
             predicate: Callable[[Any], bool] = lambda data: True, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for data in self.of(name, sid):
                if predicate(data):
                    return data
            time.sleep(0.02)
        seen = [(kind, dict(data.__dict__)) for kind, data in self.seen]
        raise AssertionError(f"no session_{name}; saw {seen}")


@pytest.fixture
def events() -> Iterator[Events]:
    recorder = Events()
    yield recorder
    recorder.close()


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")



def sipp_calls(sipp: SIPp, name: str, ports: dict[str, Any], **options: Any) -> Any:
    return sipp.start(scenario(name, sipp.workdir), remote=f"127.0.0.1:{ports['udp']}",
                      timeout=25, **options)


def sipp_answers(sipp: SIPp, name: str) -> tuple[Any, int]:
    return sipp.start_uas(scenario(name, sipp.workdir), timeout=25)


def call_sipp(port: int, body: bytes = OFFER_SDP) -> str:
    reply = get_bus().call("signalling", "invite", from_uri="sip:alice@127.0.0.1",
                           to_uri=f"sip:uas@127.0.0.1:{port}", body=body,
                           route={"host": "127.0.0.1", "port": port, "transport": "udp"})
    assert reply["call_id"]
    sid: str = reply["session_id"]
    return sid


def transactions(events: Events, sid: str) -> list[tuple[str, str, int, bool | None]]:
    return [(d.originator, d.method, d.code, d.ack_received)
            for d in events.of("transaction", sid)]


def settled(events: Events, sid: str, count: int) -> None:
    """Wait until `count` transactions of session `sid` have been reported."""
    wait_until(lambda: len(transactions(events, sid)) >= count,
               f"{count} transactions; saw {transactions(events, sid)}")


# --- SIPp calls us ------------------------------------------------------------------


def test_sipp_calls_us_and_hangs_up(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=ACCOUNT)
    process = sipp_calls(sipp, "uac_call.xml", ports)
    incoming = events.wait("incoming")
    sid = incoming.session_id
    assert incoming.client == bus.client_id
    assert b"m=audio" in incoming.body and incoming.content_type == "application/sdp"
    assert incoming.source["transport"] == "udp" and incoming.request_uri.startswith(ACCOUNT)
    bus.call("signalling", "accept", session_id=sid, body=OUR_SDP)
    established = events.wait("established", sid)
    assert established.local_body == OUR_SDP and established.remote_body == incoming.body
    assert established.transport == "udp"
    ended = events.wait("ended", sid)
    assert ended.originator == "remote"
    finished(process, sipp)
    events.wait("state", sid, lambda d: d.new == "terminated")
    # every transaction once: our 200 to the INVITE (ACKed), our 200 to the BYE
    settled(events, sid, 2)
    assert transactions(events, sid) == [("remote", "INVITE", 200, True),
                                         ("remote", "BYE", 200, None)]


def test_sipp_cancels_while_we_ring(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=ACCOUNT)
    process = sipp_calls(sipp, "uac_cancel.xml", ports)
    sid = events.wait("incoming").session_id
    bus.call("signalling", "ring", session_id=sid)
    failed = events.wait("failed", sid)
    assert (failed.originator, failed.code) == ("remote", 487)
    finished(process, sipp)
    methods = {(m, c) for _, m, c, _ in transactions(events, sid)}
    assert ("INVITE", 487) in methods and ("CANCEL", 200) in methods


def test_sipp_calls_without_sdp(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=ACCOUNT)
    process = sipp_calls(sipp, "uac_call_nosdp.xml", ports)
    incoming = events.wait("incoming")
    sid = incoming.session_id
    assert incoming.body == b""
    bus.call("signalling", "accept", session_id=sid, body=OUR_SDP)  # our offer
    answer = events.wait("answer", sid)
    assert b"s=answer-in-ack" in answer.body
    events.wait("ended", sid)
    finished(process, sipp)


def test_refer_with_notify_sipfrag(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=ACCOUNT)
    process = sipp_calls(sipp, "uac_refer.xml", ports)
    sid = events.wait("incoming").session_id
    bus.call("signalling", "accept", session_id=sid, body=OUR_SDP)
    refer = events.wait("transfer_incoming", sid)
    assert refer.refer_to.startswith("<sip:carol@")
    assert refer.referred_by.startswith("<sip:sipp@") and refer.replaces is None
    assert not events.of("request", sid)  # the REFER went to the REFER agent
    tid = refer.transfer_id
    bus.call("signalling", "accept_transfer", session_id=sid, transfer_id=tid)
    # the final NOTIFY waits for SIPp's answer to the NOTIFY "100 Trying"
    bus.call("signalling", "transfer_progress", session_id=sid, transfer_id=tid, code=200)
    events.wait("ended", sid)
    finished(process, sipp)
    seen = transactions(events, sid)
    assert ("remote", "REFER", 202, None) in seen
    assert seen.count(("local", "NOTIFY", 200, None)) == 2


def test_client_that_vanishes_gets_its_call_hung_up(
    ports: dict[str, Any], sipp: SIPp, events: Events
) -> None:
    owner = BusClient(services=("signalling",))
    owner.start()
    try:
        owner.call("signalling", "claim_account", aor=ACCOUNT)
        process = sipp_calls(sipp, "uac_owner_gone.xml", ports)
        incoming = events.wait("incoming")
        assert incoming.client == owner.client_id
        owner.call("signalling", "accept", session_id=incoming.session_id, body=OUR_SDP)
        events.wait("established", incoming.session_id)
    finally:
        owner.stop(goodbye=False)
    ended = events.wait("ended", incoming.session_id)
    assert ended.originator == "local"
    finished(process, sipp)


def test_unclaimed_invite_still_gets_480(ports: dict[str, Any], sipp: SIPp) -> None:
    result = sipp.run(scenario("uac_invite_480.xml", sipp.workdir),
                      remote=f"127.0.0.1:{ports['udp']}")
    assert result.returncode == 0, sipp.errors()


# --- we call SIPp ------------------------------------------------------------------


def test_we_call_sipp_reinvite_and_bye(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    bus = get_bus()
    process, port = sipp_answers(sipp, "uas_call.xml")
    sid = call_sipp(port)
    ringing = events.wait("provisional", sid)
    assert (ringing.code, ringing.reason) == (180, "Ringing")
    established = events.wait("established", sid)
    assert established.local_body == OFFER_SDP and b"m=audio" in established.remote_body
    assert established.remote_contact.startswith("sip:sipp@127.0.0.1")
    bus.call("signalling", "reinvite", session_id=sid, body=OFFER_SDP)
    answer = events.wait("answer", sid)  # the initial answer came with "established"
    assert b"m=audio" in answer.body
    events.wait("state", sid, lambda d: d.old == "reinvite_sent" and d.new == "connected")
    bus.call("signalling", "end", session_id=sid)
    ended = events.wait("ended", sid)
    assert ended.originator == "local"
    finished(process, sipp)
    events.wait("state", sid, lambda d: d.new == "terminated")
    settled(events, sid, 3)
    assert transactions(events, sid) == [("local", "INVITE", 200, None),
                                         ("local", "INVITE", 200, None),
                                         ("local", "BYE", 200, None)]


def test_sipp_is_busy(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    process, port = sipp_answers(sipp, "uas_486.xml")
    sid = call_sipp(port)
    failed = events.wait("failed", sid)
    assert (failed.originator, failed.code, failed.reason) == ("remote", 486, "Busy Here")
    finished(process, sipp)
    assert transactions(events, sid) == [("local", "INVITE", 486, None)]


def test_we_cancel_a_ringing_call(ports: dict[str, Any], sipp: SIPp, events: Events) -> None:
    process, port = sipp_answers(sipp, "uas_cancel.xml")
    sid = call_sipp(port)
    events.wait("provisional", sid)
    get_bus().call("signalling", "end", session_id=sid)
    failed = events.wait("failed", sid)
    assert failed.code == 487
    finished(process, sipp)
    seen = {(m, c) for _, m, c, _ in transactions(events, sid)}
    assert seen == {("INVITE", 487), ("CANCEL", 200)}


def test_commands_on_sessions_of_others_are_refused(ports: dict[str, Any]) -> None:
    from sipsimple.bus.client import ServiceError

    with pytest.raises(ServiceError) as info:
        get_bus().call("signalling", "accept", session_id="session-99", body=OUR_SDP)
    assert info.value.code == "not-found"
    with pytest.raises(ServiceError) as info:
        get_bus().call("signalling", "invite", from_uri="sip:a@127.0.0.1", to_uri="tel:1",
                       route={"host": "127.0.0.1", "port": 5060})
    assert info.value.code == "invalid-params"


# --- the Contact of our target refreshes (SessionGlue, in this process) ----------------


class _GlueTU:
    """The engine's transaction user for a lone SessionGlue (no UA core: no claims)."""

    glue: SessionGlue | None = None

    def handle(self, event: TUEvent, engine: SignallingEngine) -> None:
        assert self.glue is not None
        self.glue.handle(event, engine, None)


def test_a_reinvite_carries_the_contact_of_the_address_we_use_now() -> None:
    """`SessionGlue.refreshed_contact`: the dialog's Contact while its address is the one
    the kernel picks towards the next hop (the same object: nothing changes on the wire),
    else that address (user, port and parameters kept); the re-INVITE carries it, and
    the 200 to bob's re-INVITE. The host's old address is played by a Contact on
    192.0.2.7, loopback having one route."""
    tu = _GlueTU()
    engine = SignallingEngine(TransportConfig(host="0.0.0.0", tcp_port=None), tu)
    glue = tu.glue = SessionGlue(engine, publish=lambda event, client: None)
    peer = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    engine.start()
    try:
        peer.bind(("127.0.0.1", 0))
        port = peer.getsockname()[1]
        bob = SIPURI("127.0.0.1", user="bob", port=port)
        sid, _ = glue.connect("client", SIPURI("127.0.0.1", user="alice"), bob,
                              Destination("127.0.0.1", port))
        with gevent.Timeout(15):
            data, source = peer.recvfrom(65535)
        invite = parse_message(data)
        assert isinstance(invite, SIPRequest)
        peer.sendto(bytes(make_response(invite, 200, to_tag="bob",
                                        headers=(h.ContactHeader(bob),))), source)
        with gevent.Timeout(15):
            while glue.layer.session(sid).state != "connected":
                gevent.sleep(0.01)
        dialog = glue.layer.session(sid).dialog
        assert dialog is not None
        current = dialog.local_contact
        assert isinstance(current.uri, SIPURI) and current.uri.host == "127.0.0.1"
        assert glue.refreshed_contact(sid) is current
        dialog.local_contact = h.ContactHeader(replace(current.uri, host="192.0.2.7"),
                                               parameters={"isfocus": None})
        refreshed = glue.refreshed_contact(sid)
        assert refreshed == h.ContactHeader(current.uri, parameters={"isfocus": None})
        glue.run(sid, lambda layer, now: layer.reinvite(sid, now, b"offer", contact=refreshed))
        with gevent.Timeout(15):
            while True:
                reinvite = parse_message(peer.recvfrom(65535)[0])
                if isinstance(reinvite, SIPRequest) and reinvite.method == "INVITE":
                    break
        assert list(reinvite.contact) == [refreshed] and dialog.local_contact is refreshed
        assert isinstance(reinvite, SIPRequest)
        peer.sendto(bytes(make_response(reinvite, 200, headers=(h.ContactHeader(bob),),
                                        body=b"answer")), source)
        with gevent.Timeout(15):
            while glue.layer.session(sid).state != "connected":
                gevent.sleep(0.01)
        # bob's re-INVITE: our 200 to it is a target refresh as well
        dialog.local_contact = h.ContactHeader(replace(current.uri, host="192.0.2.7"))
        ours = dialog.local.tag
        peer.sendto((
            f"INVITE sip:alice@127.0.0.1:{current.uri.port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbob2\r\n"
            f"Max-Forwards: 70\r\nFrom: <{bob}>;tag=bob\r\n"
            f"To: <sip:alice@127.0.0.1>;tag={ours}\r\nCall-ID: {dialog.id.call_id}\r\n"
            f"CSeq: 2 INVITE\r\nContact: <{bob}>\r\nContent-Length: 0\r\n\r\n"
        ).encode(), source)
        with gevent.Timeout(15):
            while glue.layer.session(sid).state != "reinvite_received":
                gevent.sleep(0.01)
        answer = glue.refreshed_contact(sid)
        assert answer == h.ContactHeader(current.uri)
        glue.run(sid, lambda layer, now: layer.accept_reinvite(sid, now, contact=answer))
        with gevent.Timeout(15):
            while True:
                ok = parse_message(peer.recvfrom(65535)[0])
                if isinstance(ok, SIPResponse) and ok.code == 200:
                    break
        assert list(ok.contact) == [answer]
        with pytest.raises(UnknownSession):
            glue.refreshed_contact("no-such-session")
    finally:
        glue.stop()
        engine.stop()
        peer.close()
