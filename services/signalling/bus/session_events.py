"""Session events as bus events: the name and data of each `SessionEvent`.

Every event carries ``session_id`` and ``client`` (the owner, None when
nobody owns the session any more). Headers are ``[[name, value]]`` pairs,
bodies bytes, server transactions the engine's opaque ``server_key``. The
names and fields are listed in `sipsimple.bus.schema.EVENTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sipsimple.core.headers import ContactHeader, Header
from sipsimple_services.signalling.glue.outgoing import header_pairs
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
    SessionEvent,
    SessionFailed,
    SessionStateChanged,
    TransactionCompleted,
)
from sipsimple_services.signalling.sip.transactions.keys import ServerKey

__all__ = ["bus_event"]


def _content_type(headers: Iterable[Header]) -> str | None:
    for header in headers:
        if header.name.lower() == "content-type":
            return str(header)
    return None


def _contact(headers: Iterable[Header]) -> tuple[str | None, dict[str, str | None]]:
    """The first Contact's URI and parameters (RFC 4579 ``isfocus`` is one)."""
    for header in headers:
        if isinstance(header, ContactHeader) and header.uri is not None:
            return str(header.uri), dict(header.parameters)
    return None, {}


def bus_event(
    event: SessionEvent, client: str | None, transport: str | None,
    server_id: Callable[[ServerKey], str], *, account: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The bus event for `event` (its name, its data); `account` is the AOR of the
    claim an incoming session was given to."""
    data: dict[str, Any] = {"session_id": event.session, "client": client}
    name, more = _data(event, transport, server_id)
    data.update(more)
    if isinstance(event, IncomingInvite):
        data["account"] = account
    return f"signalling.{name}", data


def _data(
    event: SessionEvent, transport: str | None, server_id: Callable[[ServerKey], str],
) -> tuple[str, dict[str, Any]]:
    if isinstance(event, IncomingInvite):
        request, source = event.request, event.source
        contact, contact_params = _contact(request.headers)
        return "session_incoming", {
            "call_id": request.call_id,
            "from": str(request.from_) if request.from_ is not None else None,
            "to": str(request.to) if request.to is not None else None,
            "request_uri": str(request.uri),
            "headers": header_pairs(request.headers),
            "body": event.offer,
            "content_type": _content_type(request.headers),
            "source": {"host": source.host, "port": source.port,
                       "transport": source.transport.lower()},
            "replaces": str(event.replaces) if event.replaces is not None else None,
            "replaced_session_id": event.replaced_session,
            "remote_contact": contact, "remote_contact_params": contact_params,
        }
    if isinstance(event, SessionStateChanged):
        return "session_state", {"old": event.old, "new": event.new}
    if isinstance(event, ProvisionalResponse):
        return "session_provisional", {
            "code": event.code, "reason": event.reason, "headers": header_pairs(event.headers),
            "body": event.body, "content_type": _content_type(event.headers),
        }
    if isinstance(event, SessionEstablished):
        return "session_established", {
            "local_body": event.local_body, "remote_body": event.remote_body,
            "remote_contact": str(event.remote_contact),
            "remote_contact_params": dict(event.remote_contact_params),
            "remote_user_agent": event.remote_user_agent,
            "headers": header_pairs(event.headers), "transport": transport,
            "local_tag": event.local_tag, "remote_tag": event.remote_tag,
        }
    if isinstance(event, OfferReceived):
        return "session_offer", {"body": event.body, "headers": header_pairs(event.headers)}
    if isinstance(event, OfferRequested):
        return "session_offer_requested", {"headers": header_pairs(event.headers)}
    if isinstance(event, AnswerReceived):
        return "session_answer", {"body": event.body}
    if isinstance(event, ReinviteRejected):
        return "session_reinvite_rejected", {
            "code": event.code, "reason": event.reason, "headers": header_pairs(event.headers),
        }
    if isinstance(event, ReinviteCancelled):
        return "session_reinvite_cancelled", {}
    if isinstance(event, ReinviteRetryScheduled):
        return "session_reinvite_retry", {"delay": event.delay}
    if isinstance(event, SessionEnded):
        return "session_ended", {
            "originator": event.originator, "code": event.code, "reason": event.reason,
            "reason_header": str(event.reason_header) if event.reason_header else None,
        }
    if isinstance(event, SessionFailed):
        return "session_failed", {
            "originator": event.originator, "code": event.code, "reason": event.reason,
            "headers": header_pairs(event.headers),
        }
    if isinstance(event, TransactionCompleted):
        return "session_transaction", {
            "originator": event.originator, "method": event.method, "code": event.code,
            "reason": event.reason, "ack_received": event.ack_received,
        }
    if isinstance(event, InDialogRequest):
        return "session_request", {
            "method": event.method, "headers": header_pairs(event.headers), "body": event.body,
            "content_type": _content_type(event.headers),
            "server_key": server_id(event.server_key),
        }
    if isinstance(event, InDialogResponse):
        return "session_response", {
            "request_id": event.request_id, "method": event.method, "code": event.code,
            "reason": event.reason, "headers": header_pairs(event.headers), "body": event.body,
        }
    raise TypeError(f"no bus event for {type(event).__name__}")
