"""IMDN (RFC 5438) in ChatStream: the pure rules, then two accounts through the services.

alice and bob chat over the real signalling and msrp services; messages sent
with ``dispositions`` carry the IMDN request, the receiver answers delivery
by itself and display when the application says so, both ways; a message
bob cannot hand to his application (a Require he does not understand) gets
a negative delivery notification.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from harness.audio import audio_services
from harness.chat import by, chat, got
from harness.notifications import Recorder
from harness.sessions import facade

from sipsimple.account import Account
from sipsimple.core import SIPURI
from sipsimple.notification import Notification
from sipsimple.payloads.cpim import CPIMIdentity, CPIMMessage, CPIMNamespace
from sipsimple.payloads.imdn import IMDN_NAMESPACE, IMDNNotification, IMDNRequest
from sipsimple.streams import ChatStream, ChatStreamError
from sipsimple.streams.msrp.dispositions import (
    MAX_TRACKED,
    DispositionError,
    Dispositions,
    Received,
    checked_dispositions,
    not_understood,
    notification_for,
)

WHEN = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
ALICE = CPIMIdentity(SIPURI(user="alice", host="sip.test"), "Alice")
BOB = CPIMIdentity(SIPURI(user="bob", host="sip.test"), "Bob")


# --- the pure rules --------------------------------------------------------------


def test_checked_dispositions() -> None:
    assert checked_dispositions(["Display", "positive-delivery", "display"]) == (
        "display", "positive-delivery")
    for wrong in (["processing"], ["read"]):
        with pytest.raises(DispositionError):
            checked_dispositions(wrong)


def test_require_is_understood_for_standard_and_imdn_headers_only() -> None:
    imdn = (CPIMNamespace(IMDN_NAMESPACE, "imdn"),)
    ok = CPIMMessage(b"x", required=("DateTime", "imdn.Disposition-Notification"),
                     namespaces=imdn)
    assert not_understood(ok) == []
    other = CPIMMessage(b"x", required=("imdn.Message-ID", "ext.Secret", "Color"),
                        namespaces=(*imdn, CPIMNamespace("urn:example:ext", "ext")))
    assert not_understood(other) == ["ext.Secret", "Color"]


def test_the_notification_names_the_message_and_goes_to_its_sender() -> None:
    received = Received(IMDNRequest("m1", WHEN, ("positive-delivery",)), ALICE)
    message = notification_for(received, "delivery", "delivered", BOB)
    assert message.content_type == "message/imdn+xml"
    assert ("Content-Disposition", "notification") in message.content_headers
    assert message.recipients == (ALICE,) and message.sender == BOB
    assert IMDNRequest.from_message(message) is None  # it asks for nothing itself
    document = IMDNNotification.parse(message.content)
    assert (document.message_id, document.timestamp, document.kind, document.status) == (
        "m1", WHEN, "delivery", "delivered")
    assert str(document.recipient_uri) == "sip:bob@sip.test"
    decoded = CPIMMessage.decode(message.encode())
    assert decoded.header("Message-ID", IMDN_NAMESPACE) not in (None, "m1")


def test_each_kind_is_taken_once_and_only_when_asked() -> None:
    table = Dispositions()
    table.sent("m1", ("positive-delivery", "negative-delivery", "display"))
    table.sent("m2", ())
    delivered = IMDNNotification("m1", WHEN, "delivery", "delivered")
    displayed = IMDNNotification("m1", WHEN, "display", "displayed")
    assert table.expected(delivered) and not table.expected(delivered)
    assert table.expected(displayed) and not table.expected(displayed)
    assert not table.expected(IMDNNotification("m2", WHEN, "delivery", "delivered"))
    assert not table.expected(IMDNNotification("zz", WHEN, "delivery", "failed"))


def test_the_tables_are_bounded() -> None:
    table = Dispositions()
    for index in range(MAX_TRACKED + 10):
        table.sent(f"m{index}", ("display",))
        table.owe_display(Received(IMDNRequest(f"r{index}", WHEN, ("display",)), ALICE))
    assert not table.expected(IMDNNotification("m0", WHEN, "display", "displayed"))
    assert table.take_display("r0") is None
    last = MAX_TRACKED + 9
    assert table.expected(IMDNNotification(f"m{last}", WHEN, "display", "displayed"))
    assert table.take_display(f"r{last}") is not None and table.take_display(f"r{last}") is None


# --- through the services ----------------------------------------------------------


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    audio_services(spawn_service, msrp=True)
    with facade(["alice", "bob"]) as created:
        yield created


def disposition(events: Recorder, stream: ChatStream, message_id: str, kind: str
                ) -> Notification:
    return events.wait(lambda n: by(stream, "ChatStreamGotDispositionNotification")(n)
                       and n.data.message_id == message_id and n.data.kind == kind)


@pytest.mark.integration
def test_delivery_and_display_notifications_both_ways(
    accounts: dict[str, Account], events: Recorder
) -> None:
    stream = ChatStream(accounts["alice"])
    queued = stream.send_message("queued, asking", dispositions=["positive-delivery", "display"])
    session, answering, theirs = chat(events, accounts["alice"], stream)

    [message] = got(events, theirs)
    arrived = next(n for n in events.seen if by(theirs, "ChatStreamGotMessage")(n))
    assert arrived.data.message_id == queued
    assert arrived.data.dispositions == ["positive-delivery", "display"]
    assert message.header("Disposition-Notification", IMDN_NAMESPACE) == \
        "positive-delivery, display"
    delivered = disposition(events, stream, queued, "delivery")  # bob's side did it alone
    assert delivered.data.status == "delivered"
    assert str(delivered.data.sender.uri) == "sip:bob@sip.test"
    assert delivered.data.notification.timestamp == message.timestamp
    assert not [n for n in events.seen if by(stream, "ChatStreamGotDispositionNotification")(n)
                and n.data.kind == "display"]  # not before bob's application says so
    assert not [n for n in events.seen if by(stream, "ChatStreamGotMessage")(n)]

    theirs.send_display_notification(queued)
    displayed = disposition(events, stream, queued, "display")
    assert displayed.data.status == "displayed"
    with pytest.raises(ChatStreamError):  # answered already
        theirs.send_display_notification(queued)

    plain = stream.send_message("asking nothing")  # nothing owed for it
    got(events, theirs, 2)
    with pytest.raises(ChatStreamError):
        theirs.send_display_notification(plain)

    back = theirs.send_message("and bob asks too", dispositions=["display"])
    [reply] = got(events, stream)
    assert reply.content == b"and bob asks too"
    stream.send_display_notification(back)
    assert disposition(events, theirs, back, "display").data.status == "displayed"
    # bob asked for no delivery notification: alice sent none
    events.wait(lambda n: by(theirs, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == back)
    assert not [n for n in events.seen if by(theirs, "ChatStreamGotDispositionNotification")(n)
                and n.data.kind == "delivery"]
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))


@pytest.mark.integration
def test_a_message_the_receiver_cannot_take_gets_a_negative_delivery(
    accounts: dict[str, Account], events: Recorder
) -> None:
    stream = ChatStream(accounts["alice"])
    session, answering, theirs = chat(events, accounts["alice"], stream)
    with pytest.raises(ChatStreamError):
        stream.send_message("x", dispositions=["processing"])  # an intermediary's
    doomed = stream.send_message(
        "you must understand x.Secret", required=["x.Secret"],
        dispositions=["positive-delivery", "negative-delivery"])
    failed = disposition(events, stream, doomed, "delivery")
    assert failed.data.status == "failed"
    # MSRP carried it (the report says so); bob's application never saw it
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == doomed)
    fine = stream.send_message("a normal one", dispositions=["negative-delivery"])
    [message] = got(events, theirs)
    assert message.content == b"a normal one"
    events.wait(lambda n: by(stream, "ChatStreamDidDeliverMessage")(n)
                and n.data.message_id == fine)
    # only a failure would have been reported: none came for it
    assert [n.data.message_id for n in events.seen
            if by(stream, "ChatStreamGotDispositionNotification")(n)] == [doomed]
    session.end()
    events.wait(by(answering, "SIPSessionDidEnd"))
