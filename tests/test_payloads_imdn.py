"""sipsimple.payloads.imdn: disposition notifications (RFC 5438)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core import parse_uri
from sipsimple.payloads import BuilderError, ParserError
from sipsimple.payloads.cpim import CPIMHeader, CPIMIdentity, CPIMMessage, CPIMNamespace
from sipsimple.payloads.imdn import (
    CONTENT_TYPE,
    IMDN_NAMESPACE,
    STATUSES,
    IMDNNotification,
    IMDNParseError,
    IMDNRequest,
    notification_message,
)
from tests.harness.fuzz import mutations

MINUS_FIVE = timezone(timedelta(hours=-5))

# The RFC 5438 example message asking for delivery and display notifications.
RFC_REQUEST = (
    b"From: Alice <im:alice@example.com>\r\n"
    b"To: Bob <im:bob@example.com>\r\n"
    b"NS: imdn <urn:ietf:params:imdn>\r\n"
    b"imdn.Message-ID: 34jk324j\r\n"
    b"DateTime: 2006-04-04T12:16:49-05:00\r\n"
    b"imdn.Disposition-Notification: positive-delivery, display\r\n"
    b"\r\n"
    b"Content-type: text/plain\r\n"
    b"Content-length: 12\r\n"
    b"\r\n"
    b"Hello World\n"
)
# The RFC 5438 example delivery and display notifications for it.
RFC_DELIVERY = b"""<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
    <message-id>34jk324j</message-id>
    <datetime>2008-04-04T12:16:49-05:00</datetime>
    <recipient-uri>im:bob@example.com</recipient-uri>
    <original-recipient-uri>im:bob@example.com</original-recipient-uri>
    <delivery-notification>
        <status>
            <delivered/>
        </status>
    </delivery-notification>
</imdn>
"""
RFC_DISPLAY = b"""<?xml version="1.0" encoding="UTF-8"?>
<imdn xmlns="urn:ietf:params:xml:ns:imdn">
    <message-id>34jk324j</message-id>
    <datetime>2008-04-04T12:16:49-05:00</datetime>
    <recipient-uri>im:bob@example.com</recipient-uri>
    <original-recipient-uri>im:bob@example.com</original-recipient-uri>
    <display-notification>
        <status>
            <displayed/>
        </status>
    </display-notification>
</imdn>
"""


def test_rfc5438_request() -> None:
    message = CPIMMessage.decode(RFC_REQUEST)
    request = IMDNRequest.from_message(message)
    assert request == IMDNRequest(
        "34jk324j",
        datetime(2006, 4, 4, 12, 16, 49, tzinfo=MINUS_FIVE),
        ("positive-delivery", "display"),
    )
    assert message.content == b"Hello World\n"


def test_rfc5438_notifications() -> None:
    bob = parse_uri("im:bob@example.com")
    when = datetime(2008, 4, 4, 12, 16, 49, tzinfo=MINUS_FIVE)
    assert IMDNNotification.parse(RFC_DELIVERY) == IMDNNotification(
        "34jk324j", when, "delivery", "delivered", bob, bob
    )
    assert IMDNNotification.parse(RFC_DISPLAY) == IMDNNotification(
        "34jk324j", when, "display", "displayed", bob, bob
    )


def test_request_headers_on_a_message() -> None:
    request = IMDNRequest(
        "m1", datetime(2026, 1, 1, tzinfo=UTC), ("positive-delivery", "negative-delivery")
    )
    base = CPIMMessage(
        b"hi",
        sender=CPIMIdentity("sip:a@example.com"),
        additional_headers=(CPIMHeader("Message-ID", "old", IMDN_NAMESPACE, "imdn"),),
        namespaces=(CPIMNamespace(IMDN_NAMESPACE, "imdn"),),
    )
    message = request.apply(base)
    data = message.encode()
    assert b"DateTime: 2026-01-01T00:00:00Z\r\n" in data
    assert b"imdn.Message-ID: m1\r\n" in data
    assert b"old" not in data
    assert b"imdn.Disposition-Notification: positive-delivery, negative-delivery\r\n" in data
    assert data.count(b"NS: imdn <urn:ietf:params:imdn>") == 1
    assert IMDNRequest.from_message(CPIMMessage.decode(data)) == request
    # A different prefix for the namespace is honoured.
    other = request.apply(CPIMMessage(b"", namespaces=(CPIMNamespace(IMDN_NAMESPACE, "i"),)))
    assert b"i.Message-ID: m1" in other.encode()
    assert IMDNRequest.from_message(CPIMMessage.decode(other.encode())) == request


def test_request_reading_edge_cases() -> None:
    assert IMDNRequest.from_message(CPIMMessage(b"x")) is None
    unknown = CPIMMessage.decode(
        b"NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: x\r\n"
        b"DateTime: 2006-04-04T12:16:49Z\r\n"
        b"imdn.Disposition-Notification: Display, future-thing, display\r\n\r\n\r\n"
    )
    request = IMDNRequest.from_message(unknown)
    assert request is not None
    assert request.notifications == ("display",)
    for headers in [
        b"imdn.Disposition-Notification: display\r\nDateTime: 2006-04-04T12:16:49Z\r\n",
        b"imdn.Disposition-Notification: display\r\nimdn.Message-ID: x\r\n",
        b"imdn.Disposition-Notification: display\r\nimdn.Message-ID: a b\r\n"
        b"DateTime: 2006-04-04T12:16:49Z\r\n",
    ]:
        with pytest.raises(IMDNParseError):
            IMDNRequest.from_message(
                CPIMMessage.decode(b"NS: imdn <urn:ietf:params:imdn>\r\n" + headers + b"\r\n\r\n")
            )


def test_notification_message() -> None:
    notification = IMDNNotification(
        "34jk324j",
        datetime(2008, 4, 4, 17, 16, 49, tzinfo=UTC),
        "delivery",
        "failed",
        note="mailbox full",
        note_language="en",
    )
    message = notification_message(
        notification,
        message_id="dd328",
        timestamp=datetime(2008, 4, 4, 17, 20, tzinfo=UTC),
        sender=CPIMIdentity("im:bob@example.com"),
        recipients=[CPIMIdentity("im:alice@example.com")],
    )
    data = message.encode()
    assert b"Content-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n" in data
    again = CPIMMessage.decode(data)
    assert again.content_type == CONTENT_TYPE
    assert again.header("Message-ID", IMDN_NAMESPACE) == "dd328"
    assert IMDNRequest.from_message(again) is None  # a notification asks for none
    assert IMDNNotification.parse(again.content) == notification


@pytest.mark.parametrize(
    "body",
    [
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><datetime>2008-04-04T12:16:49Z</datetime>"
        b"<delivery-notification><status><delivered/></status></delivery-notification></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<delivery-notification><status><delivered/></status></delivery-notification></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime>"
        b"<display-notification><status><delivered/></status></display-notification></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime>"
        b"<display-notification><status/></display-notification></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime><display-notification/></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime>"
        b"<display-notification><status><displayed/></status></display-notification>"
        b"<delivery-notification><status><delivered/></status></delivery-notification></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime><recipient-uri>not a uri</recipient-uri>"
        b"<display-notification><status><displayed/></status></display-notification></imdn>",
        b"<imdn><message-id>x</message-id></imdn>",
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id> </message-id></imdn>",
    ],
)
def test_invalid_notifications(body: bytes) -> None:
    with pytest.raises(IMDNParseError):
        IMDNNotification.parse(body)


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "reading", "status": "read"},
        {"kind": "display", "status": "delivered"},
        {"message_id": ""},
        {"message_id": "a b"},
        {"recipient_uri": "not a uri"},
        {"subject": "bell\x07"},
    ],
)
def test_builder_refuses_invalid_notifications(fields: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "message_id": "x",
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC),
        "kind": "delivery",
        "status": "delivered",
    }
    values.update(fields)
    with pytest.raises(BuilderError):
        IMDNNotification(**values).encode()


def test_builder_refuses_invalid_requests() -> None:
    with pytest.raises(BuilderError):
        IMDNRequest("x", datetime(2026, 1, 1, tzinfo=UTC), ("read-receipt",))
    with pytest.raises(BuilderError):
        IMDNRequest("", datetime(2026, 1, 1, tzinfo=UTC))


ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
xml_texts = texts.map(lambda t: "".join(c for c in t if c >= " " or c in "\t\n\r"))
timestamps = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-1439, 1439),
)
uris = st.builds(
    lambda user: parse_uri(f"im:{user}@example.com"),
    st.from_regex(r"[a-z0-9.]{1,10}", fullmatch=True),
)


@st.composite
def notifications(draw: st.DrawFn) -> IMDNNotification:
    kind = draw(st.sampled_from(sorted(STATUSES)))
    return IMDNNotification(
        draw(ids),
        draw(timestamps),
        kind,
        draw(st.sampled_from(STATUSES[kind])),
        draw(st.none() | uris),
        draw(st.none() | uris),
        draw(st.none() | xml_texts),
        draw(st.none() | xml_texts),
        None,
    )


@settings(max_examples=300, deadline=None)
@given(notifications(), st.none() | st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True))
def test_notification_round_trip(notification: IMDNNotification, language: str | None) -> None:
    if notification.note is not None:
        notification = IMDNNotification(**{**notification.__dict__, "note_language": language})
    assert IMDNNotification.parse(notification.encode()) == notification


@settings(max_examples=200, deadline=None)
@given(
    ids,
    timestamps,
    st.lists(
        st.sampled_from(["positive-delivery", "negative-delivery", "display", "processing"]),
        unique=True,
    ),
)
def test_request_round_trip(message_id: str, when: datetime, wanted: list[str]) -> None:
    request = IMDNRequest(message_id, when, tuple(wanted))
    message = CPIMMessage.decode(request.apply(CPIMMessage(b"hello")).encode())
    if wanted:
        assert IMDNRequest.from_message(message) == request
    else:
        assert IMDNRequest.from_message(message) is None
        assert message.header("Message-ID", IMDN_NAMESPACE) == message_id


SPECIAL = [
    b"<",
    b">",
    b"/",
    b"&",
    b"<!DOCTYPE x>",
    b"\x00",
    b"\xff",
    b"<failed/>",
    b"<displayed/>",
    b"</status>",
    b"<note>",
    b"'",
    b'"',
]


def test_seeded_fuzz_of_mutated_documents() -> None:
    parsed = 0
    for data in mutations(0x5438, [RFC_DELIVERY, RFC_DISPLAY], 3000, SPECIAL):
        try:
            notification = IMDNNotification.parse(data)
        except IMDNParseError:
            continue
        parsed += 1
        assert IMDNNotification.parse(notification.encode()) == notification
    assert parsed > 50


def test_errors_are_parser_errors() -> None:
    assert issubclass(IMDNParseError, ParserError)


def test_note_is_read_beside_the_notification_too() -> None:
    notification = IMDNNotification.parse(
        b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>x</message-id>"
        b"<datetime>2008-04-04T12:16:49Z</datetime>"
        b"<delivery-notification><status><error/></status></delivery-notification>"
        b"<note xml:lang='de'>kaputt</note></imdn>"
    )
    assert (notification.kind, notification.status) == ("delivery", "error")
    assert (notification.note, notification.note_language) == ("kaputt", "de")
