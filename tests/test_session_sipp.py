"""The facade's Session against SIPp: the offers and answers our own code never sends.

SIPp calls bob (an INVITE without SDP; a re-INVITE disabling one of two
streams) or answers alice's calls (a 491 to our re-INVITE; glare, both
re-INVITEs crossing). Where SIPp must wait until the facade's session has
started, the test sends it a "go": an INFO datagram carrying the call's
Call-ID, which the scenario waits for (nothing answers it), so no scenario
depends on a pause being long enough.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.sessions import facade, of, route, sent_by, session_names, session_services
from harness.signalling import finished
from harness.sipp import SIPp, free_ports, needs_sipp, scenario
from harness.streams import ProbeStream

from sipsimple.account import Account
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification
from sipsimple.session import IllegalStateError, Session, SessionManager

pytestmark = [pytest.mark.integration, needs_sipp]


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    session_services(spawn_service)
    with facade(["alice", "bob"]) as created:
        yield created



def sipp_calls(sipp: SIPp, name: str, **replace: str) -> tuple[subprocess.Popen[bytes], int]:
    """SIPp runs scenario `name` as a UAC against our service; returns it and its port."""
    port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    target = route("udp")
    process = sipp.start(scenario(name, sipp.workdir, **replace),
                         remote=f"127.0.0.1:{target.port}", port=port, timeout=30)
    return process, port


def sipp_answers(sipp: SIPp, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """SIPp runs scenario `name` as a UAS; returns once its SIP port is bound."""
    return sipp.start_uas(scenario(name, sipp.workdir), timeout=30)


def go(port: int, call_id: str) -> None:
    """Tell SIPp (waiting for an INFO in the call) to go on."""
    request = (
        f"INFO sip:sipp@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKgo{time.monotonic_ns()}\r\n"
        "From: <sip:test@127.0.0.1>;tag=go\r\nTo: <sip:sipp@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INFO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(request.encode(), ("127.0.0.1", port))


def call_sipp(alice: Account, port: int, streams: list[ProbeStream]) -> Session:
    session = Session(alice)
    session.connect(ToHeader(SIPURI(user="sipp", host="127.0.0.1", port=port)),
                    [Route("127.0.0.1", port, "udp")], streams)
    return session


def without_transactions(events: Recorder, session: Session) -> list[str]:
    return session_names(events, session)


@dataclass
class SIPpCall:
    """A call between a running SIPp scenario and the facade's session, with one stream."""

    sipp: SIPp
    events: Recorder
    process: subprocess.Popen[bytes]
    port: int
    session: Session
    stream: ProbeStream

    def go(self) -> None:
        assert self.session.call_id is not None
        go(self.port, self.session.call_id)

    def ended(self) -> Notification:
        """Once the session has ended and SIPp has exited with success."""
        ended = self.events.wait(sent_by(self.session, "SIPSessionDidEnd"))
        finished(self.process, self.sipp)
        return ended

    def hang_up(self) -> Notification:
        self.session.end()
        return self.ended()

    def hold_changed(self, originator: str, timeout: float = 15) -> Notification:
        return self.events.wait(lambda n: n.sender is self.session and n.name ==
                                "SIPSessionDidChangeHoldState" and
                                n.data.originator == originator, timeout)


def sipp_calls_bob(sipp: SIPp, events: Recorder, name: str) -> SIPpCall:
    """SIPp calls bob with one stream in scenario `name`; bob accepts; the session started."""
    process, port = sipp_calls(sipp, name)
    new = events.wait("SIPSessionNewIncoming", timeout=20)
    session: Session = new.sender
    [stream] = new.data.streams
    session.accept([stream])
    events.wait(sent_by(session, "SIPSessionDidStart"))
    assert session.call_id is not None
    return SIPpCall(sipp, events, process, port, session, stream)


def alice_calls_sipp(sipp: SIPp, events: Recorder, alice: Account, name: str) -> SIPpCall:
    """Alice calls SIPp answering in scenario `name`, with one stream; the session started."""
    process, port = sipp_answers(sipp, name)
    stream = ProbeStream(alice)
    session = call_sipp(alice, port, [stream])
    events.wait(sent_by(session, "SIPSessionDidStart"))
    return SIPpCall(sipp, events, process, port, session, stream)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
def test_a_dead_udp_route_fails_at_once_and_the_next_route_answers(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    process, port = sipp_answers(sipp, "session_uas_second_route.xml")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = Route("127.0.0.1", closed.getsockname()[1], "udp")  # nothing listens
    stream = ProbeStream(accounts["alice"])
    session = Session(accounts["alice"])
    session.connect(ToHeader(SIPURI(user="sipp", host="127.0.0.1", port=port)),
                    [dead, Route("127.0.0.1", port, "udp")], [stream])
    # the first route's INVITE failed by the ICMP error, not by Timer B's 408
    failed = events.wait("signalling.session_failed", timeout=60)
    assert (failed.data.originator, failed.data.code) == ("local", 503)
    assert "port unreachable" in failed.data.reason
    events.wait(sent_by(session, "SIPSessionDidStart"))
    assert not of(events, session, "SIPSessionDidFail")
    SIPpCall(sipp, events, process, port, session, stream).hang_up()


# --- SIPp calls us -------------------------------------------------------------------


def test_invite_without_sdp_our_offer_in_the_200(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    process, port = sipp_calls(sipp, "session_uac_nosdp.xml")
    new = events.wait("SIPSessionNewIncoming", timeout=20)
    session: Session = new.sender
    assert new.data.streams == [] and session.proposed_streams == []
    assert session.account is accounts["bob"] and session.state == "incoming"
    assert str(session.remote_identity.uri).startswith("sip:sipp@127.0.0.1")
    stream = ProbeStream(accounts["bob"])
    session.accept([stream])
    started = events.wait(sent_by(session, "SIPSessionDidStart"))
    assert started.data.streams == [stream] and session.streams == [stream]
    # our offer went in the 200 (SIPp checked it), SIPp's answer came in the ACK
    assert session.local_sdp is not None and session.remote_sdp is not None
    assert session.remote_sdp.name == "answer-in-ack"
    assert stream.remote_port == session.remote_sdp.media[0].port != 0
    assert session.local_sdp.media[0].port == stream.port
    assert session.call_id is not None
    call = SIPpCall(sipp, events, process, port, session, stream)
    call.go()
    assert call.ended().data.originator == "remote"
    assert session.state == "terminated" and stream.ended
    assert without_transactions(events, session) == [
        "SIPSessionNewIncoming", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]
    [invite] = [n.data for n in of(events, session, "SIPSessionDidProcessTransaction")
                if n.data.method == "INVITE"]
    assert (invite.originator, invite.code, invite.ack_received) == ("remote", 200, True)


def test_reinvite_disabling_one_of_two_streams(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    process, port = sipp_calls(sipp, "session_uac_remove.xml")
    new = events.wait("SIPSessionNewIncoming", timeout=20)
    session: Session = new.sender
    first, second = new.data.streams
    assert (first.remote_port, second.remote_port) == (7000, 7002)
    session.accept([first, second])
    events.wait(sent_by(session, "SIPSessionDidStart"))
    assert session.streams == [first, second]
    call = SIPpCall(sipp, events, process, port, session, first)
    call.go()
    renegotiated = events.wait(sent_by(session, "SIPSessionDidRenegotiateStreams"))
    assert renegotiated.data.action == "remove" and renegotiated.data.streams == [second]
    assert session.streams == [first] and session.state == "connected"
    assert second.ended and not first.ended
    assert session.local_sdp is not None and session.remote_sdp is not None
    assert session.local_sdp.media[1].port == 0 and session.local_sdp.media[0].port != 0
    assert session.remote_sdp.media[1].port == 0
    call.go()
    assert call.ended().data.originator == "remote"
    assert first.ended
    assert not of(events, session, "SIPSessionGotProposal")  # a removal is no proposal
    reinvites = [n.data for n in of(events, session, "SIPSessionDidProcessTransaction")
                 if n.data.method == "INVITE"]
    assert [(t.originator, t.code) for t in reinvites] == [("remote", 200), ("remote", 200)]


# --- we call SIPp --------------------------------------------------------------------


def test_491_to_our_reinvite_then_the_retry_is_accepted(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = alice_calls_sipp(sipp, events, accounts["alice"], "session_uas_491.xml")
    session, first = call.session, call.stream
    added = ProbeStream(accounts["alice"])
    session.add_stream(added)
    assert session.state == "sending_proposal"
    accepted = events.wait(sent_by(session, "SIPSessionGotAcceptProposal"), timeout=20)
    assert accepted.data.originator == "local" and accepted.data.streams == [added]
    renegotiated = events.wait(sent_by(session, "SIPSessionDidRenegotiateStreams"))
    assert renegotiated.data.action == "add" and renegotiated.data.streams == [added]
    assert session.streams == [first, added] and session.state == "connected"
    assert added.remote_port is not None and added.remote_port != first.remote_port
    call.hang_up()
    names = without_transactions(events, session)
    assert names[names.index("SIPSessionDidStart") + 1:] == [
        "SIPSessionGotProposal", "SIPSessionGotAcceptProposal",
        "SIPSessionDidRenegotiateStreams", "SIPSessionWillEnd", "SIPSessionDidEnd"]
    [proposal] = of(events, session, "SIPSessionGotProposal")
    assert proposal.data.originator == "local" and proposal.data.streams == [added]


def held_both_ways_without_failure(call: SIPpCall) -> list[str]:
    """After both holds: each side holds the other; hang up; the session's names."""
    session, stream = call.session, call.stream
    assert session.state == "connected" and session.on_hold
    assert stream.on_hold_by_local and stream.on_hold_by_remote
    call.hang_up()
    names = without_transactions(call.events, session)
    assert "SIPSessionHadProposalFailure" not in names
    assert "SIPSessionGotRejectProposal" not in names
    return names


def test_glare_both_reinvites_491_then_both_retries_succeed(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = alice_calls_sipp(sipp, events, accounts["alice"], "session_uas_glare.xml")
    call.session.hold()
    local = call.hold_changed("local", timeout=20)
    assert local.data.on_hold is True and local.data.partial is False
    assert call.hold_changed("remote").data.on_hold is True
    held_both_ways_without_failure(call)
    invites = [(t.data.originator, t.data.code)
               for t in of(events, call.session, "SIPSessionDidProcessTransaction")
               if t.data.method == "INVITE"]
    # the INVITE, our re-INVITE refused, theirs refused, our retry, their retry
    assert sorted(invites) == sorted([("local", 200), ("local", 491), ("remote", 491),
                                      ("local", 200), ("remote", 200)]), invites


def test_glare_the_peer_retries_first_while_our_retry_waits(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    # RFC 3261 14.1: the side that did not generate the Call-ID retries within 2 s,
    # ours after 2.1 to 4 s; the peer's retry must be answered, not refused again
    call = alice_calls_sipp(sipp, events, accounts["alice"],
                            "session_uas_glare_peer_first.xml")
    call.session.hold()
    assert call.hold_changed("remote", timeout=20).data.on_hold is True
    assert call.hold_changed("local", timeout=20).data.on_hold is True
    held_both_ways_without_failure(call)


def test_hold_while_the_ack_of_their_reinvite_is_outstanding(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = sipp_calls_bob(sipp, events, "session_uac_late_ack.xml")
    session = call.session
    call.go()  # SIPp holds; its ACK waits for the next go
    assert call.hold_changed("remote").data.on_hold is True
    session.hold()  # cannot go out before the ACK: it must wait, not fail
    deadline = time.monotonic() + 10
    while session.state != "sending_proposal":  # the facade took the hold up
        assert time.monotonic() < deadline, session.state
        time.sleep(0.01)
    # time to try the re-INVITE before the ACK comes (what must pass does not depend
    # on it: without it the hold may simply go out after the ACK)
    time.sleep(0.3)
    call.go()
    local = call.hold_changed("local", timeout=20)
    assert local.data.on_hold is True and session.state == "connected"
    call.go()
    call.ended()
    assert not of(events, session, "SIPSessionHadProposalFailure")


def test_our_hold_answered_inactive_is_a_hold_by_the_peer_too(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = alice_calls_sipp(sipp, events, accounts["alice"], "session_uas_hold_inactive.xml")
    session, stream = call.session, call.stream

    def hold_states(count: int) -> list[tuple[str, bool]]:
        def enough(_: Any) -> bool:
            return len(of(events, session, "SIPSessionDidChangeHoldState")) >= count
        events.wait(enough)
        return [(n.data.originator, n.data.on_hold)
                for n in of(events, session, "SIPSessionDidChangeHoldState")]

    session.hold()
    assert hold_states(2) == [("local", True), ("remote", True)]
    assert stream.on_hold_by_local and stream.on_hold_by_remote and session.on_hold
    session.unhold()
    assert hold_states(4)[2:] == [("local", False), ("remote", False)]
    assert not session.on_hold
    call.hang_up()


def test_reinvite_without_sdp_our_offer_their_answer_in_the_ack(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = sipp_calls_bob(sipp, events, "session_uac_reinvite_nosdp.xml")
    session, stream = call.session, call.stream
    assert stream.remote_port == 7000
    call.go()
    held = events.wait(sent_by(session, "SIPSessionDidChangeHoldState"))
    assert (held.data.originator, held.data.on_hold) == ("remote", True)
    assert stream.remote_port == 7010 and stream.on_hold_by_remote
    assert session.remote_sdp is not None and session.remote_sdp.media[0].port == 7010
    assert session.state == "connected" and session.streams == [stream]
    call.go()
    call.ended()
    assert not of(events, session, "SIPSessionGotProposal")


def test_offers_that_cannot_be_answered_get_488_and_change_nothing(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = sipp_calls_bob(sipp, events, "session_uac_bad_offers.xml")
    # the INVITE whose body is not SDP never reaches the application
    assert len(events.named("SIPSessionNewIncoming")) == 1
    session, stream = call.session, call.stream
    local_sdp, remote_sdp = session.local_sdp, session.remote_sdp
    call.go()

    def refused(_: Any) -> bool:
        return [(t.data.originator, t.data.code) for t in
                of(events, session, "SIPSessionDidProcessTransaction")
                if t.data.method == "INVITE"].count(("remote", 488)) == 2
    events.wait(refused)
    assert session.state == "connected" and session.streams == [stream] and not stream.ended
    assert (session.local_sdp, session.remote_sdp) == (local_sdp, remote_sdp)
    call.go()
    call.ended()
    assert without_transactions(events, session) == [
        "SIPSessionNewIncoming", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]


def test_calls_refused_before_any_session_are_posted_with_the_reason(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    """The service's 480 (nobody claims the user) and our 488 (no stream takes the offer)."""
    for user, host, media, code in (
        ("nobody", "[remote_ip]:[remote_port]", "audio [media_port] RTP/AVP 0", 480),
        ("bob", "sip.test", "video [media_port] RTP/AVP 31", 488),
    ):
        process, _ = sipp_calls(sipp, "uac_refused.xml", USER=user, HOST=host, MEDIA=media,
                                FINAL=str(code), RING_OPTIONAL="true", RINGS="False")
        finished(process, sipp)
        refusal = events.wait(lambda n, code=code: n.name == "SIPSessionIncomingRefused"
                              and n.data.code == code)
        assert refusal.sender is SessionManager()
        assert str(refusal.data.remote_identity.uri).startswith("sip:sipp@127.0.0.1")
        assert refusal.data.local_identity.uri.user == user
        assert (refusal.data.refused_by, refusal.data.reason, refusal.data.detail) == (
            ("signalling", "Temporarily Unavailable",
             f"no account here takes calls for {refusal.data.local_identity}") if code == 480
            else ("client", "Not Acceptable Here", "no acceptable stream in the offer"))
    assert not events.named("SIPSessionNewIncoming")


def test_bye_while_our_proposal_is_pending(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = alice_calls_sipp(sipp, events, accounts["alice"],
                            "session_uas_bye_during_proposal.xml")
    session, first = call.session, call.stream
    added = ProbeStream(accounts["alice"])
    session.add_stream(added)
    assert call.ended().data.originator == "remote"
    assert session.state == "terminated" and session.proposed_streams is None
    assert first.ended and added.ended  # the stream being added is ended too
    assert not of(events, session, "SIPSessionGotAcceptProposal")
    assert not of(events, session, "SIPSessionDidRenegotiateStreams")


def test_bye_while_their_proposal_waits_for_us(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = sipp_calls_bob(sipp, events, "session_uac_bye_during_their_proposal.xml")
    session = call.session
    call.go()
    proposal = events.wait(sent_by(session, "SIPSessionGotProposal"))
    assert proposal.data.originator == "remote"
    [proposed] = proposal.data.streams
    assert session.state == "received_proposal" and proposed.remote_port == 7002
    call.go()  # SIPp hangs up; the proposal is never answered
    assert call.ended().data.originator == "remote"
    assert session.state == "terminated" and session.proposed_streams is None
    assert call.stream.ended and proposed.ended
    with pytest.raises(IllegalStateError):
        session.accept_proposal([proposed])


def test_a_proposal_cancelled_before_it_could_be_sent(
        accounts: dict[str, Account], events: Recorder, sipp: SIPp) -> None:
    call = sipp_calls_bob(sipp, events, "session_uac_late_ack_cancel.xml")
    session = call.session
    call.go()  # SIPp holds; its ACK waits for the next go
    events.wait(sent_by(session, "SIPSessionDidChangeHoldState"))
    added = ProbeStream(accounts["bob"])
    session.add_stream(added)
    events.wait(lambda n: n.sender is added and n.name == "MediaStreamDidInitialize")
    time.sleep(0.3)  # time to try the re-INVITE (the outcome does not depend on it)
    session.cancel_proposal()
    rejected = events.wait(sent_by(session, "SIPSessionGotRejectProposal"))
    assert (rejected.data.originator, rejected.data.code) == ("local", 487)
    assert rejected.data.streams == [added] and added.ended
    assert session.state == "connected" and session.streams == [call.stream]
    call.go()  # the ACK: nothing of ours may follow it
    call.go()
    call.ended()
    assert not of(events, session, "SIPSessionHadProposalFailure")
