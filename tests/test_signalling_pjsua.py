"""Calls between the signalling service (driven over the bus) and a pjsua2 peer, on loopback.

A real service process (spawn_service); the test is the bus client that owns
the sessions. pjsua2 calls us (we accept with a static PCMU answer, pjsua2
hangs up) and we call pjsua2 (it auto-answers, we hang up). No media engine:
our SDP points at an unused loopback port.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.pjsua import PjsuaPeer, needs_pjsua2
from harness.signalling import signalling_transports
from test_signalling_sessions import Events

from sipsimple.bus.client import get_bus

pytestmark = [pytest.mark.integration, needs_pjsua2]

ACCOUNT = "sip:service@127.0.0.1"
SESSION_EVENTS = ("incoming", "state", "established", "ended", "failed")


def unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1]) // 2 * 2


def pcmu_sdp(port: int) -> bytes:
    return (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
            b"t=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n" % port)


@pytest.fixture
def events() -> Iterator[Events]:
    recorder = Events()
    yield recorder
    recorder.close()


@pytest.fixture
def ports(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_transports(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")


def test_pjsua_calls_us(ports: dict[str, Any], pjsua_factory: Callable[..., PjsuaPeer],
                        events: Events) -> None:
    peer = pjsua_factory("caller", codecs=("PCMU/8000",))
    bus = get_bus()
    bus.call("signalling", "claim_account", aor=ACCOUNT)
    call = peer.make_call(f"sip:service@127.0.0.1:{ports['udp']};transport=udp")
    incoming = events.wait("incoming")
    sid = incoming.session_id
    assert incoming.client == bus.client_id
    assert incoming.content_type == "application/sdp"
    assert b"m=audio" in incoming.body and b"PCMU/8000" in incoming.body
    assert incoming.source["transport"] == "udp"
    assert incoming.request_uri.startswith(ACCOUNT)
    answer = pcmu_sdp(unused_udp_port())
    bus.call("signalling", "accept", session_id=sid, body=answer,
             content_type="application/sdp")
    confirmed = peer.wait_call_state("CONFIRMED", call, timeout=10)
    assert confirmed["code"] == 200, confirmed
    established = events.wait("established", sid)
    assert established.local_body == answer and established.remote_body == incoming.body
    assert established.transport == "udp"
    peer.hangup(call)
    ended = events.wait("ended", sid)
    assert ended.originator == "remote"
    peer.wait_call_state("DISCONNECTED", call, timeout=10)
    events.wait("state", sid, lambda d: d.new == "terminated")


def test_we_call_pjsua(ports: dict[str, Any], pjsua_factory: Callable[..., PjsuaPeer],
                       events: Events) -> None:
    peer = pjsua_factory("callee", codecs=("PCMU/8000",))
    peer.set_auto_answer(200)
    offer = pcmu_sdp(unused_udp_port())
    reply = get_bus().call(
        "signalling", "invite", from_uri="sip:alice@127.0.0.1", to_uri=peer.uri("udp"),
        body=offer, content_type="application/sdp",
        route={"host": "127.0.0.1", "port": peer.udp_port, "transport": "udp"})
    sid = reply["session_id"]
    assert reply["call_id"]
    incoming = peer.wait_event("incoming_call", timeout=10)
    assert incoming["call_id"] == reply["call_id"]
    established = events.wait("established", sid)
    assert established.local_body == offer
    assert b"m=audio" in established.remote_body
    assert b"a=rtpmap:0 PCMU/8000" in established.remote_body
    peer.wait_call_state("CONFIRMED", incoming["call"], timeout=10)
    get_bus().call("signalling", "end", session_id=sid)
    ended = events.wait("ended", sid)
    assert ended.originator == "local"
    disconnected = peer.wait_call_state("DISCONNECTED", incoming["call"], timeout=10)
    assert disconnected["state"] == "DISCONNECTED"
    events.wait("state", sid, lambda d: d.new == "terminated")
