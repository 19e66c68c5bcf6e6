"""Instant message disposition notifications (RFC 5438).

A sender asks for notifications with CPIM headers in the ``imdn`` namespace
(``urn:ietf:params:imdn``): ``imdn.Message-ID`` (unique per sender), a
``DateTime`` and ``imdn.Disposition-Notification`` listing what it wants
(positive-delivery, negative-delivery, display, processing). `IMDNRequest`
reads and writes those headers on a `CPIMMessage`.

The recipient answers with a ``message/imdn+xml`` document (`IMDNNotification`)
naming the message (message-id, its datetime, optionally recipient-uri,
original-recipient-uri and subject) and one disposition: a delivery
notification (delivered, failed, forbidden, error), a display notification
(displayed, forbidden, error) or a processing notification (processed, stored,
forbidden, error). `notification_message` wraps one in CPIM as section 7.1.2
asks (a fresh imdn.Message-ID, Content-Disposition: notification).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sipsimple.core.anyuri import URI, parse_uri
from sipsimple.core.errors import SIPParseError
from sipsimple.payloads.cpim import (
    CPIMHeader,
    CPIMIdentity,
    CPIMMessage,
    CPIMNamespace,
)
from sipsimple.payloads.errors import BuilderError
from sipsimple.payloads.timestamps import format_datetime, parse_datetime
from sipsimple.payloads.xml import (
    MAX_XML_SIZE,
    XMLParseError,
    check_text,
    child,
    child_text,
    parse_xml,
    serialize,
    sub,
)

__all__ = [
    "CONTENT_TYPE",
    "DISPOSITIONS",
    "IMDN_NAMESPACE",
    "NAMESPACE",
    "STATUSES",
    "IMDNNotification",
    "IMDNParseError",
    "IMDNRequest",
    "notification_message",
]

CONTENT_TYPE = "message/imdn+xml"
NAMESPACE = "urn:ietf:params:xml:ns:imdn"
IMDN_NAMESPACE = "urn:ietf:params:imdn"  # the CPIM header namespace
DISPOSITIONS = ("positive-delivery", "negative-delivery", "display", "processing")
STATUSES = {
    "delivery": ("delivered", "failed", "forbidden", "error"),
    "display": ("displayed", "forbidden", "error"),
    "processing": ("processed", "stored", "forbidden", "error"),
}
_MAX_ID = 256


class IMDNParseError(XMLParseError):
    """A body or a set of CPIM headers that is not a valid IMDN."""


def _check_id(value: Any, error: type[Exception]) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _MAX_ID
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        raise error(f"invalid message id {value!r}")
    return value


@dataclass(frozen=True)
class IMDNRequest:
    """What a message asks for: its imdn.Message-ID, DateTime and dispositions."""

    message_id: str
    timestamp: datetime
    notifications: tuple[str, ...] = ("positive-delivery",)

    def __post_init__(self) -> None:
        _check_id(self.message_id, BuilderError)
        notifications = tuple(self.notifications)
        for item in notifications:
            if item not in DISPOSITIONS:
                raise BuilderError(f"unknown disposition notification {item!r}")
        object.__setattr__(self, "notifications", notifications)

    def headers(self, prefix: str = "imdn") -> tuple[CPIMHeader, ...]:
        """The extension headers to put on the CPIM message (DateTime is its timestamp)."""
        made = [CPIMHeader("Message-ID", self.message_id, IMDN_NAMESPACE, prefix)]
        if self.notifications:
            made.append(
                CPIMHeader(
                    "Disposition-Notification",
                    ", ".join(self.notifications),
                    IMDN_NAMESPACE,
                    prefix,
                )
            )
        return tuple(made)

    def apply(self, message: CPIMMessage) -> CPIMMessage:
        """`message` with these headers (and its DateTime) set."""
        others = tuple(
            h
            for h in message.additional_headers
            if not (
                h.namespace == IMDN_NAMESPACE
                and h.name.lower() in ("message-id", "disposition-notification")
            )
        )
        namespaces = message.namespaces
        if not any(ns.uri == IMDN_NAMESPACE for ns in namespaces):
            namespaces = (*namespaces, CPIMNamespace(IMDN_NAMESPACE, "imdn"))
        prefix = next(ns.prefix for ns in namespaces if ns.uri == IMDN_NAMESPACE)
        if prefix is None:
            raise BuilderError("the imdn namespace needs a prefix")
        return replace(
            message,
            timestamp=self.timestamp,
            namespaces=namespaces,
            additional_headers=(*others, *self.headers(prefix)),
        )

    @classmethod
    def from_message(cls, message: CPIMMessage) -> IMDNRequest | None:
        """The request a received message carries, or None if it asks for nothing.

        A message with a Disposition-Notification but no Message-ID or DateTime
        cannot be answered (RFC 5438 section 6.3) and raises IMDNParseError.
        """
        wanted = message.header("Disposition-Notification", IMDN_NAMESPACE)
        if wanted is None:
            return None
        notifications = []
        for item in wanted.split(","):
            item = item.strip().lower()
            # Unknown values are ignored, so that future dispositions do not break us.
            if item in DISPOSITIONS and item not in notifications:
                notifications.append(item)
        message_id = message.header("Message-ID", IMDN_NAMESPACE)
        if message_id is None:
            raise IMDNParseError("Disposition-Notification without imdn.Message-ID")
        if message.timestamp is None:
            raise IMDNParseError("Disposition-Notification without DateTime")
        return cls(_check_id(message_id, IMDNParseError), message.timestamp, tuple(notifications))


@dataclass(frozen=True)
class IMDNNotification:
    """A message/imdn+xml document: one disposition of one message."""

    message_id: str
    timestamp: datetime
    kind: str  # "delivery", "display" or "processing"
    status: str
    recipient_uri: URI | None = None
    original_recipient_uri: URI | None = None
    subject: str | None = None
    note: str | None = None
    note_language: str | None = None

    def __post_init__(self) -> None:
        _check_id(self.message_id, BuilderError)
        if self.kind not in STATUSES:
            raise BuilderError(f"unknown notification kind {self.kind!r}")
        if self.status not in STATUSES[self.kind]:
            raise BuilderError(f"status {self.status!r} is not valid for {self.kind}")
        for name in ("recipient_uri", "original_recipient_uri"):
            value = getattr(self, name)
            if isinstance(value, str):
                try:
                    object.__setattr__(self, name, parse_uri(value))
                except SIPParseError as exc:
                    raise BuilderError(f"invalid {name} {value!r}: {exc}") from None

    def encode(self) -> bytes:
        root = ET.Element(f"{{{NAMESPACE}}}imdn")
        sub(root, NAMESPACE, "message-id", self.message_id)
        sub(root, NAMESPACE, "datetime", format_datetime(self.timestamp))
        if self.recipient_uri is not None:
            sub(root, NAMESPACE, "recipient-uri", check_text(str(self.recipient_uri), "URI"))
        if self.original_recipient_uri is not None:
            sub(
                root,
                NAMESPACE,
                "original-recipient-uri",
                check_text(str(self.original_recipient_uri), "URI"),
            )
        if self.subject is not None:
            sub(root, NAMESPACE, "subject", check_text(self.subject, "subject"))
        notification = sub(root, NAMESPACE, f"{self.kind}-notification")
        status = sub(notification, NAMESPACE, "status")
        sub(status, NAMESPACE, self.status)
        if self.note is not None:
            attributes = {}
            if self.note_language is not None:
                attributes["{http://www.w3.org/XML/1998/namespace}lang"] = check_text(
                    self.note_language, "language"
                )
            sub(notification, NAMESPACE, "note", check_text(self.note, "note"), attributes)
        return serialize(root, NAMESPACE)

    @classmethod
    def parse(cls, data: bytes | str, *, max_size: int = MAX_XML_SIZE) -> IMDNNotification:
        error = IMDNParseError
        root = parse_xml(data, error=error, max_size=max_size)
        if root.tag != f"{{{NAMESPACE}}}imdn":
            raise error(f"root element is {root.tag!r}, not imdn")
        message_id = child_text(root, NAMESPACE, "message-id")
        if message_id is None:
            raise error("imdn without message-id")
        message_id = _check_id(message_id.strip(), error)
        text = child_text(root, NAMESPACE, "datetime")
        timestamp = parse_datetime(text, naive_is_utc=True) if text is not None else None
        if timestamp is None:
            raise error(f"imdn with a missing or invalid datetime {text!r}")
        uris: list[URI | None] = []
        for name in ("recipient-uri", "original-recipient-uri"):
            text = child_text(root, NAMESPACE, name)
            if text is None:
                uris.append(None)
                continue
            try:
                uris.append(parse_uri(text.strip()))
            except SIPParseError as exc:
                raise error(f"invalid {name} {text!r}: {exc}") from None
        subject = child_text(root, NAMESPACE, "subject")
        found = [
            (kind, element)
            for kind in STATUSES
            if (element := child(root, NAMESPACE, f"{kind}-notification")) is not None
        ]
        if len(found) != 1:
            raise error(f"imdn with {len(found)} notification elements instead of one")
        kind, element = found[0]
        status_element = child(element, NAMESPACE, "status")
        if status_element is None:
            raise error(f"{kind}-notification without status")
        statuses = [
            item.tag.rpartition("}")[2]
            for item in status_element
            if item.tag.startswith(f"{{{NAMESPACE}}}")
        ]
        if len(statuses) != 1 or statuses[0] not in STATUSES[kind]:
            raise error(f"invalid {kind} status {statuses!r}")
        # Senders put a note inside the notification element (as we write it) or
        # beside it; read either.
        note_element = child(element, NAMESPACE, "note")
        if note_element is None:
            note_element = child(root, NAMESPACE, "note")
        note = note_language = None
        if note_element is not None:
            note = note_element.text or ""
            note_language = note_element.get("{http://www.w3.org/XML/1998/namespace}lang")
        return cls(
            message_id, timestamp, kind, statuses[0], uris[0], uris[1], subject, note, note_language
        )


def notification_message(
    notification: IMDNNotification,
    *,
    message_id: str,
    timestamp: datetime,
    sender: CPIMIdentity | None = None,
    recipients: Iterable[CPIMIdentity] = (),
) -> CPIMMessage:
    """The CPIM message carrying `notification` (RFC 5438 section 7.1.2).

    `message_id` is a new imdn.Message-ID for the notification itself; the
    notification never asks for notifications of its own.
    """
    return CPIMMessage(
        content=notification.encode(),
        content_type=CONTENT_TYPE,
        content_headers=(("Content-Disposition", "notification"),),
        sender=sender,
        recipients=tuple(recipients),
        timestamp=timestamp,
        namespaces=(CPIMNamespace(IMDN_NAMESPACE, "imdn"),),
        additional_headers=(
            CPIMHeader("Message-ID", _check_id(message_id, BuilderError), IMDN_NAMESPACE, "imdn"),
        ),
    )
