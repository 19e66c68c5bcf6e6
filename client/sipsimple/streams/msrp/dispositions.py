"""IMDN (RFC 5438) for ChatStream: what was asked, what to answer, with no I/O.

A message sent with ``dispositions`` carries ``imdn.Message-ID`` (its MSRP
Message-ID, so that the notification names the id `send_message` returned)
and ``imdn.Disposition-Notification``. The receiving stream answers
positive-delivery at once (``delivered``), negative-delivery when it cannot
hand the message to the application (``failed``: a wrapped type it does not
take, a ``Require`` it does not understand), and display when the
application calls `ChatStream.send_display_notification`. `Dispositions`
keeps, per stream, the ids of the messages awaiting notifications both ways.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sipsimple.payloads.cpim import CPIM_NAMESPACE, CPIMIdentity, CPIMMessage
from sipsimple.payloads.imdn import (
    IMDN_NAMESPACE,
    IMDNNotification,
    IMDNRequest,
    notification_message,
)

__all__ = [
    "ASKABLE",
    "MAX_TRACKED",
    "DispositionError",
    "Dispositions",
    "Received",
    "checked_dispositions",
    "not_understood",
    "notification_for",
]

# What an endpoint may ask of a chat peer; "processing" is an intermediary's (RFC 5438 5.3).
ASKABLE = ("positive-delivery", "negative-delivery", "display")
MAX_TRACKED = 1024  # messages remembered per direction; the oldest go first

# The headers a receiver understands, for CPIM's Require (RFC 3862 section 4.6):
# the standard ones and the IMDN request's.
_STANDARD = frozenset(("from", "to", "cc", "datetime", "subject", "ns", "require"))
_IMDN = frozenset(("message-id", "disposition-notification"))


V = TypeVar("V")


class DispositionError(ValueError):
    """Dispositions that cannot be asked (unknown, or an intermediary's)."""


def checked_dispositions(values: Iterable[str]) -> tuple[str, ...]:
    wanted: list[str] = []
    for value in values:
        item = str(value).strip().lower()
        if item not in ASKABLE:
            raise DispositionError(f"cannot ask for {value!r} (one of {', '.join(ASKABLE)})")
        if item not in wanted:
            wanted.append(item)
    return tuple(wanted)


def not_understood(message: CPIMMessage) -> list[str]:
    """The headers `message` requires that we do not understand."""
    prefixes = {ns.prefix.lower(): ns.uri for ns in message.namespaces if ns.prefix}
    missing = []
    for name in message.required:
        prefix, _, bare = name.strip().rpartition(".")
        uri = prefixes.get(prefix.lower(), "") if prefix else CPIM_NAMESPACE
        known = _STANDARD if uri == CPIM_NAMESPACE else _IMDN if uri == IMDN_NAMESPACE else ()
        if bare.lower() not in known:
            missing.append(name)
    return missing


@dataclass(frozen=True)
class Received:
    """A received message that asked for notifications: what answering needs."""

    request: IMDNRequest
    sender: CPIMIdentity | None


def notification_for(received: Received, kind: str, status: str,
                     local: CPIMIdentity | None) -> CPIMMessage:
    """The CPIM message carrying our `kind` notification of `received` to its sender."""
    notification = IMDNNotification(received.request.message_id, received.request.timestamp,
                                    kind, status,
                                    recipient_uri=local.uri if local is not None else None)
    return notification_message(
        notification, message_id=secrets.token_hex(8), timestamp=datetime.now(UTC),
        sender=local, recipients=(received.sender,) if received.sender is not None else ())


class Dispositions:
    """The notifications one stream awaits (for its messages) and owes (for the peer's)."""

    def __init__(self) -> None:
        self._asked: dict[str, set[str]] = {}  # our message id -> kinds still expected
        self._owed: dict[str, Received] = {}  # the peer's imdn id -> its display request
        self._lock = threading.Lock()  # the application's threads and the bus thread

    def sent(self, message_id: str, dispositions: Iterable[str]) -> None:
        kinds = set()
        for item in dispositions:
            kinds.add("display" if item == "display" else "delivery")
        if kinds:
            with self._lock:
                _remember(self._asked, message_id, kinds)

    def expected(self, notification: IMDNNotification) -> bool:
        """Whether this notification answers one of ours (each kind is taken once)."""
        with self._lock:
            kinds = self._asked.get(notification.message_id)
            if kinds is None or notification.kind not in kinds:
                return False
            kinds.discard(notification.kind)
            if not kinds:
                del self._asked[notification.message_id]
            return True

    def owe_display(self, received: Received) -> None:
        with self._lock:
            _remember(self._owed, received.request.message_id, received)

    def take_display(self, message_id: str) -> Received | None:
        with self._lock:
            return self._owed.pop(message_id, None)


def _remember(table: dict[str, V], key: str, value: V) -> None:
    table.pop(key, None)
    table[key] = value
    while len(table) > MAX_TRACKED:
        del table[next(iter(table))]
