"""The session methods of the signalling service's bus API, between two sessions of it.

A real service process (spawn_service) on loopback is both ends: the test
client claims bob (and carol), calls bob from alice through the service's own
UDP port, and drives both sessions: cancelling a re-INVITE (RFC 3261 9.1),
Contact parameters such as RFC 4579 ``isfocus``, extra headers on the INVITE
and its 2xx, and INVITEs with Replaces (RFC 3891).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.signalling import finished, named, signalling_claiming
from harness.sipp import SIPp, free_ports, needs_sipp, scenario
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.bus.client import BusClient, ServiceError, get_bus
from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.common.service import ServiceError as RefusedError
from sipsimple_services.signalling.bus.session_methods import check_contact_params

integration = pytest.mark.integration

ALICE, BOB, CAROL = "sip:alice@127.0.0.1", "sip:bob@127.0.0.1", "sip:carol@127.0.0.1"
SDP = (b"v=0\r\no=sipsimple 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\n")
SDP2 = SDP.replace(b"o=sipsimple 1 1", b"o=sipsimple 1 2") + b"m=message 2855 TCP/MSRP *\r\n"


@pytest.fixture
def route(spawn_service: Callable[..., Any]) -> dict[str, Any]:
    return signalling_claiming(spawn_service, BOB)


def seen(events: Recorder, name: str, **fields: Any) -> list[Any]:
    match = named(name, **fields)
    return [n.data for n in list(events.seen) if match(n)]


def header(pairs: list[Any], name: str) -> list[str]:
    return [value for key, value in pairs if key.lower() == name.lower()]


def call(events: Recorder, route: dict[str, Any], to: str = BOB,
         **options: Any) -> tuple[str, str, Any]:
    """alice calls `to`, which accepts; (caller's id, callee's id, caller's established)."""
    bus = get_bus()
    accept = options.pop("accept", {})
    reply = bus.call("signalling", "invite", from_uri=ALICE, to_uri=to, body=SDP,
                     route=route, **options)
    caller = reply["session_id"]
    incoming = events.wait(named("session_incoming", call_id=reply["call_id"])).data
    callee = incoming.session_id
    bus.call("signalling", "accept", session_id=callee, body=SDP, **accept)
    established = events.wait(named("session_established", session_id=caller)).data
    events.wait(named("session_established", session_id=callee))
    return caller, callee, established


def transactions(events: Recorder, sid: str) -> list[tuple[str, str, int]]:
    return [(d.originator, d.method, d.code)
            for d in seen(events, "session_transaction", session_id=sid)]


@integration
def test_cancel_reinvite(route: dict[str, Any], events: Recorder) -> None:
    bus = get_bus()
    caller, callee, _ = call(events, route)
    bus.call("signalling", "reinvite", session_id=caller, body=SDP2)
    offer = events.wait(named("session_offer", session_id=callee)).data
    assert offer.body == SDP2
    # the re-INVITE's 100 Trying is out: the CANCEL goes now (or as soon as it arrives)
    bus.call("signalling", "cancel_reinvite", session_id=caller)
    rejected = events.wait(named("session_reinvite_rejected", session_id=caller)).data
    assert (rejected.code, rejected.reason) == (487, "Request Terminated")
    events.wait(named("session_reinvite_cancelled", session_id=callee))
    events.wait(named("session_transaction", session_id=callee, method="INVITE", code=487))
    assert ("remote", "CANCEL", 200) in transactions(events, callee)
    events.wait(named("session_transaction", session_id=caller, method="INVITE", code=487))
    # the proposal is over on both sides: Bob's answer comes too late
    with pytest.raises(ServiceError) as info:
        bus.call("signalling", "accept_reinvite", session_id=callee, body=SDP2)
    assert info.value.code == "failed"
    # and the session goes on
    again = SDP2.replace(b"1 2", b"1 3")
    bus.call("signalling", "reinvite", session_id=caller, body=again)
    events.wait(named("session_offer", session_id=callee, body=again))
    bus.call("signalling", "accept_reinvite", session_id=callee, body=again)
    events.wait(named("session_answer", session_id=caller, body=again))
    bus.call("signalling", "end", session_id=caller)
    events.wait(named("session_ended", session_id=callee))
    assert len(seen(events, "session_reinvite_rejected", session_id=caller)) == 1


@integration
def test_cancel_reinvite_after_the_2xx_leaves_it_accepted(
    route: dict[str, Any], events: Recorder
) -> None:
    bus = get_bus()
    caller, callee, _ = call(events, route)
    bus.call("signalling", "reinvite", session_id=caller, body=SDP2)
    events.wait(named("session_offer", session_id=callee))
    bus.call("signalling", "accept_reinvite", session_id=callee, body=SDP2)
    # Bob's 200 is on its way or in: the CANCEL crosses it or is not sent at all
    bus.call("signalling", "cancel_reinvite", session_id=caller)
    events.wait(named("session_answer", session_id=caller, body=SDP2))
    events.wait(named("session_state", session_id=callee, old="accepted", new="connected"))
    bus.call("signalling", "end", session_id=callee)
    events.wait(named("session_ended", session_id=caller))
    assert not seen(events, "session_reinvite_rejected")
    assert not seen(events, "session_reinvite_cancelled")


@integration
def test_contact_params_isfocus(route: dict[str, Any], events: Recorder) -> None:
    caller, callee, established = call(
        events, route, contact_params={"isfocus": None},
        accept={"contact_params": {"isfocus": None, "+sip.src": '"x y"'}})
    incoming = events.wait(named("session_incoming", session_id=callee)).data
    assert incoming.remote_contact_params == {"isfocus": None}
    assert incoming.remote_contact.startswith("sip:alice@127.0.0.1")
    assert header(incoming.headers, "Contact")[0].endswith(";isfocus")
    assert established.remote_contact_params == {"isfocus": None, "+sip.src": '"x y"'}
    theirs = events.wait(named("session_established", session_id=callee)).data
    assert theirs.remote_contact_params == {"isfocus": None}
    # the dialog keeps it: the Contact of a later re-INVITE's 2xx still has it
    bus = get_bus()
    bus.call("signalling", "reinvite", session_id=caller, body=SDP2)
    events.wait(named("session_offer", session_id=callee))
    bus.call("signalling", "accept_reinvite", session_id=callee, body=SDP2)
    events.wait(named("session_answer", session_id=caller))
    bus.call("signalling", "end", session_id=caller)
    events.wait(named("session_ended", session_id=callee))
    plain = call(events, route, to=BOB)[2]
    assert plain.remote_contact_params == {}


@integration
@pytest.mark.parametrize("params", [{"bad name": None}, {"x": "a;b"}, {"x": 1},
                                    {"q": "2"}, {"x": '"open'}])
def test_bad_contact_params_are_refused(route: dict[str, Any], params: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as info:
        get_bus().call("signalling", "invite", from_uri=ALICE, to_uri=BOB, body=SDP,
                       route=route, contact_params=params)
    assert info.value.code == "invalid-params"


@integration
def test_subject_referred_by_and_replaces_reach_the_other_side(
    route: dict[str, Any], events: Recorder
) -> None:
    bus = get_bus()
    first, replaced, established = call(events, route)
    # the Replaces is written from Bob's side: to-tag his, from-tag alice's
    to_tag = h.ToHeader.parse(header(established.headers, "To")[0]).tag
    from_tag = h.FromHeader.parse(header(established.headers, "From")[0]).tag
    call_id = header(established.headers, "Call-ID")[0]
    replaces = f"{call_id};to-tag={to_tag};from-tag={from_tag}"
    second = bus.call("signalling", "invite", from_uri=CAROL, to_uri=BOB, body=SDP, route=route,
                      headers=[["Subject", "about the call"],
                               ["Referred-By", f"<{ALICE}>"], ["Replaces", replaces]])
    incoming = events.wait(named("session_incoming", call_id=second["call_id"])).data
    assert header(incoming.headers, "Subject") == ["about the call"]
    assert header(incoming.headers, "Referred-By") == [f"<{ALICE}>"]
    assert header(incoming.headers, "Replaces") == [replaces]
    assert incoming.replaces == replaces and incoming.replaced_session_id == replaced
    # the 2xx carries the callee's own headers (the facade's Subject)
    bus.call("signalling", "accept", session_id=incoming.session_id, body=SDP,
             headers=[["Subject", "re: about the call"]])
    answered = events.wait(named("session_established", session_id=second["session_id"])).data
    assert header(answered.headers, "Subject") == ["re: about the call"]
    # the facade ends the replaced call itself (RFC 3891: BYE)
    bus.call("signalling", "end", session_id=replaced)
    events.wait(named("session_ended", session_id=first))


@integration
def test_replaces_naming_no_dialog_is_answered_481(
    route: dict[str, Any], events: Recorder
) -> None:
    bus = get_bus()
    sid = bus.call("signalling", "invite", from_uri=CAROL, to_uri=BOB, body=SDP, route=route,
                   headers=[["Replaces", "nosuch@x;to-tag=a;from-tag=b"]])["session_id"]
    failed = events.wait(named("session_failed", session_id=sid)).data
    assert (failed.originator, failed.code) == ("remote", 481)
    assert not seen(events, "session_incoming")


@integration
def test_replaces_naming_another_clients_session_is_answered_481(
    route: dict[str, Any], events: Recorder
) -> None:
    other = BusClient(services=("signalling",))
    other.start()
    try:
        other.call("signalling", "claim_account", aor=CAROL)
        bus = get_bus()
        caller = bus.call("signalling", "invite", from_uri=ALICE, to_uri=CAROL, body=SDP,
                          route=route)["session_id"]
        theirs = events.wait(named("session_incoming", client=other.client_id)).data
        other.call("signalling", "accept", session_id=theirs.session_id, body=SDP)
        established = events.wait(named("session_established", session_id=caller)).data
        to_tag = h.ToHeader.parse(header(established.headers, "To")[0]).tag
        from_tag = h.FromHeader.parse(header(established.headers, "From")[0]).tag
        call_id = header(established.headers, "Call-ID")[0]
        # an INVITE for bob (this client) naming carol's dialog (the other client's)
        sid = bus.call("signalling", "invite", from_uri=ALICE, to_uri=BOB, body=SDP,
                       route=route, headers=[
                           ["Replaces", f"{call_id};to-tag={to_tag};from-tag={from_tag}"]],
                       )["session_id"]
        failed = events.wait(named("session_failed", session_id=sid)).data
        assert failed.code == 481
        assert not seen(events, "session_incoming", to=f"<{BOB}>")
        other.call("signalling", "end", session_id=theirs.session_id)
        events.wait(named("session_ended", session_id=caller))
    finally:
        other.stop()


VALUES = st.one_of(st.none(), st.text(max_size=12), st.integers(),
                   st.sampled_from(["", '"a b"', '"x\\"y"', "tok.en", '"', "a;b", "a\r\nb"]))


@given(st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(["isfocus", "q", "expires"])),
                       VALUES, max_size=4))
def test_contact_params_are_checked_and_survive_the_wire(params: dict[str, Any]) -> None:
    try:
        checked = check_contact_params(params)
    except RefusedError as exc:
        assert exc.code == "invalid-params"
        return
    contact = h.ContactHeader(SIPURI("127.0.0.1", user="alice"), parameters=checked)
    assert dict(h.ContactHeader.parse(str(contact)).parameters) == checked


@integration
@needs_sipp
def test_answered_call_uses_the_credentials_given_with_accept(
        route: dict[str, Any], events: Recorder, tmp_path: Path) -> None:
    bus = get_bus()
    sipp = SIPp(tmp_path)
    try:
        process = sipp.start(scenario("uac_bye_auth.xml", sipp.workdir), service="bob",
                             remote=f"127.0.0.1:{route['port']}", timeout=30)
        incoming = events.wait(named("session_incoming"), timeout=20).data
        callee = incoming.session_id
        bus.call("signalling", "accept", session_id=callee, body=SDP,
                 credentials={"username": "bob", "password": "secret",
                              "realm": "sipp.test"})
        events.wait(named("session_established", session_id=callee))
        bus.call("signalling", "end", session_id=callee)
        ended = events.wait(named("session_ended", session_id=callee)).data
        assert ended.client == bus.client_id  # the end still names its owner
        _out, err = process.communicate(timeout=40)
        assert process.returncode == 0, err.decode(errors="replace")[-2000:] + sipp.errors()
    finally:
        sipp.stop()
    byes = [code for originator, method, code in transactions(events, callee)
            if method == "BYE"]
    assert byes == [401, 200]


@pytest.fixture
def service_log(spawn_service: Callable[..., Any], tmp_path: Path) -> Path:
    """The signalling service running with its log lines written to the returned file."""
    log = tmp_path / "signalling.log"
    spawn_service("sipsimple_services.signalling", "signalling", log=log,
                  SIPSIMPLE_CLIENT_TIMEOUT="2", SIPSIMPLE_LOG_LEVEL="INFO")
    return log


def wait_for_line(log: Path, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.05)


@integration
@needs_sipp
@pytest.mark.parametrize(("realm", "algorithm", "qop", "credentials", "why"), [
    # the callee challenges with a realm that is not the caller's: an offline attack
    ("evil.test", "MD5", ', qop="auth"', {}, "realm 'evil.test' is not the account's"),
    ("127.0.0.1", "MD5", ', qop="auth"', {"allow_md5": False}, "MD5 refused"),
    ("127.0.0.1", "MD5", "", {"allow_qopless": False}, "without qop (RFC 2069) refused"),
])
def test_challenge_the_account_must_not_answer_fails_the_call(
        service_log: Path, events: Recorder, tmp_path: Path, realm: str, algorithm: str,
        qop: str, credentials: dict[str, Any], why: str) -> None:
    bus = get_bus()
    sipp = SIPp(tmp_path)
    try:
        port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        process = sipp.start(scenario("uas_invite_401_other_realm.xml", sipp.workdir,
                                      REALM=realm, ALGORITHM=algorithm, QOP=qop),
                             port=port, timeout=30)
        sid = bus.call("signalling", "invite", from_uri=ALICE,
                       to_uri=f"sip:sipp@127.0.0.1:{port}", body=SDP,
                       route={"host": "127.0.0.1", "port": port, "transport": "udp"},
                       credentials={"username": "alice", "password": "secret",
                                    **credentials})["session_id"]
        failed = events.wait(named("session_failed", session_id=sid), timeout=20).data
        assert (failed.code, failed.originator) == (401, "remote")
        finished(process, sipp)  # INVITE, 401, ACK: no second INVITE
    finally:
        sipp.stop()
    invites = [code for _who, method, code in transactions(events, sid) if method == "INVITE"]
    assert invites == [401]
    wait_for_line(service_log, why)
