"""DialogLayer dispatch: forks, 481, CSeq 500, merged requests 482, Replaces, routing."""

from __future__ import annotations

from dataclasses import replace

from sip_dialog_fixtures import ALICE, BOB, PROXY, established, pair
from sip_transaction_fixtures import sent

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.invite.events import (
    IncomingInvite,
    SessionEstablished,
    SessionStateChanged,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions.effects import (
    RequestReceived,
    Send,
    StrayResponse,
)


def invite_from_alice(net, alice, routes=()):  # type: ignore[no-untyped-def]
    sid, effects = alice.layer.connect(
        h.ToHeader(SIPURI("example.com", user="bob")), h.FromHeader(alice.uri),
        alice.contact(), net.clock.now, destination=PROXY, body=b"offer", routes=routes,
    )
    alice.take(effects)
    invite = net.queue.pop()[1]
    assert isinstance(invite, SIPRequest)
    return sid, invite


def answer(invite: SIPRequest, code: int, tag: str, contact: str,
           record_route: tuple[str, ...] = ()) -> SIPResponse:
    extra = [h.RecordRouteHeader.parse(r) for r in record_route]
    extra.append(h.ContactHeader(SIPURI(contact, user="bob")))
    return make_response(invite, code, to_tag=tag, headers=tuple(extra))


def test_forked_2xx_gets_ack_and_bye() -> None:
    net, alice, _ = pair()
    sid, invite = invite_from_alice(net, alice)
    layer, now = alice.layer, net.clock.now
    early1 = answer(invite, 180, "fork1", "192.0.2.41")
    early2 = answer(invite, 183, "fork2", "192.0.2.42")
    alice.take(layer.receive(early1, PROXY, now))
    alice.take(layer.receive(early2, PROXY, now))
    assert set(layer.session(sid).early) == {"fork1", "fork2"}
    alice.take(layer.receive(answer(invite, 200, "fork1", "192.0.2.41"), PROXY, now))
    assert layer.session(sid).state == "connected"
    sends = [m for _, m, _ in net.queue]
    assert [m.method for m in sends] == ["ACK"]  # type: ignore[union-attr]
    net.queue.clear()
    # the second fork answers too: ACK and BYE to it, the session stays with fork1
    alice.take(layer.receive(answer(invite, 200, "fork2", "192.0.2.42"), PROXY, now))
    sends = [(m, d) for _, m, d in net.queue]
    assert [m.method for m, _ in sends] == ["ACK", "BYE"]  # type: ignore[union-attr]
    assert all(m.to.tag == "fork2" for m, _ in sends)  # type: ignore[union-attr]
    assert all(d.host == "192.0.2.42" for _, d in sends)
    assert layer.session(sid).dialog.id.remote_tag == "fork1"  # type: ignore[union-attr]
    assert len(alice.of(SessionEstablished)) == 1
    # a retransmission of fork1's 2xx gets the very same ACK again
    net.queue.clear()
    alice.take(layer.receive(answer(invite, 200, "fork1", "192.0.2.41"), PROXY, now))
    (again,) = [m for _, m, _ in net.queue]
    (first_ack,) = [m for who, m in net.log if isinstance(m, SIPRequest) and m.method == "ACK"
                    and m.to.tag == "fork1"][:1]  # type: ignore[union-attr]
    assert again == first_ack


def test_2xx_after_timer_m_is_still_acked_as_stray() -> None:
    net, alice, _ = pair()
    _sid, invite = invite_from_alice(net, alice)
    ok = answer(invite, 200, "x", "192.0.2.41")
    alice.take(alice.layer.receive(ok, PROXY, net.clock.now))
    net.queue.clear()
    net.clock.advance(40)  # Timer M ends the client transaction
    assert not alice.tl.client_transactions
    effects = alice.layer.receive(ok, PROXY, net.clock.now)
    assert [m.method for m in sent(effects)] == ["ACK"]  # type: ignore[union-attr]
    assert not any(isinstance(e, StrayResponse) for e in effects)


def test_route_set_from_record_route_loose_routing() -> None:
    net, alice, _ = pair()
    sid, invite = invite_from_alice(net, alice)
    rr = ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    alice.take(alice.layer.receive(answer(invite, 200, "t", "192.0.2.41", rr), PROXY, 0))
    net.queue.clear()
    alice.take(alice.layer.end(sid, net.clock.now))
    (bye,) = [m for _, m, _ in net.queue if m.method == "BYE"]  # type: ignore[union-attr]
    (_, _, destination) = net.queue[-1]
    # UAC: Record-Route reversed; loose: Request-URI is the remote target
    assert [str(r.uri) for r in bye.route] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert bye.uri == SIPURI("192.0.2.41", user="bob")
    assert destination.host == "p1.example.com"


def test_strict_route_puts_the_remote_target_last() -> None:
    net, alice, _ = pair()
    sid, invite = invite_from_alice(net, alice)
    rr = ("<sip:p2.example.com;lr>", "<sip:strict.example.com>")
    alice.take(alice.layer.receive(answer(invite, 200, "t", "192.0.2.41", rr), PROXY, 0))
    net.queue.clear()
    alice.take(alice.layer.end(sid, net.clock.now))
    (_, bye, destination) = net.queue[-1]
    assert isinstance(bye, SIPRequest)
    assert bye.uri == SIPURI("strict.example.com")
    assert [str(r.uri) for r in bye.route] == ["sip:p2.example.com;lr", "sip:bob@192.0.2.41"]
    assert destination.host == "strict.example.com"


def test_uas_route_set_keeps_record_route_order_and_copies_it() -> None:
    _net, _alice, bob = pair()
    request = _incoming_invite(bob, rr=("<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"))
    effects = bob.layer.receive(request, ALICE, 0)
    (incoming,) = [e for e in effects if isinstance(e, IncomingInvite)]
    effects = bob.layer.accept(incoming.session, 0, b"answer")
    (ok,) = [m for m in sent(effects) if isinstance(m, SIPResponse) and m.code == 200]
    assert [str(r.uri) for r in ok.record_route] == [
        "sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert ok.contact and ok.to.tag  # type: ignore[union-attr]
    dialog = bob.layer.session(incoming.session).dialog
    assert [str(r.uri) for r in dialog.route_set] == [  # type: ignore[union-attr]
        "sip:p1.example.com;lr", "sip:p2.example.com;lr"]


def _incoming_invite(bob, rr=(), cseq=1, branch="z9hG4bKin1", to_tag=None):  # type: ignore[no-untyped-def]
    headers = [
        h.ViaHeader("UDP", ALICE.host, ALICE.port, {"branch": branch}),
        h.MaxForwardsHeader(70),
        *(h.RecordRouteHeader.parse(r) for r in rr),
        h.FromHeader(SIPURI(ALICE.host, user="alice"), None, {"tag": "atag"}),
        h.ToHeader(bob.uri, None, {"tag": to_tag} if to_tag else {}),
        h.CallIDHeader("call-1"),
        h.CSeqHeader(cseq, "INVITE"),
        h.ContactHeader(SIPURI(ALICE.host, user="alice")),
    ]
    return SIPRequest("INVITE", bob.uri, tuple(headers), b"offer")


def test_request_for_unknown_dialog_gets_481() -> None:
    _, _, bob = pair()
    bye = replace(_incoming_invite(bob, to_tag="nosuch"), method="BYE", body=b"")
    bye = replace(bye, headers=tuple(
        h.CSeqHeader(2, "BYE") if isinstance(x, h.CSeqHeader) else x for x in bye.headers))
    effects = bob.layer.receive(bye, ALICE, 0)
    assert [m.code for m in sent(effects)] == [481]  # type: ignore[union-attr]


def test_foreign_dialog_requests_pass_through() -> None:
    _, _, bob = pair()
    bob.layer._foreign = lambda request: request.method == "NOTIFY"
    notify = replace(_incoming_invite(bob, to_tag="sub"), method="NOTIFY", body=b"")
    notify = replace(notify, headers=tuple(
        h.CSeqHeader(2, "NOTIFY") if isinstance(x, h.CSeqHeader) else x for x in notify.headers))
    effects = bob.layer.receive(notify, ALICE, 0)
    assert not sent(effects)
    assert any(isinstance(e, RequestReceived) for e in effects)


def test_out_of_dialog_requests_pass_through() -> None:
    _, _, bob = pair()
    options = replace(_incoming_invite(bob), method="OPTIONS", body=b"")
    options = replace(options, headers=tuple(
        h.CSeqHeader(1, "OPTIONS") if isinstance(x, h.CSeqHeader) else x
        for x in options.headers))
    effects = bob.layer.receive(options, ALICE, 0)
    assert [type(e).__name__ for e in effects] == ["RequestReceived"]


def test_lower_cseq_gets_500() -> None:
    net, alice, bob = pair()
    a, _b = established(net, alice, bob)
    dialog = alice.layer.session(a).dialog
    assert dialog is not None
    info, _ = dialog.build_request("INFO", h.ViaHeader("UDP", ALICE.host, ALICE.port,
                                                       {"branch": "z9hG4bKold"}))
    old = replace(info, headers=tuple(
        h.CSeqHeader(0, "INFO") if isinstance(x, h.CSeqHeader) else x for x in info.headers))
    effects = bob.layer.receive(old, ALICE, net.clock.now)
    assert [m.code for m in sent(effects)] == [500]  # type: ignore[union-attr]


def test_merged_invite_gets_482() -> None:
    _, _, bob = pair()
    first = _incoming_invite(bob)
    second = _incoming_invite(bob, branch="z9hG4bKother")
    bob.layer.receive(first, ALICE, 0)
    effects = bob.layer.receive(second, ALICE, 0)
    assert 482 in [m.code for m in sent(effects)]  # type: ignore[union-attr]
    assert len(bob.layer.sessions) == 1


def test_invite_without_contact_gets_400() -> None:
    _, _, bob = pair()
    request = _incoming_invite(bob)
    request = replace(request, headers=tuple(
        x for x in request.headers if not isinstance(x, h.ContactHeader)))
    effects = bob.layer.receive(request, ALICE, 0)
    assert 400 in [m.code for m in sent(effects)]  # type: ignore[union-attr]


def test_replaces_lookup() -> None:
    net, alice, bob = pair()
    a, b = established(net, alice, bob)
    dialog = bob.layer.session(b).dialog
    assert dialog is not None
    did = dialog.id
    match = bob.layer.find_replaced(h.ReplacesHeader(did.call_id, did.local_tag, did.remote_tag))
    assert (match.session, match.code) == (b, None)
    early_only = h.ReplacesHeader(did.call_id, did.local_tag, did.remote_tag, True)
    assert bob.layer.find_replaced(early_only).code == 486
    wrong = h.ReplacesHeader(did.call_id, did.local_tag, "other")
    assert bob.layer.find_replaced(wrong) .code == 481
    # Alice's view: her tags swap roles
    adialog = alice.layer.session(a).dialog
    assert adialog is not None
    mine = h.ReplacesHeader(adialog.id.call_id, adialog.id.local_tag, adialog.id.remote_tag)
    assert alice.layer.find_replaced(mine).session == a


def test_replaces_early_dialog_rules() -> None:
    net, alice, bob = pair()
    sid, invite = invite_from_alice(net, alice)
    alice.take(alice.layer.receive(answer(invite, 180, "e1", "192.0.2.41"), PROXY, 0))
    did_local = invite.from_.tag  # type: ignore[union-attr]
    found = alice.layer.find_replaced(h.ReplacesHeader(invite.call_id, did_local, "e1", True))
    assert (found.session, found.code) == (sid, None)  # our own early dialog (UAC)
    request = _incoming_invite(bob)
    (incoming,) = [e for e in bob.layer.receive(request, ALICE, 0)
                   if isinstance(e, IncomingInvite)]
    tag = bob.layer.session(incoming.session).dialog.id.local_tag  # type: ignore[union-attr]
    theirs = bob.layer.find_replaced(h.ReplacesHeader("call-1", tag, "atag"))
    assert theirs.code == 481  # an early dialog we did not initiate


def test_session_timer_for_unknown_session_is_ignored() -> None:
    _, _, bob = pair()
    assert bob.layer.timer_fired(("session", "nope"), "ack", 0) == []
    assert all(not isinstance(e, Send) for e in bob.layer.timer_fired(("x", "INVITE"), "A", 0))


def test_state_changes_are_reported_in_order() -> None:
    net, alice, bob = pair()
    a, _b = established(net, alice, bob)
    changes = [(e.old, e.new) for e in alice.session_events(a)
               if isinstance(e, SessionStateChanged)]
    assert changes == [("null", "calling"), ("calling", "proceeding"),
                       ("proceeding", "connected")]
    assert BOB.host in str(alice.layer.session(a).dialog.remote_target)  # type: ignore[union-attr]


def _replacing(bob, *replaces: h.ReplacesHeader, branch: str = "z9hG4bKrep"):  # type: ignore[no-untyped-def]
    """A new INVITE (another Call-ID and From tag) carrying `replaces`."""
    request = _incoming_invite(bob, branch=branch)
    headers = [h.CallIDHeader("call-2") if isinstance(x, h.CallIDHeader) else
               h.FromHeader(SIPURI(ALICE.host, user="carol"), None, {"tag": "ctag"})
               if isinstance(x, h.FromHeader) else x for x in request.headers]
    return replace(request, headers=(*headers, *replaces))


def finals(effects: list) -> list[int]:  # type: ignore[type-arg]
    return [m.code for m in sent(effects) if m.code >= 200]  # type: ignore[union-attr]


def _incoming_of(effects: list) -> list[IncomingInvite]:  # type: ignore[type-arg]
    return [e for e in effects if isinstance(e, IncomingInvite)]


def test_invite_with_replaces_names_the_replaced_session() -> None:
    net, alice, bob = pair()
    _a, b = established(net, alice, bob)
    did = bob.layer.session(b).dialog.id  # type: ignore[union-attr]
    replaces = h.ReplacesHeader(did.call_id, did.local_tag, did.remote_tag)
    effects = bob.layer.receive(_replacing(bob, replaces), ALICE, net.clock.now)
    (incoming,) = _incoming_of(effects)
    assert incoming.replaces == replaces and incoming.replaced_session == b
    assert not finals(effects)
    plain = _incoming_of(bob.layer.receive(_incoming_invite(bob, branch="z9hG4bKp"), ALICE, 0))
    assert plain[0].replaces is None and plain[0].replaced_session is None


def test_invite_replacing_nothing_is_answered_by_the_layer() -> None:
    """RFC 3891 section 3: 481 (no dialog, or an early one we did not make), 486
    (early-only but confirmed), 603 (ending), 400 (more than one Replaces)."""
    net, alice, bob = pair()
    _a, b = established(net, alice, bob)
    did = bob.layer.session(b).dialog.id  # type: ignore[union-attr]
    good = h.ReplacesHeader(did.call_id, did.local_tag, did.remote_tag)
    cases = [
        ((h.ReplacesHeader("nosuch", "x", "y"),), 481),
        ((h.ReplacesHeader(did.call_id, did.local_tag, "wrong"),), 481),
        ((h.ReplacesHeader(did.call_id, did.local_tag, did.remote_tag, True),), 486),
        ((good, good), 400),
    ]
    for n, (replaces, code) in enumerate(cases):
        effects = bob.layer.receive(_replacing(bob, *replaces, branch=f"z9hG4bKr{n}"), ALICE, 0)
        assert finals(effects) == [code], replaces  # type: ignore[union-attr]
        assert not _incoming_of(effects)
    assert list(bob.layer.sessions) == [b]  # no session for the refused INVITEs
    # an early dialog Bob did not initiate (an incoming call ringing)
    ringing = _incoming_of(bob.layer.receive(_incoming_invite(bob, branch="z9hG4bKe"), ALICE, 0))
    early = bob.layer.session(ringing[0].session).dialog.id  # type: ignore[union-attr]
    effects = bob.layer.receive(_replacing(bob, h.ReplacesHeader(
        early.call_id, early.local_tag, early.remote_tag), branch="z9hG4bKr8"), ALICE, 0)
    assert finals(effects) == [481]  # type: ignore[union-attr]
    # a session ending: 603
    net.drop = lambda m: True  # the BYE stays unanswered
    bob.take(bob.layer.end(b, net.clock.now))
    assert bob.layer.session(b).state == "terminating"
    effects = bob.layer.receive(_replacing(bob, good, branch="z9hG4bKr9"), ALICE, 0)
    assert finals(effects) == [603]  # type: ignore[union-attr]
    net.advance(40)  # the BYE times out: the session is gone, its dialog remembered
    assert bob.layer.sessions.keys() == {ringing[0].session}
    effects = bob.layer.receive(_replacing(bob, good, branch="z9hG4bKr10"), ALICE, 0)
    assert finals(effects) == [603]
