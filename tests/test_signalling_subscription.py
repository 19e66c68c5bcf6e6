"""SUBSCRIBE/NOTIFY (RFC 6665) across two stacks: both sides, refresh, every ending."""

from __future__ import annotations

import pytest
from sip_subscription_fixtures import GluedStack, glued_pair

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.subscription.events import (
    IncomingSubscription,
    NotifyResponse,
    SubscriptionDidEnd,
    SubscriptionDidFail,
    SubscriptionDidStart,
    SubscriptionGotNotify,
    SubscriptionRefreshed,
    SubscriptionWillRetry,
)
from sipsimple_services.signalling.sip.subscription.layer import SubscriptionError
from sipsimple_services.signalling.sip.subscription.subscriber import MAX_RETRIES

PIDF = "application/pidf+xml"


def start(net, alice: GluedStack, bob: GluedStack, event: str = "presence",
          expires: int = 600) -> str:
    sid, effects = alice.subs.subscribe(
        h.ToHeader(bob.uri, "Bob"), h.FromHeader(alice.uri, "Alice"), h.EventHeader(event),
        net.clock.now, accept=(PIDF,), expires=expires, destination=bob.address)
    alice.take(effects)
    net.run()
    return sid


def accepted(net, alice: GluedStack, bob: GluedStack, **kw) -> tuple[str, str]:
    sid = start(net, alice, bob, **kw)
    incoming = bob.of(IncomingSubscription)[-1]
    bob.take(bob.subs.accept(incoming.subscription, net.clock.now, body=b"<open/>",
                             content_type=PIDF))
    net.run()
    return sid, incoming.subscription


def notifies(stack: GluedStack) -> list[SubscriptionGotNotify]:
    return stack.of(SubscriptionGotNotify)


def test_subscribe_accept_notify_and_unsubscribe() -> None:
    net, alice, bob = glued_pair()
    sid = start(net, alice, bob)
    subscribe = net.sent_by("alice", "SUBSCRIBE")[0]
    assert isinstance(subscribe, SIPRequest)
    assert str(subscribe.header("Accept")) == PIDF
    incoming = bob.of(IncomingSubscription)[-1]
    assert incoming.event == "presence" and incoming.expires == 600
    bob.take(bob.subs.accept(incoming.subscription, net.clock.now, expires=300,
                             body=b"<open/>", content_type=PIDF))
    net.run()
    assert alice.of(SubscriptionDidStart)[-1].expires == 300
    got = notifies(alice)[-1]
    assert (got.state, got.body, got.content_type) == ("active", b"<open/>", PIDF)
    assert net.sent_by("alice", 200)  # the NOTIFY was answered
    bob.take(bob.subs.notify(incoming.subscription, net.clock.now, b"<closed/>", PIDF))
    net.run()
    assert notifies(alice)[-1].body == b"<closed/>"
    alice.take(alice.subs.unsubscribe(sid, net.clock.now))
    net.run()
    last = net.sent_by("alice", "SUBSCRIBE")[-1]
    assert last.header("Expires").value == 0  # type: ignore[union-attr]
    assert notifies(alice)[-1].state == "terminated"
    assert alice.of(SubscriptionDidEnd)[-1].originator == "local"
    assert bob.of(SubscriptionDidEnd)[-1].originator == "remote"
    assert not alice.subs.owners() and not bob.subs.owners()
    net.advance(100)
    assert not net.clock.timers


def test_notify_before_200_creates_the_dialog() -> None:
    net, alice, bob = glued_pair()
    net.drop = lambda m: not isinstance(m, SIPRequest) and m.code == 200 and (
        m.cseq is not None and m.cseq.method == "SUBSCRIBE")
    sid, _ = accepted(net, alice, bob)
    assert alice.of(SubscriptionDidStart)[-1].expires is None
    assert notifies(alice)[-1].state == "active"
    net.drop = lambda m: False
    net.advance(1)  # the SUBSCRIBE is retransmitted, the 200 now arrives
    assert alice.subs.owner(sid).state == "accepted"
    assert len(alice.of(SubscriptionDidStart)) == 1


def test_refresh_before_expiry_gets_200_and_notify() -> None:
    net, alice, bob = glued_pair()
    sid, _nid = accepted(net, alice, bob, expires=600)
    net.advance(539)
    assert len(net.sent_by("alice", "SUBSCRIBE")) == 1
    net.advance(1)
    refresh = net.sent_by("alice", "SUBSCRIBE")[-1]
    assert refresh.to.tag is not None  # type: ignore[union-attr]
    assert bob.of(SubscriptionRefreshed)[-1].expires == 600
    assert len(notifies(alice)) == 2
    net.advance(3000)
    assert alice.subs.owner(sid).state == "accepted"
    assert not alice.of(SubscriptionDidEnd)


def test_server_expiry_sends_terminated_timeout() -> None:
    net, alice, bob = glued_pair()
    _sid, _nid = accepted(net, alice, bob, expires=600)
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "SUBSCRIBE"
    net.advance(601)
    final = net.sent_by("bob", "NOTIFY")[-1]
    assert str(final.header("Subscription-State")) == "terminated;reason=timeout"
    assert bob.of(SubscriptionDidEnd)[-1].reason == "timeout"
    # the subscriber's refresh timed out before: it ended on its own
    assert alice.of(SubscriptionDidFail)[-1].code == 408


@pytest.mark.parametrize(
    ("reason", "retry_after", "delay"),
    [("deactivated", None, 0.0), ("probation", 45, 45.0), ("giveup", None, 30.0),
     ("rejected", None, None), ("noresource", None, None), (None, None, None),
     ("timeout", None, 0.0)],
)
def test_termination_reasons(reason, retry_after, delay) -> None:
    net, alice, bob = glued_pair()
    _sid, nid = accepted(net, alice, bob)
    notifier = bob.subs.owner(nid)
    before = len(net.sent_by("alice", "SUBSCRIBE"))
    if retry_after is not None:
        # Notifier.end has no retry-after: answer with a hand-made NOTIFY
        dialog = notifier.dialog
        state = h.SubscriptionStateHeader("terminated", {"reason": reason,
                                                         "retry-after": str(retry_after)})
        request, _ = dialog.build_request("NOTIFY", h.ViaHeader("UDP", "192.0.2.20", 5060,
                                                                {"branch": "z9hG4bKhand1"}),
                                          [h.EventHeader("presence"), state])
        bob.take(bob.tl.send_request(request, alice.address, net.clock.now))
    else:
        bob.take(bob.subs.end(nid, net.clock.now, reason=reason or ""))
    net.run()
    if delay is None:
        assert alice.of(SubscriptionDidEnd)[-1].originator == "remote"
        assert not alice.subs.owners()
        return
    assert alice.of(SubscriptionWillRetry)[-1].delay == delay
    net.advance(delay)
    again = net.sent_by("alice", "SUBSCRIBE")
    assert len(again) == before + 1
    assert again[-1].to.tag is None and again[-1].call_id != again[0].call_id  # type: ignore[union-attr]


def test_retries_are_bounded() -> None:
    net, alice, bob = glued_pair()
    start(net, alice, bob)
    for _ in range(MAX_RETRIES + 1):
        # a notifier granting nothing: each NOTIFY is terminated;reason=timeout
        incoming = bob.of(IncomingSubscription)[-1]
        bob.take(bob.subs.accept(incoming.subscription, net.clock.now, expires=0))
        net.run()
    assert len(alice.of(SubscriptionWillRetry)) == MAX_RETRIES
    assert alice.of(SubscriptionDidEnd)


def test_489_and_423_and_missing_event() -> None:
    net, alice, bob = glued_pair()
    start(net, alice, bob, event="message-summary")
    assert alice.of(SubscriptionDidFail)[-1].code == 489
    assert net.sent_by("bob", 489)[0].header("Allow-Events") is not None
    net2, alice2, bob2 = glued_pair()
    sid = start(net2, alice2, bob2, expires=30)
    retry = net2.sent_by("alice", "SUBSCRIBE")[-1]
    assert retry.header("Expires").value == 60  # type: ignore[union-attr]
    assert bob2.of(IncomingSubscription)[-1].expires == 60
    assert alice2.subs.owner(sid).state == "sent"


def test_reject_fails_the_subscription() -> None:
    net, alice, bob = glued_pair()
    start(net, alice, bob)
    bob.take(bob.subs.reject(bob.of(IncomingSubscription)[-1].subscription, net.clock.now, 403))
    net.run()
    assert alice.of(SubscriptionDidFail)[-1].code == 403
    with pytest.raises(SubscriptionError):
        bob.subs.notify("subscription-99", 0.0, b"", None)


def test_notify_for_unknown_dialog_gets_481() -> None:
    net, alice, bob = glued_pair()
    _sid, _nid = accepted(net, alice, bob)
    notify = net.sent_by("bob", "NOTIFY")[0]
    assert isinstance(notify, SIPRequest)
    stray = SIPRequest("NOTIFY", notify.uri, tuple(
        h.CallIDHeader("unknown@x") if isinstance(x, h.CallIDHeader) else
        x.with_parameters(branch="z9hG4bKstray") if isinstance(x, h.ViaHeader) else x
        for x in notify.headers))
    alice.take(alice.layer.receive(stray, bob.address, net.clock.now))
    net.run()
    assert net.sent_by("alice", 481)


def test_forked_notify_is_refused() -> None:
    net, alice, bob = glued_pair()
    sid, _nid = accepted(net, alice, bob)
    notify = net.sent_by("bob", "NOTIFY")[0]
    assert isinstance(notify, SIPRequest)
    fork = SIPRequest("NOTIFY", notify.uri, tuple(
        h.FromHeader(x.uri, x.display_name).with_tag("otherfork") if isinstance(x, h.FromHeader)
        else x.with_parameters(branch="z9hG4bKfork") if isinstance(x, h.ViaHeader) else x
        for x in notify.headers))
    alice.take(alice.layer.receive(fork, bob.address, net.clock.now))
    net.run()
    assert net.sent_by("alice", 481)
    assert alice.subs.owner(sid).state == "accepted"


def test_no_notify_after_200_fails_with_timer_n() -> None:
    net, alice, bob = glued_pair()
    net.drop = lambda m: isinstance(m, SIPRequest) and m.method == "NOTIFY"
    _sid, _nid = accepted(net, alice, bob)
    net.advance(64 * 0.5 + 1)
    assert alice.of(SubscriptionDidFail)[-1].code == 408


def test_notify_failure_ends_the_notifier() -> None:
    net, alice, bob = glued_pair()
    _sid, nid = accepted(net, alice, bob)
    # the subscriber forgets (e.g. restarted): its next NOTIFY gets 481
    alice.subs._owners.clear()
    alice.subs._by_tag.clear()
    alice.subs._key_of.clear()
    bob.take(bob.subs.notify(nid, net.clock.now, b"<x/>", PIDF))
    net.run()
    assert bob.of(NotifyResponse)[-1].code == 481
    assert bob.of(SubscriptionDidEnd)[-1].reason == "NOTIFY 481"
    assert not bob.subs.owners()
