"""What subscriptions (RFC 6665) tell the facade: frozen events, both sides.

Each names its subscription by the id the `SubscriptionLayer` gave it
(``subscription``); the glue publishes them on the bus. Bodies are the
application's bytes, never looked into.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipsimple.core.headers import Header
from sipsimple_services.signalling.sip.invite.events import Originator
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions.effects import TUEvent

__all__ = [
    "IncomingSubscription",
    "NotifyResponse",
    "SubscriptionDidEnd",
    "SubscriptionDidFail",
    "SubscriptionDidStart",
    "SubscriptionEvent",
    "SubscriptionGotNotify",
    "SubscriptionRefreshed",
    "SubscriptionWillRetry",
]


@dataclass(frozen=True)
class SubscriptionEvent(TUEvent):
    subscription: str


# -- subscriber side --------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionDidStart(SubscriptionEvent):
    """The subscription's dialog exists (2xx to the SUBSCRIBE, or a NOTIFY first)."""

    expires: int | None  # from the 2xx; None when a NOTIFY came first


@dataclass(frozen=True)
class SubscriptionGotNotify(SubscriptionEvent):
    """A NOTIFY (answered 200). ``state``: active, pending or terminated."""

    state: str
    reason: str | None
    body: bytes
    content_type: str | None
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class SubscriptionWillRetry(SubscriptionEvent):
    """The notifier ended the subscription with a reason that invites a new one:
    a new SUBSCRIBE (a new dialog) goes out after ``delay`` seconds."""

    delay: float
    reason: str | None


@dataclass(frozen=True)
class SubscriptionDidEnd(SubscriptionEvent):
    """The subscription ended normally (unsubscribed, terminated by the notifier, expired)."""

    originator: Originator
    reason: str | None


@dataclass(frozen=True)
class SubscriptionDidFail(SubscriptionEvent):
    """The SUBSCRIBE (or a refresh) failed, or no NOTIFY came (Timer N, 408)."""

    code: int
    reason: str


# -- notifier side -----------------------------------------------------------------


@dataclass(frozen=True)
class IncomingSubscription(SubscriptionEvent):
    """A new SUBSCRIBE: answer with `SubscriptionLayer.accept` or `reject`."""

    event: str
    request: SIPRequest
    source: Destination
    expires: int


@dataclass(frozen=True)
class SubscriptionRefreshed(SubscriptionEvent):
    """The subscriber refreshed (``expires`` granted, 0: it unsubscribed)."""

    expires: int


@dataclass(frozen=True)
class NotifyResponse(SubscriptionEvent):
    """The final response to a NOTIFY we sent."""

    code: int
    reason: str
