"""INVITE sessions end to end: two stacks on an in-memory network with a fake clock."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sip_dialog_fixtures import call, established, pair

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.auth import AuthSession, Credentials
from sipsimple_services.signalling.sip.invite.events import (
    AnswerReceived,
    IncomingInvite,
    InDialogRequest,
    InDialogResponse,
    OfferReceived,
    OfferRequested,
    ProvisionalResponse,
    ReinviteCancelled,
    ReinviteRejected,
    ReinviteRetryScheduled,
    SessionEnded,
    SessionEstablished,
    SessionFailed,
    TransactionCompleted,
)
from sipsimple_services.signalling.sip.invite.session import SessionError
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response


def completed(stack: object, sid: str) -> list[tuple[str, str, int, bool | None]]:
    return [(e.originator, e.method, e.code, e.ack_received)
            for e in stack.session_events(sid)  # type: ignore[attr-defined]
            if isinstance(e, TransactionCompleted)]


def test_call_offer_in_invite_answer_in_2xx_and_bye_from_caller() -> None:
    net, alice, bob = pair(user_agent="test-ua")
    a, b = established(net, alice, bob, b"offer", b"answer")
    (est_a,) = alice.of(SessionEstablished)
    (est_b,) = bob.of(SessionEstablished)
    assert (est_a.local_body, est_a.remote_body) == (b"offer", b"answer")
    assert (est_b.local_body, est_b.remote_body) == (b"answer", b"offer")
    assert est_a.remote_contact == bob.uri and est_b.remote_contact == alice.uri
    assert est_a.remote_user_agent == "test-ua"
    assert alice.states(a) == ["calling", "proceeding", "connected"]
    assert bob.states(b) == ["incoming", "accepted", "connected"]
    reason = h.ReasonHeader.new("SIP", 200, "Call completed")
    alice.take(alice.layer.end(a, net.clock.now, reason))
    net.run()
    (ended_a,) = alice.of(SessionEnded)
    (ended_b,) = bob.of(SessionEnded)
    assert ended_a.originator == "local" and ended_b.originator == "remote"
    assert ended_b.reason_header == reason
    (bye,) = net.sent_by("alice", "BYE")
    assert bye.header("Reason") == reason
    assert completed(alice, a) == [("local", "INVITE", 200, None), ("local", "BYE", 200, None)]
    assert completed(bob, b) == [("remote", "INVITE", 200, True), ("remote", "BYE", 200, None)]
    assert alice.layer.sessions == {} and bob.layer.sessions == {}
    net.advance(100)
    assert not net.clock.timers


def test_bye_from_callee_with_reason() -> None:
    net, alice, bob = pair()
    _a, b = established(net, alice, bob)
    bob.take(bob.layer.end(b, net.clock.now, h.ReasonHeader.new("Q.850", 16)))
    net.run()
    assert alice.of(SessionEnded)[0].originator == "remote"
    assert alice.of(SessionEnded)[0].reason_header == h.ReasonHeader.new("Q.850", 16)
    assert bob.of(SessionEnded)[0].originator == "local"
    (bye,) = net.sent_by("bob", "BYE")
    # Bob's BYE goes to Alice's Contact, From/To swapped, CSeq of Bob's own space
    assert isinstance(bye, SIPRequest) and bye.uri == alice.uri
    (invite,) = net.sent_by("alice", "INVITE")
    assert bye.to.tag == invite.from_.tag  # type: ignore[union-attr]
    assert bye.from_.uri == invite.to.uri  # type: ignore[union-attr]


def test_invite_without_body_offer_in_2xx_answer_in_ack() -> None:
    net, alice, bob = pair()
    a, b = call(net, alice, bob, b"")
    bob.take(bob.layer.accept(b, net.clock.now, b"offer-from-bob"))
    net.run()
    (offer,) = alice.of(OfferReceived)
    assert offer.body == b"offer-from-bob"
    assert alice.layer.session(a).state == "ack_pending"
    assert not net.sent_by("alice", "ACK")
    alice.take(alice.layer.answer(a, net.clock.now, b"answer-from-alice"))
    net.run()
    (ack,) = net.sent_by("alice", "ACK")
    assert ack.body == b"answer-from-alice"
    assert bob.of(AnswerReceived)[0].body == b"answer-from-alice"
    (est_b,) = bob.of(SessionEstablished)
    assert est_b.remote_body == b"answer-from-alice"
    assert alice.of(SessionEstablished)[0].local_body == b"answer-from-alice"


@pytest.mark.parametrize("code, body", [(180, b""), (183, b"early-media")])
def test_provisional_responses_with_and_without_body(code: int, body: bytes) -> None:
    net, alice, bob = pair()
    a, b = call(net, alice, bob)
    bob.take(bob.layer.provisional(b, net.clock.now, code, body=body))
    net.run()
    (prov,) = alice.of(ProvisionalResponse)
    assert (prov.code, prov.body) == (code, body)
    assert alice.layer.session(a).state == "early"
    assert alice.layer.session(a).early  # the early dialog with Bob's tag
    bob.take(bob.layer.accept(b, net.clock.now, b"answer"))
    net.run()
    assert alice.layer.session(a).state == "connected"
    assert not alice.layer.session(a).early
    with pytest.raises(SessionError):
        bob.layer.provisional(b, net.clock.now)


def test_reject_and_end_of_incoming() -> None:
    net, alice, bob = pair()
    _a, b = call(net, alice, bob)
    bob.take(bob.layer.reject(b, net.clock.now, 486))
    net.run()
    (failed,) = alice.of(SessionFailed)
    assert (failed.originator, failed.code) == ("remote", 486)
    assert bob.of(SessionFailed)[0].originator == "local"
    assert completed(bob, b) == [("remote", "INVITE", 486, None)]
    with pytest.raises(SessionError):
        bob.layer.accept(b, net.clock.now)
    net2, alice2, bob2 = pair()
    _, b2 = call(net2, alice2, bob2)
    bob2.take(bob2.layer.end(b2, net2.clock.now))
    net2.run()
    assert alice2.of(SessionFailed)[0].code == 480


def test_reinvite_both_ways_and_rejection_with_warning() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    (offer,) = bob.of(OfferReceived)
    assert offer.body == b"offer2" and bob.layer.session(b).state == "reinvite_received"
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer2"))
    net.run()
    assert alice.of(AnswerReceived)[-1].body == b"answer2"
    assert bob.layer.session(b).state == "connected"
    assert ("remote", "INVITE", 200, True) in completed(bob, b)[1:]
    # Bob re-INVITEs, Alice rejects with 488 and a Warning
    bob.take(bob.layer.reinvite(b, net.clock.now, b"offer3"))
    net.run()
    warning = h.WarningHeader(399, "alice", "Streams cannot be deleted")
    alice.take(alice.layer.reject_reinvite(a, net.clock.now, 488, warning=warning))
    net.run()
    (rejected,) = bob.of(ReinviteRejected)
    assert rejected.code == 488 and warning in rejected.headers
    assert bob.layer.session(b).state == "connected"
    assert alice.layer.session(a).state == "connected"
    assert bob.layer.session(b).local_body == b"answer2"  # unchanged by the failed offer


def test_bodyless_reinvite_gets_offer_in_2xx_and_answer_in_ack() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now))
    net.run()
    assert bob.of(OfferRequested)
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"fresh-offer"))
    net.run()
    assert alice.of(OfferReceived)[-1].body == b"fresh-offer"
    alice.take(alice.layer.answer(a, net.clock.now, b"fresh-answer"))
    net.run()
    assert bob.of(AnswerReceived)[-1].body == b"fresh-answer"
    assert alice.layer.session(a).state == bob.layer.session(b).state == "connected"


def test_glare_both_get_491_then_retries_succeed() -> None:
    # Alice owns the Call-ID (2.1-4 s), Bob does not (0-2 s)
    net, alice, bob = pair(random_below=lambda n: 50)
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"A"))
    bob.take(bob.layer.reinvite(b, net.clock.now, b"B"))
    net.run()
    assert len(net.sent_by("alice", 491)) == len(net.sent_by("bob", 491)) == 1
    (retry_a,) = alice.of(ReinviteRetryScheduled)
    (retry_b,) = bob.of(ReinviteRetryScheduled)
    assert retry_a.delay == 2.6 and retry_b.delay == 0.5
    net.advance(0.5)  # Bob's retry arrives first
    assert bob.layer.session(b).state == "reinvite_sent"
    assert alice.of(OfferReceived)[-1].body == b"B"
    alice.take(alice.layer.accept_reinvite(a, net.clock.now, b"answer-B"))
    net.run()
    assert bob.of(AnswerReceived)[-1].body == b"answer-B"
    net.advance(2.1)  # Alice's retry
    assert bob.of(OfferReceived)[-1].body == b"A"
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer-A"))
    net.run()
    assert alice.of(AnswerReceived)[-1].body == b"answer-A"
    assert not alice.of(ReinviteRejected) and not bob.of(ReinviteRejected)


def test_cancel_before_provisional_waits_for_one() -> None:
    net, alice, bob = pair()
    net.drop = lambda m: isinstance(m, SIPResponse) and m.code == 100
    a, b = call(net, alice, bob)
    alice.take(alice.layer.end(a, net.clock.now))
    net.run()
    assert not net.sent_by("alice", "CANCEL")  # 9.1: not before a provisional
    bob.take(bob.layer.provisional(b, net.clock.now, 180))
    net.run()
    assert net.sent_by("alice", "CANCEL")
    assert net.sent_by("bob", 487)
    assert alice.of(SessionFailed)[0].code == 487
    assert bob.of(SessionFailed)[0].originator == "remote"
    assert alice.layer.sessions == {} and bob.layer.sessions == {}


def test_cancel_after_provisional() -> None:
    net, alice, bob = pair()
    a, b = call(net, alice, bob)
    bob.take(bob.layer.provisional(b, net.clock.now, 180))
    net.run()
    alice.take(alice.layer.end(a, net.clock.now))
    net.run()
    assert net.sent_by("bob", 487)
    assert ("remote", "CANCEL", 200, None) in completed(bob, b)
    assert ("remote", "INVITE", 487, None) in completed(bob, b)
    assert alice.layer.sessions == {}


def test_cancel_without_any_answer_ends_after_64_t1() -> None:
    net, alice, bob = pair()
    net.drop = lambda m: m.__class__ is SIPRequest or isinstance(m, SIPResponse)
    a, _ = call_quietly(net, alice, bob)
    alice.take(alice.layer.end(a, net.clock.now))
    net.advance(40)
    assert alice.layer.sessions == {}
    assert alice.of(SessionFailed)


def test_local_timeout_fails_with_local_originator() -> None:
    net, alice, bob = pair()
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "INVITE"
    a, _ = call_quietly(net, alice, bob)
    net.advance(40)  # Timer B: the transaction layer makes a 408
    (failed,) = alice.of(SessionFailed)
    assert (failed.originator, failed.code, failed.session) == ("local", 408, a)
    assert alice.layer.sessions == {}


def test_transport_failure_fails_with_local_originator() -> None:
    net, alice, bob = pair()
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "INVITE"
    a, _ = call_quietly(net, alice, bob)
    (key,) = alice.tl.client_transactions
    alice.take(alice.layer.transport_error(key, net.clock.now))  # a locally made 503
    (failed,) = alice.of(SessionFailed)
    assert (failed.originator, failed.code, failed.session) == ("local", 503, a)


def test_remote_failure_keeps_remote_originator() -> None:
    net, alice, bob = pair()
    _a, b = call(net, alice, bob)
    bob.take(bob.layer.reject(b, net.clock.now, 503))
    net.run()
    (failed,) = alice.of(SessionFailed)
    assert (failed.originator, failed.code) == ("remote", 503)


def call_quietly(net, alice, bob):  # type: ignore[no-untyped-def]
    sid, effects = alice.layer.connect(
        h.ToHeader(bob.uri), h.FromHeader(alice.uri), alice.contact(), net.clock.now,
        destination=bob.address, body=b"offer",
    )
    alice.take(effects)
    net.run()
    return sid, None


def test_missing_ack_ends_with_bye_and_reason() -> None:
    net, alice, bob = pair()
    _a, b = call(net, alice, bob)
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "ACK"
    bob.take(bob.layer.accept(b, net.clock.now, b"answer"))
    net.advance(40)
    twoxx = net.sent_by("bob", 200)
    # the 2xx is retransmitted T1, 2T1, 4T1, ... capped at T2 until 64*T1
    assert len([m for m in twoxx if m.cseq.method == "INVITE"]) >= 8  # type: ignore[union-attr]
    (bye,) = net.sent_by("bob", "BYE")
    reason = bye.header("Reason")
    assert isinstance(reason, h.ReasonHeader) and reason.cause == 408
    assert reason.text == "ACK not received"
    assert ("remote", "INVITE", 200, False) in completed(bob, b)
    assert bob.of(SessionFailed)[0].code == 408
    assert alice.of(SessionEnded)  # Alice had established and sees a remote BYE


def test_lost_ack_is_resent_for_2xx_retransmissions() -> None:
    net, alice, bob = pair()
    _a, b = call(net, alice, bob)
    acks = []

    def drop_first_ack(m: object) -> bool:
        if isinstance(m, SIPRequest) and m.method == "ACK":
            acks.append(m)
            return len(acks) == 1
        return False

    net.drop = drop_first_ack
    bob.take(bob.layer.accept(b, net.clock.now, b"answer"))
    net.advance(1)
    assert len(acks) == 2 and acks[0] == acks[1]  # the same ACK, resent
    assert bob.layer.session(b).state == "connected"
    assert completed(bob, b) == [("remote", "INVITE", 200, True)]


def test_duplicated_packets_do_not_disturb_a_call() -> None:
    net, alice, bob = pair()
    net.duplicate = lambda m: True
    a, _b = established(net, alice, bob)
    alice.take(alice.layer.end(a, net.clock.now))
    net.advance(60)
    assert len(alice.of(SessionEnded)) == len(bob.of(SessionEnded)) == 1
    assert len(alice.of(SessionEstablished)) == len(bob.of(SessionEstablished)) == 1


def test_in_dialog_requests_and_respond() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    request_id, effects = alice.layer.request(
        a, "INFO", net.clock.now, (h.ContentTypeHeader("application", "dtmf-relay"),), b"Signal=1"
    )
    alice.take(effects)
    net.run()
    (info,) = bob.of(InDialogRequest)
    assert (info.method, info.body) == ("INFO", b"Signal=1")
    bob.take(bob.layer.respond(b, info.server_key, 200, net.clock.now))
    net.run()
    (response,) = alice.of(InDialogResponse)
    assert (response.request_id, response.code) == (request_id, 200)
    with pytest.raises(SessionError):
        bob.layer.respond(b, info.server_key, 200, net.clock.now)
    with pytest.raises(SessionError):
        alice.layer.request(a, "BYE", net.clock.now)


def test_digest_challenge_on_invite_and_bye() -> None:
    net, alice, bob = pair()
    auth = AuthSession(Credentials("alice", "secret"), cnonce=lambda: "c0ffee")
    sid, effects = alice.layer.connect(
        h.ToHeader(bob.uri), h.FromHeader(alice.uri), alice.contact(), net.clock.now,
        destination=bob.address, body=b"offer", auth=auth,
    )
    alice.take(effects)
    net.run()
    (first,) = [m for m in bob.received if isinstance(m, SIPRequest) and m.method == "INVITE"]
    # Bob's application challenges (the layer passes incoming INVITEs up)
    challenge = h.WWWAuthenticateHeader.parse(
        'Digest realm="example.com", nonce="abc", qop="auth"'
    )
    b = bob.of(IncomingInvite)[0].session
    bob.take(bob.layer.reject(b, net.clock.now, 401, headers=(challenge,)))
    net.run()
    invites = [m for m in bob.received if isinstance(m, SIPRequest) and m.method == "INVITE"]
    assert len(invites) == 2
    second = invites[1]
    assert second.cseq.number == first.cseq.number + 1  # type: ignore[union-attr]
    assert second.call_id == first.call_id and second.from_.tag == first.from_.tag  # type: ignore[union-attr]
    assert second.header("Authorization") is not None
    assert ("local", "INVITE", 401, None) in completed(alice, sid)
    assert not alice.of(SessionFailed)
    b2 = bob.of(IncomingInvite)[1].session
    bob.take(bob.layer.accept(b2, net.clock.now, b"answer"))
    net.run()
    ack_401, ack = net.sent_by("alice", "ACK")
    assert ack_401.header("Authorization") is None  # the transaction's ACK (17.1.1.3)
    assert ack.header("Authorization") is not None  # 22.1: the INVITE's credentials
    # BYE challenged by Bob's application is not possible through the layer
    # (BYE is answered by the session); challenge it on the wire instead
    alice.take(alice.layer.end(sid, net.clock.now))
    bye = net.queue[-1][1]
    assert isinstance(bye, SIPRequest) and bye.method == "BYE"
    net.queue.clear()
    fresh = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="def", qop="auth"')
    response = make_response(bye, 401, headers=(fresh,))
    alice.take(alice.layer.receive(response, bob.address, net.clock.now))
    byes = [m for _, m, _ in net.queue if isinstance(m, SIPRequest) and m.method == "BYE"]
    assert len(byes) == 1 and byes[0].header("Authorization") is not None
    assert byes[0].cseq.number == bye.cseq.number + 1  # type: ignore[union-attr]
    net.run()
    assert alice.of(SessionEnded)


# --- cancelling our re-INVITE (RFC 3261 9.1) -------------------------------------------


def reinvite_states(stack: object, sid: str) -> list[str]:
    return stack.states(sid)  # type: ignore[attr-defined, no-any-return]


def test_cancel_reinvite_after_provisional() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()  # Bob's INVITE server transaction answered 100 Trying
    assert bob.layer.session(b).state == "reinvite_received"
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    net.run()
    (cancel,) = net.sent_by("alice", "CANCEL")
    reinvite = net.sent_by("alice", "INVITE")[-1]
    # 9.1: the CANCEL matches the re-INVITE (its branch, Call-ID, tags, CSeq number)
    assert cancel.top_via == reinvite.top_via and cancel.cseq.number == reinvite.cseq.number  # type: ignore[union-attr]
    assert cancel.to == reinvite.to and cancel.from_ == reinvite.from_
    (rejected,) = alice.of(ReinviteRejected)
    assert (rejected.code, rejected.reason) == (487, "Request Terminated")
    assert bob.of(ReinviteCancelled)
    assert ("remote", "CANCEL", 200, None) in completed(bob, b)
    assert ("remote", "INVITE", 487, None) in completed(bob, b)
    assert ("local", "INVITE", 487, None) in completed(alice, a)
    # the 487 is ACKed by Alice's INVITE client transaction (17.1.1.3)
    (ack,) = net.sent_by("alice", "ACK")[-1:]
    assert ack.cseq.number == reinvite.cseq.number  # type: ignore[union-attr]
    assert alice.layer.session(a).state == bob.layer.session(b).state == "connected"
    assert reinvite_states(alice, a)[-2:] == ["reinvite_sent", "connected"]
    assert alice.layer.session(a).local_body == b"offer"  # the cancelled offer left nothing
    # the session goes on: the next re-INVITE works, and no timer of the cancel fires later
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer3"))
    net.run()
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer3"))
    net.run()
    assert alice.of(AnswerReceived)[-1].body == b"answer3"
    net.advance(100)
    assert len(alice.of(ReinviteRejected)) == 1 and alice.layer.session(a).state == "connected"


def test_cancel_reinvite_before_provisional_waits_for_one() -> None:
    net, alice, bob = pair()
    a, _b = established(net, alice, bob)
    dropped: list[int] = []

    def drop_first_100(m: object) -> bool:
        if isinstance(m, SIPResponse) and m.code == 100 and not dropped:
            dropped.append(100)
            return True
        return False

    net.drop = drop_first_100
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    net.run()
    assert dropped and not net.sent_by("alice", "CANCEL")  # 9.1: not before a provisional
    net.advance(0.6)  # Timer A: the re-INVITE again, Bob's transaction repeats its 100
    assert net.sent_by("alice", "CANCEL")
    assert alice.of(ReinviteRejected)[0].code == 487 and bob.of(ReinviteCancelled)


def test_cancel_reinvite_then_final_answer_first_sends_no_cancel() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    net.drop = lambda m: isinstance(m, SIPResponse) and m.code == 100
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    bob.take(bob.layer.reject_reinvite(b, net.clock.now, 488))
    net.advance(40)
    assert not net.sent_by("alice", "CANCEL")
    assert [r.code for r in alice.of(ReinviteRejected)] == [488]
    assert alice.layer.session(a).state == "connected"


def test_2xx_racing_our_cancel_wins() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    # Bob's 2xx and Alice's CANCEL cross on the wire
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer2"))
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    net.run()
    assert net.sent_by("alice", "CANCEL")
    assert not bob.of(ReinviteCancelled)  # the CANCEL came after the 2xx: only 200 to it
    assert ("remote", "CANCEL", 200, None) in completed(bob, b)
    assert alice.of(AnswerReceived)[-1].body == b"answer2" and not alice.of(ReinviteRejected)
    assert ("remote", "INVITE", 200, True) in completed(bob, b)[1:]  # Alice ACKed it
    assert alice.layer.session(a).local_body == b"offer2"
    net.advance(100)
    assert alice.layer.session(a).state == bob.layer.session(b).state == "connected"
    assert not alice.of(ReinviteRejected)


def test_cancelled_reinvite_without_final_answer_is_given_up_and_a_late_2xx_acked() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "CANCEL"
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    net.advance(40)  # 64*T1 after the CANCEL
    (rejected,) = alice.of(ReinviteRejected)
    assert rejected.code == 487 and alice.layer.session(a).state == "connected"
    assert bob.layer.session(b).state == "reinvite_received"
    acks = len(net.sent_by("alice", "ACK"))
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"late"))
    net.run()
    assert len(net.sent_by("alice", "ACK")) == acks + 1
    assert bob.layer.session(b).state == "connected"
    assert ("remote", "INVITE", 200, True) in completed(bob, b)[1:]


def test_cancel_reinvite_drops_a_glare_retry() -> None:
    net, alice, bob = pair(random_below=lambda n: 50)
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"A"))
    bob.take(bob.layer.reinvite(b, net.clock.now, b"B"))
    net.run()
    assert alice.of(ReinviteRetryScheduled)
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    (rejected,) = alice.of(ReinviteRejected)
    assert rejected.code == 487
    sent = len(net.sent_by("alice", "INVITE"))
    net.advance(0.5)  # Bob's retry
    bob_offer = alice.of(OfferReceived)[-1]
    assert bob_offer.body == b"B"
    alice.take(alice.layer.accept_reinvite(a, net.clock.now, b"answer-B"))
    net.advance(10)
    assert len(net.sent_by("alice", "INVITE")) == sent  # no retry of the dropped one
    assert len(alice.of(ReinviteRejected)) == 1


def test_cancel_reinvite_with_nothing_pending() -> None:
    net, alice, bob = pair()
    a, b = call(net, alice, bob)
    with pytest.raises(SessionError):
        bob.layer.cancel_reinvite(b, net.clock.now)  # an incoming session: no re-INVITE
    bob.take(bob.layer.accept(b, net.clock.now, b"answer"))
    net.run()
    # answered already (or never sent): nothing to do, the outcome was reported
    assert alice.layer.cancel_reinvite(a, net.clock.now) == []
    assert not alice.of(ReinviteRejected)


def test_hang_up_with_a_cancelled_reinvite_pending() -> None:
    net, alice, bob = pair()
    a, _b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "CANCEL"
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))
    alice.take(alice.layer.end(a, net.clock.now))
    net.advance(100)
    assert alice.layer.sessions == {} and bob.layer.sessions == {}
    assert len(alice.of(SessionEnded)) == 1 and not alice.of(ReinviteRejected)


def test_remote_contact_parameters_are_reported() -> None:
    """RFC 4579: a focus says so with ``;isfocus`` on its Contact, both ways."""
    net, alice, bob = pair()
    focus = h.ContactHeader(alice.uri, parameters={"isfocus": None})
    sid, effects = alice.layer.connect(h.ToHeader(bob.uri), h.FromHeader(alice.uri), focus,
                                       net.clock.now, destination=bob.address, body=b"offer")
    alice.take(effects)
    net.run()
    b = bob.of(IncomingInvite)[0].session
    bob.take(bob.layer.accept(b, net.clock.now, b"answer", contact=h.ContactHeader(
        bob.uri, parameters={"isfocus": None, "+sip.x": '"y"'})))
    net.run()
    (est_a,) = alice.of(SessionEstablished)
    (est_b,) = bob.of(SessionEstablished)
    assert dict(est_b.remote_contact_params) == {"isfocus": None}
    assert dict(est_a.remote_contact_params) == {"isfocus": None, "+sip.x": '"y"'}
    assert est_a.remote_contact == bob.uri  # the target stays the bare URI
    # the dialog keeps our Contact: Bob's re-INVITE carries it again
    bob.take(bob.layer.reinvite(b, net.clock.now, b"offer2"))
    net.run()
    reinvite = net.sent_by("bob", "INVITE")[-1]
    assert str(reinvite.header("Contact")).endswith(';isfocus;+sip.x="y"')
    assert sid in alice.layer.sessions


def test_cancelled_reinvite_challenged_is_not_sent_again() -> None:
    net, alice, bob = pair()
    auth = AuthSession(Credentials("alice", "secret"), cnonce=lambda: "c0ffee")
    a, _b = established(net, alice, bob, auth=auth)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    reinvite = net.queue.pop()[1]
    assert isinstance(reinvite, SIPRequest) and reinvite.method == "INVITE"
    alice.take(alice.layer.cancel_reinvite(a, net.clock.now))  # no 1xx yet: no CANCEL
    challenge = h.WWWAuthenticateHeader.parse('Digest realm="example.com", nonce="n", qop="auth"')
    alice.take(alice.layer.receive(make_response(reinvite, 401, headers=(challenge,)),
                                   bob.address, net.clock.now))
    # the proposal is over: it is not retried with credentials
    assert not [m for _, m, _ in net.queue if isinstance(m, SIPRequest) and m.method != "ACK"]
    assert [r.code for r in alice.of(ReinviteRejected)] == [401]
    assert alice.layer.session(a).state == "connected"


def moved(net: object, stack: object, host: str, keep_old: bool = False) -> h.ContactHeader:
    """`stack`'s host gets a new address, the old one is gone (unless `keep_old`);
    its new Contact."""
    old = stack.address  # type: ignore[attr-defined]
    if not keep_old:
        del net.stacks[(old.host, old.port)]  # type: ignore[attr-defined]
    stack.address = replace(old, host=host)  # type: ignore[attr-defined]
    net.add(stack)  # type: ignore[attr-defined]
    return h.ContactHeader(stack.uri)  # type: ignore[attr-defined]


def test_our_reinvite_with_a_new_contact_brings_the_peer_s_later_requests_there() -> None:
    """RFC 3261 12.2.1.1: a re-INVITE is a target refresh of ours too; after it, Bob's
    requests in the dialog go to Alice's new address, and her responses carry it."""
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    contact = moved(net, alice, "192.0.2.11")
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2", contact=contact))
    net.run()
    reinvite = net.sent_by("alice", "INVITE")[-1]
    assert list(reinvite.contact) == [contact]
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer2"))
    net.run()
    assert alice.of(AnswerReceived)[-1].body == b"answer2"
    # Bob's re-INVITE reaches Alice, and her 200 keeps the new Contact
    bob.take(bob.layer.reinvite(b, net.clock.now, b"offer3"))
    net.run()
    alice.take(alice.layer.accept_reinvite(a, net.clock.now, b"answer3"))
    net.run()
    assert list(net.sent_by("alice", 200)[-1].contact) == [contact]
    assert bob.of(AnswerReceived)[-1].body == b"answer3"
    bob.take(bob.layer.end(b, net.clock.now))
    net.run()
    (ended,) = alice.of(SessionEnded)
    assert ended.originator == "remote" and not net.unroutable


def test_the_2xx_to_the_peer_s_reinvite_can_refresh_our_target() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"offer2"))
    net.run()
    contact = moved(net, bob, "192.0.2.21")  # while the re-INVITE waits for an answer
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer2", contact=contact))
    net.run()
    assert list(net.sent_by("bob", 200)[-1].contact) == [contact]
    assert alice.of(AnswerReceived)[-1].body == b"answer2"  # the ACK reached Bob
    alice.take(alice.layer.end(a, net.clock.now))
    net.run()
    (ended,) = bob.of(SessionEnded)
    assert ended.originator == "remote" and not net.unroutable


def test_a_glare_retry_keeps_the_new_contact() -> None:
    net, alice, bob = pair(random_below=lambda n: 50)
    a, b = established(net, alice, bob)
    # the new address comes before the old one goes: Bob's re-INVITE still reaches her
    contact = moved(net, alice, "192.0.2.11", keep_old=True)
    alice.take(alice.layer.reinvite(a, net.clock.now, b"A", contact=contact))
    bob.take(bob.layer.reinvite(b, net.clock.now, b"B"))
    net.run()
    assert alice.of(ReinviteRetryScheduled)
    net.advance(0.5)  # Bob's retry
    alice.take(alice.layer.accept_reinvite(a, net.clock.now, b"answer-B"))
    net.advance(2.1)  # Alice's retry
    retried = net.sent_by("alice", "INVITE")[-1]
    assert retried.body == b"A" and list(retried.contact) == [contact]
    bob.take(bob.layer.accept_reinvite(b, net.clock.now, b"answer-A"))
    net.run()
    assert alice.of(AnswerReceived)[-1].body == b"answer-A"
    del net.stacks[("192.0.2.10", 5060)]  # the old address goes
    bob.take(bob.layer.end(b, net.clock.now))
    net.run()
    assert alice.of(SessionEnded)[0].originator == "remote" and not net.unroutable
