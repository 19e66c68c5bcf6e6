"""REFER (RFC 3515) across two stacks: blind and attended transfer, sipfrag NOTIFYs."""

from __future__ import annotations

import pytest
from sip_dialog_fixtures import established
from sip_subscription_fixtures import glued_pair

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.dialog import DialogId
from sipsimple_services.signalling.message import SIPRequest
from sipsimple_services.signalling.refer import (
    IncomingRefer,
    ReferError,
    TransferAccepted,
    TransferEnded,
    TransferFailed,
    TransferProgress,
)
from sipsimple_services.signalling.replaces import refer_to_with_replaces, replaces_for
from sipsimple_services.signalling.session_events import InDialogRequest

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
