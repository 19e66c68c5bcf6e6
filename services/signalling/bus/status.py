"""What the signalling service holds right now: the reply of the ``status`` method.

Read-only and gathered from the state the service keeps anyway (the account
registry, the registration and subscription layers, the dialog layer, the
transports), so that `sipsimple status` can show it; nothing is changed and
nothing is sent. Every value is plain (str, int, None) for msgpack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sipsimple.core import URI
from sipsimple.core.headers import FromHeader, ToHeader
from sipsimple_services.signalling.glue.sessions import SessionGlue
from sipsimple_services.signalling.sip.invite.session import InviteSession
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.registration.client import Registration
from sipsimple_services.signalling.sip.subscription.notifier import Notifier
from sipsimple_services.signalling.sip.subscription.subscriber import Subscription
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry
from sipsimple_services.signalling.transport import TransportAddress

__all__ = ["counts", "snapshot"]


def _uri(uri: URI | None) -> str | None:
    return None if uri is None else str(uri)


def _destination(destination: Destination | None) -> dict[str, Any] | None:
    if destination is None:
        return None
    return {"host": destination.host, "port": destination.port,
            "transport": destination.transport.lower()}


def _registration(rid: str, registration: Registration, client: str | None) -> dict[str, Any]:
    return {
        "registration_id": rid,
        "aor": str(registration.aor),
        "registrar": _destination(registration.registrar),
        "state": str(registration.state),
        "expires": registration.granted,  # what the registrar granted; None until it answers
        "contact": str(registration.contacts[0]) if registration.contacts else None,
        "client": client,
    }


def _session(sid: str, session: InviteSession, glue: SessionGlue) -> dict[str, Any]:
    dialog = session.dialog
    local: URI | None
    remote: URI | None
    if dialog is not None:
        local, remote, call_id = dialog.local.uri, dialog.remote.uri, dialog.id.call_id
    else:
        # no confirmed dialog yet: the identities of the initial INVITE
        request: SIPRequest | None = session.invite if session.is_uac else session.server_invite
        ours: FromHeader | ToHeader | None = None
        theirs: FromHeader | ToHeader | None = None
        call_id = None
        if request is not None:
            ours, theirs = (request.from_, request.to) if session.is_uac else (
                request.to, request.from_)
            call_id = request.call_id
        local = ours.uri if ours is not None else None
        remote = theirs.uri if theirs is not None else None
    return {
        "session_id": sid,
        "call_id": call_id,
        "state": str(session.state),
        "local": _uri(local),
        "remote": _uri(remote),
        "direction": "outgoing" if session.is_uac else "incoming",
        "transport": glue.transports.get(sid),
        "client": glue.owner(sid),
    }


def _subscription(sid: str, party: Subscription | Notifier, client: str | None) -> dict[str, Any]:
    local: URI | None
    remote: URI | None
    if isinstance(party, Subscription):
        local, remote, direction = party.from_.uri, party.to.uri, "outgoing"
    else:
        to, from_ = party.request.to, party.request.from_
        local = to.uri if to is not None else None
        remote = from_.uri if from_ is not None else None
        direction = "incoming"
    return {
        "subscription_id": sid,
        "event": str(party.event.event),
        "state": str(party.state),
        "local": _uri(local),
        "remote": _uri(remote),
        "direction": direction,
        "client": client,
    }


def snapshot(
    accounts: AccountRegistry, glue: SessionGlue, addresses: Mapping[str, TransportAddress],
) -> dict[str, Any]:
    owned = glue.owned
    return {
        "accounts": [
            {"aor": claim.aor, "client": claim.client, "options": claim.options,
             "any_user": claim.any_user}
            for claim in accounts.claims()
        ],
        "registrations": [
            _registration(rid, registration, owned.owners.get(rid))
            for rid, registration in owned.registrations.owners().items()
        ],
        "sessions": [
            _session(sid, session, glue) for sid, session in glue.layer.sessions.items()
        ],
        "subscriptions": [
            _subscription(sid, party, owned.owners.get(sid))
            for sid, party in owned.subscriptions.owners().items()
        ],
        "transports": [
            {"transport": name.lower(), "host": address.host, "port": address.port}
            for name, address in sorted(addresses.items())
        ],
    }


def counts(glue: SessionGlue, transactions: int, timers: int) -> dict[str, int]:
    """How many of each thing the service holds: all back to 0 when no call is up."""
    owned = glue.owned
    return {
        "transactions": transactions,
        "sessions": len(glue.layer.sessions),
        "registrations": len(owned.registrations.owners()),
        "subscriptions": len(owned.subscriptions.owners()),
        "transfers": 0 if owned.refers is None else len(owned.refers),
        "owned": len(owned.owners),
        "timers": timers + len(glue.wheel),
    }
