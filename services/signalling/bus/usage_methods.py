"""Registration, subscription and transfer methods of the signalling service (a mixin).

Methods: register, unregister, subscribe, unsubscribe, accept_subscription,
reject_subscription, notify, end_subscription, refer, accept_transfer,
reject_transfer, transfer_progress (see the "signalling"
table of `sipsimple.bus.schema`); events: `owned_bus`. Each object belongs
to the client that created it (or, for an incoming SUBSCRIBE, the client
that claimed its account); others get ``not-found``. A client that goes away
has its registrations unregistered and its subscriptions ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sipsimple.bus.schema import ErrorCode
from sipsimple.core import SIPParseError
from sipsimple.core.headers import (
    EventHeader,
    FromHeader,
    ReferredByHeader,
    ReferToHeader,
    ToHeader,
)
from sipsimple_services.common.service import ServiceError
from sipsimple_services.signalling.bus.params import (
    check_code,
    check_content_type,
    parse_credentials,
    parse_route,
    parse_sip_uri,
)
from sipsimple_services.signalling.bus.usage_events import owned_bus_event
from sipsimple_services.signalling.glue.sessions import SessionGlue
from sipsimple_services.signalling.glue.usages import OwnedEvent, OwnedLayers
from sipsimple_services.signalling.sip.invite.layer import UnknownSession
from sipsimple_services.signalling.sip.invite.session import SessionError
from sipsimple_services.signalling.sip.message.values import REASONS
from sipsimple_services.signalling.sip.refer.agent import ReferError
from sipsimple_services.signalling.sip.registration.client import RegistrationError
from sipsimple_services.signalling.sip.subscription.layer import SubscriptionError
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.transactions.effects import Effect

__all__ = ["OwnedMethods"]

DEFAULT_REGISTER_EXPIRES = 600
DEFAULT_SUBSCRIBE_EXPIRES = 3600
_REFUSED = (RegistrationError, SubscriptionError, ReferError, SessionError, TransactionError)


def _checked(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (ValueError, SIPParseError) as exc:
        raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None


def _expires(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not 0 < value <= 2**31 - 1:
        raise ServiceError(ErrorCode.INVALID_PARAMS, "expires must be a positive number")
    return value


class OwnedMethods:
    """Needs ``engine``, ``sessions`` (a `SessionGlue`), ``publish``, ``own``, ``disown``."""

    sessions: SessionGlue

    if TYPE_CHECKING:  # provided by `Service`
        def publish(self, name: str, sender: str, data: dict[str, Any]) -> None: ...

        def own(self, client: str, key: str, release: Callable[[], None]) -> None: ...

        def disown(self, client: str, key: str) -> None: ...

    # -- wiring (the SessionGlue's publish_owned, on_layer_owned, on_layer_finished) ------

    def _publish_owned(self, event: OwnedEvent, client: str | None) -> None:
        self.publish(*owned_bus_event(event, client))

    def _layer_owned(self, client: str, oid: str) -> None:
        self.own(client, f"owned:{oid}", lambda: self._release_owned(oid))

    def _layer_finished(self, client: str, oid: str) -> None:
        self.disown(client, f"owned:{oid}")

    def _release_owned(self, oid: str) -> None:
        self.sessions.apply(self.sessions.owned.release(oid, time.monotonic()))

    @property
    def _owned(self) -> OwnedLayers:
        return self.sessions.owned

    def _run(self, client: str, oid: str, command: Callable[[float], list[Effect]]) -> None:
        if self._owned.owners.get(oid) != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no {oid!r} of this client")
        try:
            effects = command(time.monotonic())
        except (KeyError, UnknownSession):
            raise ServiceError(ErrorCode.NOT_FOUND, f"{oid!r} has ended") from None
        except _REFUSED as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        except (SIPParseError, ValueError) as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        self.sessions.apply(effects)

    # -- registrations ---------------------------------------------------------------

    def rpc_register(
        self, client: str, aor: str, registrar: dict[str, Any], expires: int | None = None,
        credentials: dict[str, Any] | None = None, instance_id: str | None = None,
        contact_user: str | None = None,
    ) -> dict[str, Any]:
        uri = _checked(lambda: parse_sip_uri(aor, "aor"))
        destination, _tls_name = _checked(lambda: parse_route(registrar))
        auth = _checked(lambda: parse_credentials(credentials))
        if instance_id is not None and any(c in instance_id for c in '"<>\r\n'):
            raise ServiceError(ErrorCode.INVALID_PARAMS, "instance_id must be a plain URN")
        contact = _checked(lambda: self.sessions.contact(destination, contact_user or uri.user))
        now = time.monotonic()
        try:
            rid, effects = self._owned.registrations.register(
                uri, [contact], destination, now,
                expires=_expires(expires, DEFAULT_REGISTER_EXPIRES),
                auth=self.sessions.realm_book.session(auth, uri.user, uri.host, registration=True),
                instance_id=instance_id, reg_id=1 if instance_id else None,
            )
        except _REFUSED as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        # owned before its effects run: a fast answer finds its client
        self._owned.adopt(rid, client)
        self.sessions.apply(effects)
        return {"registration_id": rid}

    def rpc_unregister(self, client: str, registration_id: str) -> None:
        self._run(client, registration_id, lambda now: self._owned.registrations.unregister(
            registration_id, now))

    # -- subscriber ---------------------------------------------------------------------

    def rpc_subscribe(
        self, client: str, from_uri: str, to_uri: str, event: str, route: dict[str, Any],
        accept: list[Any] | None = None, expires: int | None = None,
        credentials: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        sender = _checked(lambda: parse_sip_uri(from_uri, "from_uri"))
        target = _checked(lambda: parse_sip_uri(to_uri, "to_uri"))
        header = _checked(lambda: EventHeader.parse(event))
        destination, _tls_name = _checked(lambda: parse_route(route))
        types: list[str] = _checked(lambda: [check_content_type(str(t)) for t in accept or ()])
        auth = _checked(lambda: parse_credentials(credentials))
        contact = _checked(lambda: self.sessions.contact(destination, sender.user))
        try:
            sid, effects = self._owned.subscriptions.subscribe(
                ToHeader(target), FromHeader(sender), header, time.monotonic(),
                contact=contact, accept=types,
                expires=_expires(expires, DEFAULT_SUBSCRIBE_EXPIRES),
                destination=destination,
                auth=self.sessions.realm_book.session(auth, sender.user, sender.host),
            )
        except _REFUSED as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        self._owned.adopt(sid, client)
        self.sessions.apply(effects)
        return {"subscription_id": sid}

    def rpc_unsubscribe(self, client: str, subscription_id: str) -> None:
        self._run(client, subscription_id, lambda now: self._owned.subscriptions.unsubscribe(
            subscription_id, now))

    # -- notifier -------------------------------------------------------------------------

    def rpc_accept_subscription(
        self, client: str, subscription_id: str, body: bytes | None = None,
        content_type: str | None = None, state: str | None = None, expires: int | None = None,
    ) -> None:
        ctype = _checked(lambda: check_content_type(content_type)) if content_type else None
        source = self._owned.sources.get(subscription_id)
        contact = None
        if source is not None:
            owner = self._owned.subscriptions.owners().get(subscription_id)
            uri = getattr(getattr(owner, "request", None), "uri", None)
            contact = self.sessions.contact(source, getattr(uri, "user", None))
        self._run(client, subscription_id, lambda now: self._owned.subscriptions.accept(
            subscription_id, now, contact=contact, expires=expires, state=state or "active",
            body=body or b"", content_type=ctype))

    def rpc_reject_subscription(
        self, client: str, subscription_id: str, code: int | None = None,
        reason: str | None = None,
    ) -> None:
        status = _checked(lambda: check_code(code if code is not None else 603))
        self._run(client, subscription_id, lambda now: self._owned.subscriptions.reject(
            subscription_id, now, status, reason))

    def rpc_notify(
        self, client: str, subscription_id: str, body: bytes, content_type: str,
        state: str | None = None,
    ) -> None:
        ctype = _checked(lambda: check_content_type(content_type))
        self._run(client, subscription_id, lambda now: self._owned.subscriptions.notify(
            subscription_id, now, body, ctype, state))

    def rpc_end_subscription(
        self, client: str, subscription_id: str, reason: str | None = None,
    ) -> None:
        self._run(client, subscription_id, lambda now: self._owned.subscriptions.end(
            subscription_id, now, reason or "noresource"))

    # -- transfers ------------------------------------------------------------------------

    def rpc_refer(
        self, client: str, session_id: str, refer_to: str, referred_by: str | None = None,
    ) -> dict[str, Any]:
        target = _checked(lambda: ReferToHeader.parse(refer_to))
        by = _checked(lambda: ReferredByHeader.parse(referred_by)) if referred_by else None
        if self.sessions.owner(session_id) != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r} of this client")
        refers = self._owned.refers
        assert refers is not None
        try:
            tid, effects = refers.refer(session_id, target, time.monotonic(), referred_by=by)
        except UnknownSession:
            raise ServiceError(ErrorCode.NOT_FOUND, f"session {session_id!r} has ended") from None
        except _REFUSED as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        self._owned.owners[tid] = client  # a transfer ends with its session: not owned apart
        self.sessions.apply(effects)
        return {"transfer_id": tid}

    def _transfer_of(self, client: str, session_id: str, transfer_id: str) -> None:
        refers = self._owned.refers
        assert refers is not None
        try:
            session = refers.transfer(transfer_id).session
        except ReferError:
            session = None
        if session != session_id or self._owned.owners.get(transfer_id) != client:
            raise ServiceError(ErrorCode.NOT_FOUND,
                               f"no transfer {transfer_id!r} in session {session_id!r}")

    def _forget_transfer(self, transfer_id: str) -> None:
        """A transfer that takes no more commands (its events have all gone out)."""
        self._owned.owners.pop(transfer_id, None)

    def rpc_accept_transfer(self, client: str, session_id: str, transfer_id: str) -> None:
        """An incoming REFER (``transfer_incoming``): 202 and NOTIFY ``100 Trying``."""
        self._transfer_of(client, session_id, transfer_id)
        refers = self._owned.refers
        assert refers is not None
        self._run(client, transfer_id, lambda now: refers.accept(transfer_id, now))

    def rpc_reject_transfer(
        self, client: str, session_id: str, transfer_id: str, code: int | None = None,
        reason: str | None = None,
    ) -> None:
        status = _checked(lambda: check_code(code if code is not None else 486))
        if not 300 <= status <= 699:
            raise ServiceError(ErrorCode.INVALID_PARAMS, f"{status} is no rejection")
        self._transfer_of(client, session_id, transfer_id)
        refers = self._owned.refers
        assert refers is not None
        self._run(client, transfer_id, lambda now: refers.reject(
            transfer_id, now, status, reason))
        self._forget_transfer(transfer_id)

    def rpc_transfer_progress(
        self, client: str, session_id: str, transfer_id: str, code: int,
        reason: str | None = None,
    ) -> None:
        """How the call to the Refer-To target goes: a NOTIFY with a sipfrag
        status line; a final code (>= 200) ends the refer subscription
        (``transfer_ended`` once that NOTIFY is answered)."""
        status = _checked(lambda: check_code(code))
        phrase = reason if reason is not None else REASONS.get(status, "Unknown")
        self._transfer_of(client, session_id, transfer_id)
        refers = self._owned.refers
        assert refers is not None
        self._run(client, transfer_id, lambda now: refers.report_progress(
            transfer_id, status, phrase, now))
