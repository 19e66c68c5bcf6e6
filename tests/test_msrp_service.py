"""The msrp service process (`python -m sipsimple_services.msrp`) over the bus.

Two sessions of the service talk over real TCP on loopback, one active and
one passive on the shared listener; messages both ways with and without
success reports, a message queued before the connection, a peer that sends
garbage (only its session fails), a connection naming no session, and a
client going away.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from harness.loopback import ipv6_available
from harness.msrp import call, of, pair, start_msrp_service
from harness.notifications import Recorder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipsimple.bus.client import BusClient, ServiceError

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    return start_msrp_service(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")


def test_create_session_gives_a_path_on_the_shared_listener(bus: BusClient) -> None:
    a = call(bus, "create_session", address="127.0.0.1")
    b = call(bus, "create_session", address="127.0.0.1")
    assert a["port"] == b["port"] > 0
    assert a["path"].startswith(f"msrp://127.0.0.1:{a['port']}/")
    assert a["path"].endswith(";tcp") and a["path"] != b["path"]
    status = call(bus, "status")
    assert {s["session_id"] for s in status["sessions"]} >= {a["session_id"], b["session_id"]}
    with pytest.raises(ServiceError) as error:
        call(bus, "create_session", address="not-an-address")
    assert error.value.code == "invalid-params"


def test_messages_both_ways_with_delivery(bus: BusClient, events: Recorder) -> None:
    a, b = pair(bus, events)
    sent = call(bus, "send_message", session_id=a["session_id"], content_type="text/plain",
                body="héllo".encode(), success_report=True)
    got = events.wait(of(b["session_id"], "msrp.message_received"))
    assert got.data.body == "héllo".encode() and got.data.content_type == "text/plain"
    assert got.data.message_id == sent["message_id"]
    delivered = events.wait(of(a["session_id"], "msrp.message_delivered"))
    assert delivered.data.message_id == sent["message_id"] and delivered.data.code == 200
    # the other way, without a success report: the 200 of the next hop is the news
    back = call(bus, "send_message", session_id=b["session_id"], content_type="text/html",
                body=b"<b>hi</b>", message_id="chosen-id")
    assert back["message_id"] == "chosen-id"
    got = events.wait(of(a["session_id"], "msrp.message_received"))
    assert got.data.body == b"<b>hi</b>" and got.data.content_type == "text/html"
    events.wait(lambda n: of(b["session_id"], "msrp.message_delivered")(n)
                and n.data.message_id == "chosen-id")
    call(bus, "end_session", session_id=a["session_id"])
    assert events.wait(of(a["session_id"], "msrp.session_ended")).data.reason == \
        "ended by the client"
    # the peer sees the connection close
    assert "closed" in events.wait(of(b["session_id"], "msrp.session_failed")).data.reason


def test_refused_content_type_fails_the_message(bus: BusClient, events: Recorder) -> None:
    a = call(bus, "create_session", address="127.0.0.1")
    b = call(bus, "create_session", address="127.0.0.1")
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]], active=False,
         accept_types=["text/*"])
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]], active=True)
    sent = call(bus, "send_message", session_id=a["session_id"], content_type="image/png",
                body=b"\x89PNG")
    failed = events.wait(of(a["session_id"], "msrp.message_failed"))
    assert failed.data.message_id == sent["message_id"] and failed.data.code == 415


def test_a_message_queued_before_the_connection_goes_once_it_is_up(
    bus: BusClient, events: Recorder
) -> None:
    a = call(bus, "create_session", address="127.0.0.1")
    b = call(bus, "create_session", address="127.0.0.1")
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]], active=False)
    sent = call(bus, "send_message", session_id=b["session_id"], content_type="text/plain",
                body=b"early")
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]], active=True)
    got = events.wait(of(a["session_id"], "msrp.message_received"))
    assert got.data.message_id == sent["message_id"] and got.data.body == b"early"


def test_garbage_from_the_peer_fails_only_its_session(bus: BusClient, events: Recorder) -> None:
    a, b = pair(bus, events)
    victim = call(bus, "create_session", address="127.0.0.1")
    fake = "msrp://127.0.0.1:9/fakepeer;tcp"
    call(bus, "start_session", session_id=victim["session_id"], remote_path=[fake],
         active=False)
    with socket.create_connection(("127.0.0.1", victim["port"])) as peer:
        bind = (f"MSRP tr01 SEND\r\nTo-Path: {victim['path']}\r\nFrom-Path: {fake}\r\n"
                "Message-ID: msg1\r\nByte-Range: 1-0/0\r\n-------tr01$\r\n")
        peer.sendall(bind.encode())
        events.wait(of(victim["session_id"], "msrp.session_started"))
        assert b"MSRP tr01 200" in peer.recv(4096)
        peer.sendall(b"this is no MSRP at all\r\n\r\n")
        failed = events.wait(of(victim["session_id"], "msrp.session_failed"))
        assert "broken" in failed.data.reason
        assert peer.recv(4096) == b""  # closed by the service
    # the other sessions of the listener carry on
    call(bus, "send_message", session_id=a["session_id"], content_type="text/plain",
         body=b"still here")
    assert events.wait(of(b["session_id"], "msrp.message_received")).data.body == b"still here"
    assert not [n for n in events.seen if n.name.startswith("msrp.session_")
                and n.name != "msrp.session_started"
                and n.data.session_id in (a["session_id"], b["session_id"])]


def test_a_message_too_large_for_the_bus_is_refused(bus: BusClient, events: Recorder) -> None:
    victim = call(bus, "create_session", address="127.0.0.1")
    fake = "msrp://127.0.0.1:9/bigsender;tcp"
    call(bus, "start_session", session_id=victim["session_id"], remote_path=[fake],
         active=False)
    body = b"x" * (1 << 20)  # over what one bus event carries
    with socket.create_connection(("127.0.0.1", victim["port"])) as peer:
        head = (f"MSRP tr02 SEND\r\nTo-Path: {victim['path']}\r\nFrom-Path: {fake}\r\n"
                f"Message-ID: big1\r\nByte-Range: 1-{len(body)}/{len(body)}\r\n"
                "Content-Type: text/plain\r\n\r\n")
        peer.sendall(head.encode() + body + b"\r\n-------tr02$\r\n")
        peer.settimeout(30)
        answer = b""
        while b"\r\n-------tr02" not in answer:
            answer += peer.recv(4096)
        assert answer.startswith(b"MSRP tr02 413")
        small = (f"MSRP tr03 SEND\r\nTo-Path: {victim['path']}\r\nFrom-Path: {fake}\r\n"
                 "Message-ID: small1\r\nByte-Range: 1-2/2\r\nContent-Type: text/plain\r\n"
                 "\r\nok\r\n-------tr03$\r\n")
        peer.sendall(small.encode())
        got = events.wait(of(victim["session_id"], "msrp.message_received"))
        assert got.data.message_id == "small1" and got.data.body == b"ok"
        # the 413 did not fail the session (what closing our end does after is ours)
        assert not [n for n in events.named("msrp.session_failed")
                    if n.data.session_id == victim["session_id"]]


@pytest.mark.parametrize("first", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"MSRP tr01 SEND\r\nTo-Path: msrp://127.0.0.1:1/nosuchsession;tcp\r\n"
    b"From-Path: msrp://127.0.0.1:9/x;tcp\r\nMessage-ID: m\r\nByte-Range: 1-0/0\r\n"
    b"-------tr01$\r\n",
])
def test_a_connection_naming_no_session_is_closed(bus: BusClient, first: bytes) -> None:
    a = call(bus, "create_session", address="127.0.0.1")
    with socket.create_connection(("127.0.0.1", a["port"])) as peer:
        peer.sendall(first)
        peer.settimeout(30)
        assert peer.recv(4096) == b""
    assert call(bus, "ping")["service"] == "msrp"


def bind_request(to: str, sender: str) -> bytes:
    return (f"MSRP tr01 SEND\r\nTo-Path: {to}\r\nFrom-Path: {sender}\r\n"
            "Message-ID: msg1\r\nByte-Range: 1-0/0\r\n-------tr01$\r\n").encode()


@pytest.mark.parametrize("early", [False, True])
def test_only_the_peer_of_the_sdp_may_connect(bus: BusClient, events: Recorder,
                                              early: bool) -> None:
    """A connection whose From-Path is not the peer's a=path is closed; the session waits on."""
    a = call(bus, "create_session", address="127.0.0.1")
    b = call(bus, "create_session", address="127.0.0.1")
    if not early:  # else the stranger connects before b knows its peer
        call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]],
             active=False)
    with socket.create_connection(("127.0.0.1", b["port"])) as stranger:
        stranger.sendall(bind_request(b["path"], "msrp://127.0.0.1:9/stranger;tcp"))
        if early:
            call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]],
                 active=False)
        stranger.settimeout(30)
        assert stranger.recv(4096) == b""
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]], active=True)
    events.wait(of(b["session_id"], "msrp.session_started"))
    call(bus, "send_message", session_id=a["session_id"], content_type="text/plain",
         body=b"the right peer")
    assert events.wait(of(b["session_id"], "msrp.message_received")).data.body == \
        b"the right peer"
    assert len([n for n in events.seen if of(b["session_id"], "msrp.session_started")(n)]) == 1


def test_a_client_going_away_ends_its_sessions(bus: BusClient, events: Recorder) -> None:
    mine = call(bus, "create_session", address="127.0.0.1")
    other = BusClient(services=["msrp"], post_notifications=False)
    other.start()
    try:
        theirs = other.call("msrp", "create_session", address="127.0.0.1")
        other.call("msrp", "start_session", session_id=theirs["session_id"],
                   remote_path=[mine["path"]], active=False)
        with pytest.raises(ServiceError) as error:  # not ours to use
            call(bus, "end_session", session_id=theirs["session_id"])
        assert error.value.code == "not-found"
    finally:
        other.stop()  # says goodbye
    ended = events.wait(of(theirs["session_id"], "msrp.session_ended"))
    assert ended.data.reason == "the client went away"
    expired = events.wait("service.client_expired")
    assert theirs["session_id"] in expired.data.objects
    assert theirs["session_id"] not in {s["session_id"] for s in call(bus, "status")["sessions"]}


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_sessions_over_ipv6(bus: BusClient, events: Recorder) -> None:
    a = call(bus, "create_session", address="::1")
    b = call(bus, "create_session", address="::1")
    assert a["path"].startswith(f"msrp://[::1]:{a['port']}/")
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]], active=False)
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]], active=True)
    call(bus, "send_message", session_id=a["session_id"], content_type="text/plain", body=b"v6")
    assert events.wait(of(b["session_id"], "msrp.message_received")).data.body == b"v6"


KILLED_CLIENT = """
import sys
from sipsimple.bus.client import BusClient
bus = BusClient(services=["msrp"], post_notifications=False)
bus.start()
theirs = bus.call("msrp", "create_session", address="127.0.0.1")
bus.call("msrp", "start_session", session_id=theirs["session_id"], remote_path=[sys.argv[1]],
         active=True)
print(theirs["session_id"], flush=True)
sys.stdin.read()
"""


def test_a_killed_client_loses_its_sessions_and_the_peer_sees_it(
    bus: BusClient, events: Recorder
) -> None:
    mine = call(bus, "create_session", address="127.0.0.1")
    client = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, mine["path"]],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        theirs = client.stdout.readline().strip()
        assert theirs
        call(bus, "start_session", session_id=mine["session_id"], remote_path=[
            s["path"] for s in call(bus, "status")["sessions"] if s["session_id"] == theirs],
            active=False)
        events.wait(of(mine["session_id"], "msrp.session_started"))
    finally:
        client.kill()  # no goodbye: its heartbeat stops
        client.wait()
    ended = events.wait(of(theirs, "msrp.session_ended"), timeout=30)
    assert ended.data.reason == "the client went away"
    failed = events.wait(of(mine["session_id"], "msrp.session_failed"))
    assert failed.data.reason == "the peer closed the connection"
    expired = events.wait(lambda n: n.name == "service.client_expired"
                          and theirs in n.data.objects)
    assert expired.data.reason == "heartbeat stopped"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=300) | st.sampled_from([
    b"MSRP abcd SEND\r\n", b"To-Path: msrp://127.0.0.1:1/x;tcp\r\n", b"\r\n", b"-------abcd$\r\n",
    b"Byte-Range: 1-*/*\r\n", b"MSRP abcd 200 OK\r\n", b"Content-Type: text/plain\r\n",
]), max_size=8))
def test_any_bytes_after_the_binding_leave_the_service_serving(
    bus: BusClient, pieces: list[bytes]
) -> None:
    """Whatever a bound peer sends, only its session may fail (the harness fails the test
    on a traceback in the service's output)."""
    victim = call(bus, "create_session", address="127.0.0.1")
    fake = "msrp://127.0.0.1:9/fuzzpeer;tcp"
    call(bus, "start_session", session_id=victim["session_id"], remote_path=[fake],
         active=False)
    with socket.create_connection(("127.0.0.1", victim["port"])) as peer:
        peer.sendall(bind_request(victim["path"], fake) + b"".join(pieces))
    assert call(bus, "ping")["service"] == "msrp"
    try:
        call(bus, "end_session", session_id=victim["session_id"])
    except ServiceError as exc:  # it failed already: the peer closed, or sent garbage
        assert exc.code == "not-found"


def test_nickname_requests_go_to_the_owner_and_back(bus: BusClient, events: Recorder) -> None:
    a, b = pair(bus, events)
    sent = call(bus, "send_nickname", session_id=a["session_id"], nickname='Al "the" great',
                transaction_id="nick0001")
    assert sent == {"transaction_id": "nick0001"}
    asked = events.wait(of(b["session_id"], "msrp.nickname_received"))
    assert (asked.data.transaction_id, asked.data.nickname) == ("nick0001", 'Al "the" great')
    assert asked.data.client == bus.client_id
    call(bus, "answer_nickname", session_id=b["session_id"], transaction_id="nick0001",
         code=425)
    answered = events.wait(of(a["session_id"], "msrp.nickname_answered"))
    assert (answered.data.transaction_id, answered.data.code) == ("nick0001", 425)
    assert answered.data.reason == "Nickname Reserved or Already in Use"
    for method, params, code in [
        ("answer_nickname", {"session_id": b["session_id"], "transaction_id": "nick0001",
                             "code": 200}, "not-found"),  # answered already
        ("answer_nickname", {"session_id": b["session_id"], "transaction_id": "x",
                             "code": 99}, "invalid-params"),
        ("send_nickname", {"session_id": a["session_id"], "nickname": "two\nlines"},
         "invalid-params"),
        ("send_nickname", {"session_id": a["session_id"], "nickname": "x",
                           "transaction_id": "no spaces"}, "invalid-params"),
    ]:
        with pytest.raises(ServiceError) as error:
            call(bus, method, **params)
        assert error.value.code == code, (method, params)
    # a new one, with an id of the service's choosing
    other = call(bus, "send_nickname", session_id=a["session_id"], nickname="")
    asked = events.wait(lambda n: of(b["session_id"], "msrp.nickname_received")(n)
                        and n.data.transaction_id == other["transaction_id"])
    assert asked.data.nickname == ""
