"""Registration, subscription and transfer events as bus events (names and data).

Every event carries its object's id (``registration_id``, ``subscription_id``
or ``transfer_id`` with ``session_id``) and ``client``, the owner. The names
and fields are listed in `sipsimple.bus.schema.EVENTS`.
"""

from __future__ import annotations

from typing import Any

from sipsimple_services.signalling.glue.outgoing import header_pairs
from sipsimple_services.signalling.glue.usages import OwnedEvent
from sipsimple_services.signalling.sip.refer.agent import (
    IncomingRefer,
    TransferAccepted,
    TransferEnded,
    TransferEvent,
    TransferFailed,
    TransferProgress,
)
from sipsimple_services.signalling.sip.registration.client import (
    RegistrationEnded,
    RegistrationEvent,
    RegistrationFailed,
    RegistrationSucceeded,
)
from sipsimple_services.signalling.sip.subscription.events import (
    IncomingSubscription,
    NotifyResponse,
    SubscriptionDidEnd,
    SubscriptionDidFail,
    SubscriptionDidStart,
    SubscriptionEvent,
    SubscriptionGotNotify,
    SubscriptionRefreshed,
    SubscriptionWillRetry,
)

__all__ = ["owned_bus_event"]


def owned_bus_event(event: OwnedEvent, client: str | None) -> tuple[str, str, dict[str, Any]]:
    """(event name, sender, data) of `event`."""
    if isinstance(event, RegistrationEvent):
        name, data = _registration(event)
        return (f"signalling.registration_{name}", event.registration,
                {"registration_id": event.registration, "client": client, **data})
    if isinstance(event, SubscriptionEvent):
        name, data = _subscription(event)
        return (f"signalling.subscription_{name}", event.subscription,
                {"subscription_id": event.subscription, "client": client, **data})
    name, data = _transfer(event)
    return (f"signalling.transfer_{name}", event.session,
            {"transfer_id": event.transfer, "session_id": event.session, "client": client,
             **data})


def _registration(event: RegistrationEvent) -> tuple[str, dict[str, Any]]:
    if isinstance(event, RegistrationSucceeded):
        return "succeeded", {
            "expires": event.expires, "code": event.code, "reason": event.reason,
            "contact": str(event.contact_header) if event.contact_header else None,
            "contacts": [str(c) for c in event.contact_header_list],
        }
    if isinstance(event, RegistrationFailed):
        return "failed", {"code": event.code, "reason": event.reason,
                          "retry_after": event.retry_after}
    assert isinstance(event, RegistrationEnded)
    return "ended", {"code": event.code, "reason": event.reason}


def _subscription(event: SubscriptionEvent) -> tuple[str, dict[str, Any]]:
    if isinstance(event, SubscriptionDidStart):
        return "started", {"expires": event.expires}
    if isinstance(event, SubscriptionGotNotify):
        return "notify", {"state": event.state, "reason": event.reason, "body": event.body,
                          "content_type": event.content_type,
                          "headers": header_pairs(event.headers)}
    if isinstance(event, SubscriptionWillRetry):
        return "retry", {"delay": event.delay, "reason": event.reason}
    if isinstance(event, SubscriptionDidEnd):
        return "ended", {"originator": event.originator, "reason": event.reason}
    if isinstance(event, SubscriptionDidFail):
        return "failed", {"code": event.code, "reason": event.reason}
    if isinstance(event, IncomingSubscription):
        request, source = event.request, event.source
        return "incoming", {
            "event": event.event, "expires": event.expires,
            "from": str(request.from_) if request.from_ is not None else None,
            "to": str(request.to) if request.to is not None else None,
            "request_uri": str(request.uri), "headers": header_pairs(request.headers),
            "body": request.body,
            "source": {"host": source.host, "port": source.port,
                       "transport": source.transport.lower()},
        }
    if isinstance(event, SubscriptionRefreshed):
        return "refreshed", {"expires": event.expires}
    assert isinstance(event, NotifyResponse)
    return "notify_response", {"code": event.code, "reason": event.reason}


def _transfer(event: TransferEvent) -> tuple[str, dict[str, Any]]:
    if isinstance(event, IncomingRefer):
        # a REFER we got: the client answers with accept_transfer/reject_transfer
        return "incoming", {
            "refer_to": str(event.refer_to),
            "referred_by": str(event.referred_by) if event.referred_by is not None else None,
            "replaces": str(event.replaces) if event.replaces is not None else None,
            "headers": header_pairs(event.headers),
        }
    if isinstance(event, TransferAccepted):
        return "accepted", {"code": event.code}
    if isinstance(event, TransferFailed):
        return "failed", {"code": event.code, "reason": event.reason}
    if isinstance(event, TransferProgress):
        return "progress", {"code": event.code, "reason": event.reason}
    assert isinstance(event, TransferEnded), event
    return "ended", {"code": event.code, "reason": event.reason}
