"""Sessions between two accounts through the real signalling service, with a test stream.

Both accounts live in this process and are claimed by its bus client; alice's
INVITE leaves the service over UDP (or TCP) to the service's own address and
comes back in as bob's incoming session, so every message really crosses
the network stack and the SIP parser twice.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness import sessions
from harness.notifications import Recorder
from harness.sessions import (
    DOMAIN,
    facade,
    incoming,
    route,
    session_names,
    session_services,
    to,
    wait_claimed,
)
from harness.streams import ProbeStream

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI, ReasonHeader, Route
from sipsimple.notification import Notification
from sipsimple.session import IllegalStateError, Session, SessionManager

pytestmark = pytest.mark.integration

@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> None:
    session_services(spawn_service, SIPSIMPLE_SIP_TRANSPORTS="udp,tcp")


@pytest.fixture
def accounts(services: None) -> Iterator[dict[str, Account]]:
    with facade(("alice", "bob", "carol")) as created:
        yield created


def call(events: Recorder, caller: Account, callee: str,
         transport: str = "udp") -> tuple[Session, Session]:
    return sessions.call(events, caller, callee, [route(transport)])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_accept_and_end(accounts: dict[str, Account], events: Recorder,
                             transport: str) -> None:
    alice = accounts["alice"]
    session = Session(alice)
    stream = ProbeStream(alice)
    session.connect(to("bob"), [route(transport)], [stream], subject="hello")
    assert session.state == "connecting" and session.direction == "outgoing"
    assert session in SessionManager().sessions

    new = incoming(events)
    answering: Session = new.sender
    assert answering.state == "incoming" and answering.direction == "incoming"
    assert answering.account is accounts["bob"]
    assert answering.subject == "hello"
    assert str(answering.remote_identity.uri) == "sip:alice@sip.test"
    assert answering.remote_identity.display_name == "Alice"
    [offered] = new.data.streams
    assert isinstance(offered, ProbeStream) and offered.remote_port == stream.port

    answering.send_ring_indication()
    events.wait(lambda n: n.name == "SIPSessionGotRingIndication" and n.sender is session)
    answering.accept([offered])
    started = events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert started.data.streams == [stream]
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is answering)
    assert session.state == answering.state == "connected"
    assert session.streams == [stream] and answering.streams == [offered]
    assert session.transport == transport
    assert session.start_time is not None and session.stop_time is None
    assert stream.remote_port == offered.port and offered.remote_port == stream.port
    assert session.remote_user_agent and answering.remote_user_agent
    assert session.proposed_streams is None

    session.end()
    ended = events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
    assert ended.data.originator == "local" and ended.data.end_reason == "user_request"
    remote_end = events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)
    assert remote_end.data.originator == "remote"
    assert session.state == answering.state == "terminated"
    assert stream.ended and offered.ended
    assert session not in SessionManager().sessions
    assert session_names(events, session) == [
        "SIPSessionNewOutgoing", "SIPSessionGotProvisionalResponse",
        "SIPSessionGotRingIndication", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]
    assert session_names(events, answering) == [
        "SIPSessionNewIncoming", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]
    transactions = [n.data for n in events.seen
                    if n.name == "SIPSessionDidProcessTransaction" and n.sender is session]
    assert [(t.originator, t.method, t.code) for t in transactions] == [
        ("local", "INVITE", 200), ("local", "BYE", 200)]
    assert not hasattr(transactions[1], "ack_received") or "ack_received" not in dict(
        transactions[1])
    answered = [n.data for n in events.seen
                if n.name == "SIPSessionDidProcessTransaction" and n.sender is answering]
    assert answered[0].method == "INVITE" and answered[0].ack_received is True


def test_reject(accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    answering = incoming(events).sender
    answering.reject(486, "Busy Here")
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert (failed.data.originator, failed.data.code, failed.data.reason) == (
        "remote", 486, "Busy Here")
    mine = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is answering)
    assert mine.data.originator == "local" and mine.data.failure_reason == "user_request"
    assert session.state == answering.state == "terminated"
    assert "SIPSessionDidEnd" not in session_names(events, session)


def test_cancel_a_ringing_call(accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    stream = ProbeStream(accounts["alice"])
    session.connect(to("bob"), [route()], [stream])
    answering = incoming(events).sender
    answering.send_ring_indication()
    events.wait(lambda n: n.name == "SIPSessionGotRingIndication")
    session.end()
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.originator == "local" and failed.data.code == 487
    assert failed.data.failure_reason == "user_request"
    theirs = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is answering)
    assert theirs.data.originator == "remote"
    assert stream.ended


def test_methods_in_the_wrong_state_raise_and_change_nothing(
        accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    with pytest.raises(IllegalStateError):
        session.accept([])
    with pytest.raises(IllegalStateError):
        session.add_stream(ProbeStream(accounts["alice"]))
    assert session.state is None
    session.end()  # nothing started: nothing to do
    assert session.state is None
    caller, answering = call(events, accounts["alice"], "bob")
    with pytest.raises(IllegalStateError):
        caller.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    with pytest.raises(IllegalStateError):
        answering.accept(answering.streams)
    with pytest.raises(IllegalStateError):
        answering.reject()
    assert caller.state == answering.state == "connected"
    caller.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)


def test_incoming_for_an_unknown_account_is_404(accounts: dict[str, Account],
                                              events: Recorder) -> None:
    # claimed by the service (so it reaches the facade) but not one of our accounts
    get_bus().call("signalling", "claim_account", aor=f"sip:dave@{DOMAIN}")
    session = Session(accounts["alice"])
    session.connect(to("dave"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.code == 404
    assert not events.named("SIPSessionNewIncoming")


def test_no_acceptable_stream_is_488(accounts: dict[str, Account], events: Recorder) -> None:
    ProbeStream.decline = True
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.code == 488
    assert not events.named("SIPSessionNewIncoming")


def test_route_failover(accounts: dict[str, Account], events: Recorder) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = Route("127.0.0.1", closed.getsockname()[1], "tcp")  # nothing listens
    session = Session(accounts["alice"])
    session.connect(to("bob"), [dead, route()], [ProbeStream(accounts["alice"])])
    new = incoming(events)
    new.sender.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert session.transport == "udp"
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
def test_route_failover_from_a_dead_udp_port(accounts: dict[str, Account],
                                             events: Recorder) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = Route("127.0.0.1", closed.getsockname()[1], "udp")  # nothing listens
    session = Session(accounts["alice"])
    session.connect(to("bob"), [dead, route("tcp")], [ProbeStream(accounts["alice"])])
    # the first route failed by its ICMP port-unreachable: a local 503, not Timer B's 408
    failed = events.wait("signalling.session_failed", timeout=60)
    assert (failed.data.originator, failed.data.code) == ("local", 503)
    assert "port unreachable" in failed.data.reason
    new = incoming(events)
    new.sender.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert session.transport == "tcp"  # the next route
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


def test_stream_failing_to_initialize_fails_the_call(accounts: dict[str, Account],
                                                      events: Recorder) -> None:
    ProbeStream.fail_initialize = True
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.originator == "local" and failed.data.code == 0
    assert "initialize" in failed.data.failure_reason
    assert not events.named("SIPSessionNewIncoming")


def test_media_failing_to_start_fails_with_the_phrase_of_its_code(
        accounts: dict[str, Account], events: Recorder) -> None:
    # Longer than any cut a header could have made: the peer must get it whole.
    why = ("the RTP port could not be bound because every port of the configured range "
           "is taken by other calls; try again when one of them has ended")
    stream = ProbeStream(accounts["alice"])
    stream.start_error = why
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [stream])
    new = incoming(events)
    new.sender.accept(new.data.streams)
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert (failed.data.originator, failed.data.code) == ("local", 500)
    assert failed.data.reason == "Server Internal Error"  # not the "OK" of the BYE's 200
    assert failed.data.failure_reason == f"media streams failed to start: {why}"
    # bob's service got our BYE: its Reason header carries the whole text
    ended = events.wait(lambda n: n.name == "signalling.session_ended"
                        and n.data.session_id == new.sender._sid)
    reason = ReasonHeader.parse(ended.data.reason_header)
    assert (reason.cause, reason.text) == (500, f"media streams failed to start: {why}")


def renegotiated(events: Recorder, session: Session, action: str) -> Notification:
    return events.wait(lambda n: n.name == "SIPSessionDidRenegotiateStreams"
                       and n.sender is session and n.data.action == action)


def test_add_stream_accepted_then_removed(accounts: dict[str, Account], events: Recorder) -> None:
    caller, answering = call(events, accounts["alice"], "bob")
    assert caller.local_sdp is not None
    version = caller.local_sdp.version
    extra = ProbeStream(accounts["alice"])
    caller.add_stream(extra)
    assert caller.state == "sending_proposal" and caller.proposed_streams == [extra]
    proposal = events.wait(lambda n: n.name == "SIPSessionGotProposal" and n.sender is answering)
    assert proposal.data.originator == "remote"
    [theirs] = proposal.data.streams
    assert answering.state == "received_proposal" and answering.proposed_streams == [theirs]
    answering.accept_proposal([theirs])
    accepted = events.wait(lambda n: n.name == "SIPSessionGotAcceptProposal"
                           and n.sender is caller)
    assert accepted.data.originator == "local" and accepted.data.streams == [extra]
    assert accepted.data.proposed_streams == [extra]
    assert renegotiated(events, caller, "add").data.streams == [extra]
    assert renegotiated(events, answering, "add").data.streams == [theirs]
    assert caller.state == "connected" and len(caller.streams) == 2
    events.wait(lambda n: n.name == "SIPSessionGotAcceptProposal" and n.sender is answering)
    assert answering.state == "connected" and answering.streams[1] is theirs
    assert extra.remote_port == theirs.port and theirs.remote_port == extra.port
    assert caller.local_sdp.version == version + 1  # raised once

    answering.remove_stream(theirs)
    removed = renegotiated(events, caller, "remove")
    assert removed.data.streams == [extra] and extra.ended
    renegotiated(events, answering, "remove")
    assert theirs.ended and theirs not in answering.streams
    assert caller.remote_sdp is not None and caller.remote_sdp.media[1].port == 0

    # the disabled m-line is reused by the next stream (RFC 3264 8.1)
    again = ProbeStream(accounts["alice"])
    caller.add_stream(again)
    proposal = events.wait(lambda n: n.name == "SIPSessionGotProposal" and n.sender is answering
                           and n is not proposal)
    answering.accept_proposal(proposal.data.streams)
    events.wait(lambda n: n.name == "SIPSessionGotAcceptProposal" and n.sender is caller
                and n is not accepted)
    assert caller.local_sdp is not None and len(caller.local_sdp.media) == 2
    assert caller.local_sdp.media[1].port == again.port
    caller.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)


def test_proposal_rejected(accounts: dict[str, Account], events: Recorder) -> None:
    caller, answering = call(events, accounts["alice"], "bob")
    extra = ProbeStream(accounts["alice"])
    caller.add_stream(extra)
    events.wait(lambda n: n.name == "SIPSessionGotProposal" and n.sender is answering)
    answering.reject_proposal(488, "Not Now")
    rejected = events.wait(lambda n: n.name == "SIPSessionGotRejectProposal"
                           and n.sender is caller)
    assert (rejected.data.originator, rejected.data.code, rejected.data.reason) == (
        "local", 488, "Not Now")
    assert rejected.data.streams == [extra] and extra.ended
    theirs = events.wait(lambda n: n.name == "SIPSessionGotRejectProposal"
                         and n.sender is answering)
    assert theirs.data.originator == "remote" and theirs.data.code == 488
    assert caller.state == answering.state == "connected"
    assert len(caller.streams) == len(answering.streams) == 1
    assert not events.named("SIPSessionDidRenegotiateStreams")


def test_proposal_cancelled(accounts: dict[str, Account], events: Recorder) -> None:
    caller, answering = call(events, accounts["alice"], "bob")
    extra = ProbeStream(accounts["alice"])
    caller.add_stream(extra)
    events.wait(lambda n: n.name == "SIPSessionGotProposal" and n.sender is answering)
    caller.cancel_proposal()
    assert caller.state == "cancelling_proposal"
    rejected = events.wait(lambda n: n.name == "SIPSessionGotRejectProposal"
                           and n.sender is caller)
    assert rejected.data.code == 487 and rejected.data.streams == [extra]
    withdrawn = events.wait(lambda n: n.name == "SIPSessionGotRejectProposal"
                            and n.sender is answering)
    assert withdrawn.data.originator == "remote" and withdrawn.data.code == 487
    assert caller.state == answering.state == "connected"
    with pytest.raises(IllegalStateError):
        answering.accept_proposal(withdrawn.data.streams)


def test_hold_and_unhold_both_ways(accounts: dict[str, Account], events: Recorder) -> None:
    caller, answering = call(events, accounts["alice"], "bob")
    [mine], [theirs] = caller.streams, answering.streams
    caller.hold()
    local = events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is caller)
    assert local.data.originator == "local" and local.data.on_hold and not local.data.partial
    remote = events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState"
                         and n.sender is answering)
    assert remote.data.originator == "remote" and remote.data.on_hold
    assert mine.on_hold_by_local and theirs.on_hold_by_remote
    assert caller.on_hold and answering.on_hold
    assert caller.local_sdp is not None and caller.local_sdp.media_direction(0) == "sendonly"

    answering.hold()  # both on hold now: inactive
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and n.data.originator == "local")
    assert answering.local_sdp is not None and answering.local_sdp.media_direction(0) in (
        "inactive", "sendonly")
    caller.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is caller
                and n.data.originator == "local" and not n.data.on_hold)
    answering.unhold()
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is answering
                and n.data.originator == "local" and not n.data.on_hold)
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is caller
                and n.data.originator == "remote" and not n.data.on_hold)
    assert not caller.on_hold and not answering.on_hold
    caller.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)


def test_hold_before_the_call_starts_is_queued(accounts: dict[str, Account],
                                              events: Recorder) -> None:
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    session.hold()  # allowed in any state: sent once connected
    new = incoming(events)
    new.sender.accept(new.data.streams)
    held = events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState"
                       and n.sender is new.sender)
    assert held.data.originator == "remote" and held.data.on_hold
    events.wait(lambda n: n.name == "SIPSessionDidChangeHoldState" and n.sender is session)
    names = session_names(events, session)
    assert names.index("SIPSessionDidStart") < names.index("SIPSessionDidChangeHoldState")
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


def test_blind_transfer(accounts: dict[str, Account], events: Recorder) -> None:
    # alice reaches carol through her outbound proxy: our own service's UDP address
    use_service_as_proxy(accounts["alice"])
    caller, answering = call(events, accounts["alice"], "bob")
    # bob transfers alice to carol
    answering.transfer(SIPURI(user="carol", host=DOMAIN))
    outgoing = events.wait(lambda n: n.name == "SIPSessionTransferNewOutgoing"
                           and n.sender is answering)
    assert str(outgoing.data.transfer_destination).startswith("sip:carol@")
    request = events.wait(lambda n: n.name == "SIPSessionTransferNewIncoming"
                          and n.sender is caller)
    assert str(request.data.transfer_destination).startswith("sip:carol@")
    caller.accept_transfer()
    events.wait(lambda n: n.name == "SIPSessionTransferDidStart" and n.sender is caller)
    events.wait(lambda n: n.name == "SIPSessionTransferDidStart" and n.sender is answering)
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming" and n.sender not in (
        caller, answering) and n.sender.account is accounts["carol"])
    carol: Session = new.sender
    assert carol.remote_identity is not None
    assert str(carol.remote_identity.uri) == "sip:alice@sip.test"
    carol.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is carol)
    events.wait(lambda n: n.name == "SIPSessionTransferDidEnd" and n.sender is answering)
    events.wait(lambda n: n.name == "SIPSessionTransferDidEnd" and n.sender is caller)
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is caller)
    progress = [n.data.code for n in events.seen
                if n.name == "SIPSessionTransferGotProgress" and n.sender is answering]
    assert progress and progress[-1] == 200
    assert {s.account.id for s in SessionManager().sessions} == {
        accounts["alice"].id, accounts["carol"].id}
    carol.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is carol)


def use_service_as_proxy(account: Account) -> None:
    from sipsimple.configuration.datatypes import SIPProxyAddress

    account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", route().port, "udp")
    account.save()
    wait_claimed([str(account.uri)])


def test_transfer_rejected(accounts: dict[str, Account], events: Recorder) -> None:
    caller, answering = call(events, accounts["alice"], "bob")
    answering.transfer(SIPURI(user="carol", host=DOMAIN))
    events.wait(lambda n: n.name == "SIPSessionTransferNewIncoming" and n.sender is caller)
    caller.reject_transfer(603, "Decline")
    failed = events.wait(lambda n: n.name == "SIPSessionTransferDidFail"
                         and n.sender is answering)
    assert failed.data.code == 603
    assert caller.state == answering.state == "connected"
    caller.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)


def test_attended_transfer_replaces_the_consultation_call(accounts: dict[str, Account],
                                                         events: Recorder) -> None:
    use_service_as_proxy(accounts["alice"])
    original, bob_with_alice = call(events, accounts["alice"], "bob")
    consultation = Session(accounts["bob"])
    consultation.connect(to("carol"), [route()], [ProbeStream(accounts["bob"])])
    new = events.wait(lambda n: n.name == "SIPSessionNewIncoming"
                      and n.sender.account is accounts["carol"])
    carol_with_bob: Session = new.sender
    carol_with_bob.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is consultation)

    bob_with_alice.transfer(SIPURI(user="carol", host=DOMAIN), replaced_session=consultation)
    request = events.wait(lambda n: n.name in ("SIPSessionTransferNewIncoming",
                                               "SIPSessionTransferDidFail"))
    assert request.name == "SIPSessionTransferNewIncoming", request.data
    original.accept_transfer()
    replacing = events.wait(lambda n: n.name == "SIPSessionNewIncoming"
                            and n.sender.account is accounts["carol"] and n is not new)
    carol_with_alice: Session = replacing.sender
    assert carol_with_alice.replaced_session is carol_with_bob
    assert request.data.transfer_destination.user == "carol"
    carol_with_alice.accept(replacing.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is carol_with_alice)
    # the replaced call and both legs of the transferred one end
    for gone in (carol_with_bob, consultation, original, bob_with_alice):
        events.wait(lambda n, gone=gone: n.name == "SIPSessionDidEnd" and n.sender is gone)
    events.wait(lambda n: n.name == "SIPSessionTransferDidEnd" and n.sender is bob_with_alice)
    assert {s.account.id for s in SessionManager().sessions} == {
        accounts["alice"].id, accounts["carol"].id}
    carol_with_alice.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is carol_with_alice)


def test_is_focus_reaches_the_other_side(accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])], is_focus=True)
    new = incoming(events)
    new.sender.accept(new.data.streams)
    for side in (new.sender, session):  # ending before our side started would fail it
        events.wait(lambda n, s=side: n.name == "SIPSessionDidStart" and n.sender is s)
    assert new.sender.remote_focus and not session.remote_focus
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


def test_a_subscribe_to_an_account_is_refused_with_489(accounts: dict[str, Account],
                                                       events: Recorder) -> None:
    # the facade serves no event package but a room's conference: a SUBSCRIBE to one of
    # its accounts gets 489 Bad Event at once, not silence until the subscriber gives up
    bob = accounts["bob"]
    sid = get_bus().call(
        "signalling", "subscribe", from_uri=str(bob.uri), to_uri=str(accounts["alice"].uri),
        event="presence", route=route().to_bus(), accept=["application/pidf+xml"],
        expires=600, credentials=bob.credentials.to_bus())["subscription_id"]
    failed = events.wait(lambda n: n.name in ("signalling.subscription_failed",
                                              "signalling.subscription_started")
                         and n.data.subscription_id == sid)
    assert (failed.name, failed.data.code) == ("signalling.subscription_failed", 489)


def test_an_account_is_active_once_its_calls_reach_us(accounts: dict[str, Account],
                                                     events: Recorder) -> None:
    dave = Account(f"dave@{DOMAIN}")
    dave.enabled, dave.sip.register = True, False
    dave.save()
    events.wait(lambda n: n.name == "SIPAccountDidActivate" and n.sender is dave)
    session = Session(accounts["alice"])
    session.connect(to("dave"), [route()], [ProbeStream(accounts["alice"])])
    new = incoming(events)
    assert new.sender.account is dave
    new.sender.reject(486)
    events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    dave.enabled = False
    dave.save()
    events.wait(lambda n: n.name == "SIPAccountDidDeactivate" and n.sender is dave)
    dave.delete()


def test_both_sides_hold_at_once(accounts: dict[str, Account], events: Recorder) -> None:
    # glare between two of our own endpoints converges: both end up held both ways
    a, b = call(events, accounts["alice"], "bob")
    a.hold()
    b.hold()
    for session in (a, b):
        for originator in ("local", "remote"):
            events.wait(lambda n, s=session, o=originator: n.sender is s
                        and n.name == "SIPSessionDidChangeHoldState"
                        and n.data.originator == o and n.data.on_hold, timeout=30)
    assert not events.named("SIPSessionHadProposalFailure")
    assert not events.named("SIPSessionGotRejectProposal")
    assert a.state == b.state == "connected"
    a.end()
    events.wait(lambda n: n.sender is b and n.name == "SIPSessionDidEnd")
