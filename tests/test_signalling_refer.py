"""REFER (RFC 3515) across two stacks: blind and attended transfer, sipfrag NOTIFYs,
transfers ending with their session, failed NOTIFYs (RFC 5057) and a challenged REFER."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_dialog_fixtures import Network, established
from sip_subscription_fixtures import GluedStack, glued_pair

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.auth import AuthSession, Credentials
from sipsimple_services.signalling.sip.dialogs.dialog import DialogId
from sipsimple_services.signalling.sip.dialogs.replaces import refer_to_with_replaces, replaces_for
from sipsimple_services.signalling.sip.invite.events import InDialogRequest, InDialogResponse
from sipsimple_services.signalling.sip.invite.session import SessionError
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.refer.agent import (
    IncomingRefer,
    ReferError,
    TransferAccepted,
    TransferEnded,
    TransferFailed,
    TransferProgress,
)

CAROL = SIPURI("192.0.2.40", user="carol", port=5060)


def transfer(replaces: h.ReplacesHeader | None = None):
    net, alice, bob = glued_pair()
    _a, b = established(net, alice, bob)
    refer_to = (refer_to_with_replaces(CAROL, replaces) if replaces is not None
                else h.ReferToHeader(CAROL))
    tid, effects = bob.refers.refer(b, refer_to, net.clock.now,
                                    referred_by=h.ReferredByHeader(bob.uri))
    bob.take(effects)
    net.run()
    return net, alice, bob, tid


def test_blind_transfer_end_to_end() -> None:
    net, alice, bob, _tid = transfer()
    refer = net.sent_by("bob", "REFER")[-1]
    assert isinstance(refer, SIPRequest) and refer.header("Referred-By") is not None
    incoming = alice.of(IncomingRefer)[-1]
    assert incoming.refer_to.uri == CAROL and incoming.replaces is None
    assert incoming.referred_by is not None
    assert not alice.of(InDialogRequest)  # REFER was taken by the agent
    alice.take(alice.refers.accept(incoming.transfer, net.clock.now))
    net.run()
    assert net.sent_by("alice", 202)
    assert bob.of(TransferAccepted)[-1].code == 202
    assert [(p.code, p.reason) for p in bob.of(TransferProgress)] == [(100, "Trying")]
    # the transferee's new call goes on
    alice.take(alice.refers.report_progress(incoming.transfer, 180, "Ringing", net.clock.now))
    net.run()
    alice.take(alice.refers.report_progress(incoming.transfer, 200, "OK", net.clock.now))
    net.run()
    notifies = net.sent_by("alice", "NOTIFY")
    assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 180 Ringing\r\n",
                                          b"SIP/2.0 200 OK\r\n"]
    first, last = notifies[0], notifies[-1]
    assert str(first.header("Event")) == f"refer;id={refer.cseq.number}"  # type: ignore[union-attr]
    assert str(first.header("Content-Type")).startswith("message/sipfrag")
    assert str(first.header("Subscription-State")) == "active;expires=60"
    assert str(last.header("Subscription-State")) == "terminated;reason=noresource"
    assert [p.code for p in bob.of(TransferProgress)] == [100, 180, 200]
    assert bob.of(TransferEnded)[-1].code == 200
    assert len(net.sent_by("bob", 200)) >= 3  # every NOTIFY answered
    with pytest.raises(ReferError):
        alice.refers.report_progress(incoming.transfer, 200, "OK", net.clock.now)


def test_progress_reports_queue_in_order() -> None:
    net, alice, bob, _tid = transfer()
    incoming = alice.of(IncomingRefer)[-1]
    alice.take(alice.refers.accept(incoming.transfer, net.clock.now))
    alice.take(alice.refers.report_progress(incoming.transfer, 183, "Session Progress",
                                            net.clock.now))
    alice.take(alice.refers.report_progress(incoming.transfer, 486, "Busy Here", net.clock.now))
    assert len(net.sent_by("alice", "NOTIFY")) == 1  # the others wait for its answer
    net.run()
    assert [p.code for p in bob.of(TransferProgress)] == [100, 183, 486]
    assert bob.of(TransferEnded)[-1].code == 486


@pytest.mark.parametrize("code", [603, 486])
def test_rejected_refer(code: int) -> None:
    net, alice, bob, tid = transfer()
    incoming = alice.of(IncomingRefer)[-1]
    alice.take(alice.refers.reject(incoming.transfer, net.clock.now, code))
    net.run()
    failed = bob.of(TransferFailed)[-1]
    assert failed.code == code and failed.transfer == tid
    assert not net.sent_by("alice", "NOTIFY")


def test_attended_transfer_carries_replaces() -> None:
    replaces = replaces_for(DialogId("abc@192.0.2.20", "ourtag", "theirtag"))
    net, alice, _bob, _tid = transfer(replaces)
    refer = net.sent_by("bob", "REFER")[-1]
    assert "Replaces=abc%40192.0.2.20%3Bto-tag%3Dtheirtag%3Bfrom-tag%3Dourtag" in str(
        refer.header("Refer-To"))
    incoming = alice.of(IncomingRefer)[-1]
    assert incoming.replaces == replaces


def test_refer_without_refer_to_gets_400() -> None:
    net, alice, bob = glued_pair()
    _a, b = established(net, alice, bob)
    _, effects = bob.layer.request(b, "REFER", net.clock.now)
    bob.take(effects)
    net.run()
    assert net.sent_by("alice", 400)
    assert not alice.of(IncomingRefer)


def test_refer_notify_for_unknown_transfer_gets_481() -> None:
    net, alice, bob = glued_pair()
    a, _b = established(net, alice, bob)
    headers = [h.EventHeader("refer", {"id": "77"}),
               h.SubscriptionStateHeader("active", {"expires": "60"})]
    _, effects = alice.layer.request(a, "NOTIFY", net.clock.now, headers, b"SIP/2.0 200 OK\r\n")
    alice.take(effects)
    net.run()
    assert net.sent_by("bob", 481)


# -- transfers we were asked for: their end --------------------------------------------


def accepted() -> tuple[Network, GluedStack, GluedStack, str, IncomingRefer]:
    """Bob transferred Alice; she accepted ("100 Trying" answered)."""
    net, alice, bob, tid = transfer()
    incoming = alice.of(IncomingRefer)[-1]
    alice.take(alice.refers.accept(incoming.transfer, net.clock.now))
    net.run()
    return net, alice, bob, tid, incoming


def test_incoming_transfer_ends_when_the_final_notify_is_answered() -> None:
    net, alice, _bob, _tid, incoming = accepted()
    alice.take(alice.refers.report_progress(incoming.transfer, 180, "Ringing", net.clock.now))
    net.run()
    assert not alice.of(TransferEnded)
    alice.take(alice.refers.report_progress(incoming.transfer, 486, "Busy Here", net.clock.now))
    assert not alice.of(TransferEnded)  # sent, not answered yet
    net.run()
    assert alice.of(TransferEnded) == [
        TransferEnded(incoming.transfer, incoming.session, 486, "Busy Here")]
    assert alice.refers.session_gone(incoming.session) == []  # nothing left to end


def test_ending_the_session_sends_the_terminating_notify() -> None:
    net, alice, bob, tid, incoming = accepted()
    alice.take(alice.refers.report_progress(incoming.transfer, 180, "Ringing", net.clock.now))
    alice.take(alice.refers.report_progress(incoming.transfer, 183, "Session Progress",
                                            net.clock.now))  # waits behind the 180
    alice.take(alice.refers.ending_session(incoming.session, net.clock.now))
    alice.take(alice.layer.end(incoming.session, net.clock.now))
    net.run()
    notifies = net.sent_by("alice", "NOTIFY")
    # the final NOTIFY does not wait for the 180's answer: the BYE follows at once
    assert [n.body for n in notifies] == [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 180 Ringing\r\n",
                                          b"SIP/2.0 183 Session Progress\r\n"]
    assert not alice.of(InDialogResponse)  # the NOTIFYs' answers stayed with the agent
    assert str(notifies[-1].header("Subscription-State")) == "terminated;reason=noresource"
    assert net.sent_by("alice", "BYE")
    assert bob.of(TransferEnded)[-1] == TransferEnded(tid, bob.of(TransferEnded)[-1].session,
                                                      183, "Session Progress")
    assert alice.of(TransferEnded)[-1].code == 183
    with pytest.raises(ReferError):
        alice.refers.report_progress(incoming.transfer, 200, "OK", net.clock.now)


def test_ending_the_session_refuses_a_refer_not_answered_yet() -> None:
    net, alice, bob, _tid = transfer()
    incoming = alice.of(IncomingRefer)[-1]
    alice.take(alice.refers.ending_session(incoming.session, net.clock.now))
    alice.take(alice.layer.end(incoming.session, net.clock.now))
    net.run()
    assert bob.of(TransferFailed)[-1].code == 487
    assert alice.of(TransferEnded) == [TransferEnded(incoming.transfer, incoming.session, 0, "")]
    assert not net.sent_by("alice", "NOTIFY")


def test_transfers_end_with_a_session_ended_by_the_peer() -> None:
    net, alice, bob, tid, incoming = accepted()
    b = bob.of(TransferAccepted)[-1].session
    bob.take(bob.layer.end(b, net.clock.now))  # Bob hangs up before any final NOTIFY
    net.run()
    assert alice.states(incoming.session)[-1] == "terminated"
    assert alice.refers.session_gone(incoming.session) == [
        TransferEnded(incoming.transfer, incoming.session, 100, "Trying")]
    assert bob.refers.session_gone(b) == [TransferEnded(tid, b, 100, "Trying")]
    with pytest.raises(ReferError):
        alice.refers.transfer(incoming.transfer)
    assert alice.refers.session_gone(incoming.session) == []


# -- RFC 5057: the refer subscription is a usage of its own ----------------------------


def test_481_to_a_notify_ends_only_the_transfer() -> None:
    net, alice, bob, _tid, incoming = accepted()
    bob.refers.session_gone(bob.of(TransferAccepted)[-1].session)  # Bob forgets the transfer
    alice.take(alice.refers.report_progress(incoming.transfer, 180, "Ringing", net.clock.now))
    net.run()
    assert net.sent_by("bob", 481)
    assert alice.of(TransferEnded) == [
        TransferEnded(incoming.transfer, incoming.session, 180, "Ringing")]
    # the call goes on: no BYE, and the dialog still carries requests both ways
    assert "terminated" not in alice.states(incoming.session)
    assert not net.sent_by("alice", "BYE") and not net.sent_by("bob", "BYE")
    _, effects = alice.layer.request(incoming.session, "INFO", net.clock.now)
    alice.take(effects)
    net.run()
    assert bob.of(InDialogRequest)[-1].method == "INFO"


def test_408_to_a_notify_ends_only_the_transfer() -> None:
    net, alice, _bob, _tid, incoming = accepted()
    net.drop = lambda message: isinstance(message, SIPRequest) and message.method == "NOTIFY"
    alice.take(alice.refers.report_progress(incoming.transfer, 180, "Ringing", net.clock.now))
    net.advance(40)  # Timer F: the transaction layer makes a 408
    assert alice.of(TransferEnded) == [
        TransferEnded(incoming.transfer, incoming.session, 180, "Ringing")]
    assert "terminated" not in alice.states(incoming.session)
    assert not net.sent_by("alice", "BYE")


def test_481_to_our_notify_of_an_unknown_transfer_keeps_the_call() -> None:
    net, alice, bob = glued_pair()
    a, b = established(net, alice, bob)
    headers = [h.EventHeader("refer", {"id": "77"}),
               h.SubscriptionStateHeader("active", {"expires": "60"})]
    _, effects = alice.layer.request(a, "NOTIFY", net.clock.now, headers, b"SIP/2.0 200 OK\r\n")
    alice.take(effects)
    net.run()
    assert alice.of(InDialogResponse)[-1].code == 481
    assert "terminated" not in alice.states(a) and "terminated" not in bob.states(b)


# -- REFER challenged -------------------------------------------------------------------


def test_refer_challenged_is_sent_again_with_the_sessions_credentials() -> None:
    net, alice, bob = glued_pair()
    auth = AuthSession(Credentials("alice", "secret"), cnonce=lambda: "c0ffee")
    a, _b = established(net, alice, bob, auth=auth)
    tid, effects = alice.refers.refer(a, h.ReferToHeader(CAROL), net.clock.now)
    alice.take(effects)
    net.run()
    challenge = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="abc", qop="auth"')
    bob.take(bob.refers.reject(bob.of(IncomingRefer)[-1].transfer, net.clock.now, 401,
                               headers=[challenge]))
    net.run()
    first, second = net.sent_by("alice", "REFER")
    assert first.header("Authorization") is None
    authorization = second.header("Authorization")
    assert authorization is not None and 'username="alice"' in str(authorization)
    assert second.cseq.number == first.cseq.number + 1  # type: ignore[union-attr]
    assert not alice.of(TransferFailed)
    again = bob.of(IncomingRefer)[-1]
    bob.take(bob.refers.accept(again.transfer, net.clock.now))
    net.run()
    assert alice.of(TransferAccepted)[-1].transfer == tid
    notify = net.sent_by("bob", "NOTIFY")[-1]
    # the NOTIFY names the REFER that was accepted, and Alice takes it as hers
    assert str(notify.header("Event")) == f"refer;id={second.cseq.number}"  # type: ignore[union-attr]
    assert [(p.transfer, p.code) for p in alice.of(TransferProgress)] == [(tid, 100)]
    assert not net.sent_by("alice", 481)


# -- the refer subscription refreshed or ended by the transferor ----------------------------


def subscribe(net: Network, bob: GluedStack, event_id: str, expires: int) -> None:
    b = bob.of(TransferAccepted)[-1].session
    headers = [h.EventHeader("refer", {"id": event_id}), h.ExpiresHeader(expires)]
    _, effects = bob.layer.request(b, "SUBSCRIBE", net.clock.now, headers)
    bob.take(effects)
    net.run()


def test_subscribe_refreshes_the_refer_subscription() -> None:
    net, alice, bob, tid, incoming = accepted()
    refer = net.sent_by("bob", "REFER")[-1]
    subscribe(net, bob, str(refer.cseq.number), 3600)  # type: ignore[union-attr]
    ok = net.sent_by("alice", 200)[-1]
    assert ok.cseq.method == "SUBSCRIBE"  # type: ignore[union-attr]
    assert str(ok.header("Expires")) == "60"  # no longer than the NOTIFYs announce
    again = net.sent_by("alice", "NOTIFY")[-1]
    assert again.body == b"SIP/2.0 100 Trying\r\n"  # the current state, at once
    assert str(again.header("Subscription-State")) == "active;expires=60"
    assert [p.code for p in bob.of(TransferProgress)] == [100, 100]
    assert not alice.of(InDialogRequest) and not alice.of(TransferEnded)
    # the transfer goes on as before
    alice.take(alice.refers.report_progress(incoming.transfer, 200, "OK", net.clock.now))
    net.run()
    assert bob.of(TransferEnded)[-1] == TransferEnded(tid, bob.of(TransferEnded)[-1].session,
                                                      200, "OK")


def test_subscribe_with_expires_0_ends_the_transfer() -> None:
    net, alice, bob, tid, incoming = accepted()
    refer = net.sent_by("bob", "REFER")[-1]
    subscribe(net, bob, str(refer.cseq.number), 0)  # type: ignore[union-attr]
    last = net.sent_by("alice", "NOTIFY")[-1]
    assert str(last.header("Subscription-State")) == "terminated;reason=noresource"
    assert alice.of(TransferEnded) == [
        TransferEnded(incoming.transfer, incoming.session, 100, "Trying")]
    assert bob.of(TransferEnded)[-1].transfer == tid
    with pytest.raises(ReferError):
        alice.refers.report_progress(incoming.transfer, 200, "OK", net.clock.now)


def test_subscribe_for_no_transfer_gets_481_and_the_call_goes_on() -> None:
    net, alice, bob, _tid, incoming = accepted()
    subscribe(net, bob, "999", 60)
    assert net.sent_by("alice", 481)
    b = bob.of(TransferAccepted)[-1].session
    assert bob.of(InDialogResponse)[-1].code == 481
    assert "terminated" not in bob.states(b) and "terminated" not in alice.states(incoming.session)


# -- property: whatever happens, a transfer we were asked for ends exactly once --------------

ACTIONS = st.lists(st.one_of(
    st.tuples(st.just("progress"), st.sampled_from([180, 183, 200, 486, 603])),
    st.tuples(st.just("subscribe"), st.sampled_from([0, 30, 3600])),
    st.tuples(st.just("lose_notifies"), st.booleans()),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 5.0, 40.0])),
    st.tuples(st.just("hang_up"), st.sampled_from(["alice", "bob"])),
), max_size=8)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=ACTIONS)
def test_an_incoming_transfer_ends_exactly_once(actions: list[tuple[str, object]]) -> None:
    net, alice, bob, tid, incoming = accepted()
    sides = {"alice": (alice, incoming.session), "bob": (bob, bob.of(TransferAccepted)[-1].session)}
    gone: set[str] = set()
    lose = False
    net.drop = lambda message: lose and isinstance(message, SIPRequest) and (
        message.method == "NOTIFY")

    def settle(seconds: float = 0.0) -> None:
        net.advance(seconds)
        for name, (who, sid) in sides.items():
            if name not in gone and sid not in who.layer.sessions:
                gone.add(name)  # what the glue does when a session has terminated
                who.events += who.refers.session_gone(sid)

    def hang_up(name: str) -> None:
        who, sid = sides[name]
        if name not in gone:
            who.take(who.refers.ending_session(sid, net.clock.now))
            with contextlib.suppress(SessionError):
                who.take(who.layer.end(sid, net.clock.now))

    for action, arg in actions:
        if action == "progress":
            with contextlib.suppress(ReferError):  # ended already, or its final went out
                alice.take(alice.refers.report_progress(
                    incoming.transfer, arg, "X", net.clock.now))  # type: ignore[arg-type]
        elif action == "subscribe" and "bob" not in gone:
            refer = net.sent_by("bob", "REFER")[-1]
            with contextlib.suppress(SessionError):
                subscribe(net, bob, str(refer.cseq.number), arg)  # type: ignore[union-attr, arg-type]
        elif action == "lose_notifies":
            lose = bool(arg)
        elif action == "hang_up":
            hang_up(str(arg))
        settle(arg if action == "wait" else 0.0)  # type: ignore[arg-type]
    lose = False
    settle(70)  # every transaction finishes
    hang_up("alice")
    hang_up("bob")
    settle(70)
    ours = [e for e in alice.of(TransferEnded) if e.transfer == incoming.transfer]
    theirs = [e for e in bob.of(TransferEnded) if e.transfer == tid]
    assert len(ours) == 1 and len(theirs) == 1
    with pytest.raises(ReferError):
        alice.refers.transfer(incoming.transfer)
    assert not alice.refers._requests and not bob.refers._requests  # nothing left behind
