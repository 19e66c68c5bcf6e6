"""The INVITE-session methods of the signalling service (a mixin of `SignallingService`).

Methods: invite, ring, provisional, accept, reject, answer, reinvite,
cancel_reinvite, accept_reinvite, reject_reinvite, end, session_request,
session_respond (see
the "signalling" table of `sipsimple.bus.schema`); events: `session_bus`.
A client drives only its own sessions; others are ``not-found``. A call the
session's state does not allow is ``failed`` with the reason.

An INVITE whose Replaces names a session of another client is answered 481
here: to its client, that dialog does not exist (RFC 3891 section 3).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sipsimple.bus.schema import ErrorCode
from sipsimple.core import SIPParseError
from sipsimple.core.grammar import is_token
from sipsimple.core.headers import ContactHeader, WarningHeader
from sipsimple_services.common.service import ServiceError
from sipsimple_services.signalling.bus.params import (
    check_code,
    check_content_type,
    parse_credentials,
    parse_headers,
    parse_route,
    parse_sip_uri,
)
from sipsimple_services.signalling.bus.session_events import bus_event
from sipsimple_services.signalling.glue.engine import SignallingEngine
from sipsimple_services.signalling.glue.sessions import SessionGlue, content_type_headers
from sipsimple_services.signalling.glue.usages import OwnedEvent
from sipsimple_services.signalling.sip.auth import AuthSession
from sipsimple_services.signalling.sip.invite.events import (
    IncomingInvite,
    SessionEvent,
    SessionStateChanged,
)
from sipsimple_services.signalling.sip.invite.layer import DialogLayer, UnknownSession
from sipsimple_services.signalling.sip.invite.session import SessionError
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.transactions.effects import Effect

__all__ = ["SessionMethods"]

Command = Callable[[DialogLayer, float], list[Effect]]
WARNING_AGENT = "sipsimple"
# The session_state transitions published: those a reader waits for (the facade resends
# a deferred re-offer once the dialog is connected again; ends are awaited). The others
# were 5 of the 20 events of every call, read by nobody.
PUBLISHED_STATES = frozenset({"connected", "terminated"})
QUOTED_STRING = re.compile(r'"(?:[^"\\\r\n]|\\[^\r\n])*"')


def check_contact_params(params: Mapping[Any, Any] | None) -> dict[str, str | None]:
    """``{name: value|None}`` for a Contact: token names, token or quoted-string values."""
    checked: dict[str, str | None] = {}
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not is_token(name):
            raise ServiceError(ErrorCode.INVALID_PARAMS,
                               f"contact_params: invalid parameter name {name!r}")
        if value is not None and not (isinstance(value, str) and (
                is_token(value) or QUOTED_STRING.fullmatch(value))):
            raise ServiceError(ErrorCode.INVALID_PARAMS,
                               f"contact_params: {name} needs a token or a quoted string")
        checked[name] = value
    return _checked(lambda: dict(ContactHeader(None, None, checked).parameters))


def _checked(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except (ValueError, SIPParseError) as exc:
        raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None


def _one_line(value: str | None, what: str) -> str | None:
    if value is not None and ("\r" in value or "\n" in value):
        raise ServiceError(ErrorCode.INVALID_PARAMS, f"{what} must be one line")
    return value


class SessionMethods:
    """Needs ``engine``, ``sessions`` (a `SessionGlue`), ``publish``, ``own``, ``disown``."""

    engine: SignallingEngine
    sessions: SessionGlue

    if TYPE_CHECKING:  # provided by `Service`
        def publish(self, name: str, sender: str, data: dict[str, Any]) -> None: ...

        def own(self, client: str, key: str, release: Callable[[], None]) -> None: ...

        def disown(self, client: str, key: str) -> None: ...

        # provided by `owned_service.OwnedMethods`
        def _publish_owned(self, event: OwnedEvent, client: str | None) -> None: ...

        def _layer_owned(self, client: str, oid: str) -> None: ...

        def _layer_finished(self, client: str, oid: str) -> None: ...

    # -- wiring ------------------------------------------------------------------

    def make_sessions(self, user_agent: str) -> SessionGlue:
        return SessionGlue(
            self.engine, publish=self._publish_session, user_agent=user_agent,
            on_owned=self._session_owned, on_finished=self._session_finished,
            publish_owned=self._publish_owned, on_layer_owned=self._layer_owned,
            on_layer_finished=self._layer_finished,
        )

    def _publish_session(self, event: SessionEvent, client: str | None) -> None:
        if isinstance(event, SessionStateChanged) and event.new not in PUBLISHED_STATES:
            return
        replaced = event.replaced_session if isinstance(event, IncomingInvite) else None
        if replaced is not None and self.sessions.owner(replaced) != client:
            sid = event.session
            with suppress(SessionError):
                self.sessions.run(sid, lambda layer, now: layer.reject(sid, now, 481))
            return
        name, data = bus_event(event, client, self.sessions.transports.get(event.session),
                               self.engine.server_id,
                               account=self.sessions.claimed.get(event.session))
        self.publish(name, event.session, data)

    def _session_owned(self, client: str, sid: str) -> None:
        self.own(client, f"session:{sid}", lambda: self._release_session(sid))

    def _session_finished(self, client: str, sid: str) -> None:
        self.disown(client, f"session:{sid}")

    def _release_session(self, sid: str) -> None:
        # the owner went away: hang up as the state needs (CANCEL, BYE, 480)
        with suppress(SessionError):
            self.sessions.end(sid, 480, "owner went away")

    def _drive(self, client: str, sid: str, command: Command) -> None:
        if self.sessions.owner(sid) != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {sid!r} of this client")
        try:
            self.sessions.run(sid, command)
        except UnknownSession:
            raise ServiceError(ErrorCode.NOT_FOUND, f"session {sid!r} has ended") from None
        except SessionError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        except (SIPParseError, ValueError) as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        except TransactionError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None

    # -- methods -------------------------------------------------------------------

    def rpc_invite(
        self, client: str, from_uri: str, to_uri: str, route: dict[str, Any],
        body: bytes | None = None, content_type: str | None = None,
        headers: list[Any] | None = None, credentials: dict[str, Any] | None = None,
        display_name: str | None = None, contact_user: str | None = None,
        contact_params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        sender = _checked(lambda: parse_sip_uri(from_uri, "from_uri"))
        target = _checked(lambda: parse_sip_uri(to_uri, "to_uri"))
        destination, _tls_name = _checked(lambda: parse_route(route))  # in destination
        ctype = _checked(lambda: check_content_type(content_type)) if content_type else None
        extra = _checked(lambda: parse_headers(headers))
        auth = _checked(lambda: parse_credentials(credentials))
        params = check_contact_params(contact_params)
        _one_line(display_name, "display_name")
        try:
            sid, call_id = self.sessions.connect(
                client, sender, target, destination, body=body or b"", content_type=ctype,
                headers=extra, credentials=auth, display_name=display_name,
                contact_user=contact_user, contact_params=params,
            )
        except SessionError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None
        except (SIPParseError, ValueError) as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        return {"session_id": sid, "call_id": call_id}

    def rpc_ring(self, client: str, session_id: str) -> None:
        self._drive(client, session_id, lambda layer, now: layer.provisional(session_id, now))

    def rpc_provisional(
        self, client: str, session_id: str, code: int, reason: str | None = None,
        body: bytes | None = None, content_type: str | None = None,
    ) -> None:
        _one_line(reason, "reason")
        data = body or b""
        extra = _checked(lambda: content_type_headers(data, content_type))
        self._drive(client, session_id, lambda layer, now: layer.provisional(
            session_id, now, code, reason, extra, data))

    def rpc_accept(
        self, client: str, session_id: str, body: bytes | None = None,
        content_type: str | None = None, headers: list[Any] | None = None,
        contact_params: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
    ) -> None:
        data = body or b""
        extra = [*_checked(lambda: parse_headers(headers)),
                 *_checked(lambda: content_type_headers(data, content_type))]
        params = check_contact_params(contact_params)
        auth = _checked(lambda: parse_credentials(credentials))

        def command(layer: DialogLayer, now: float) -> list[Effect]:
            contact = None
            session = layer.session(session_id)
            dialog = session.dialog
            if auth is not None and session.auth is None:
                # for our requests in the dialog (BYE, re-INVITE, REFER) challenged by a proxy;
                # bound by default to the called account's realms
                local = dialog.local.uri if dialog is not None else None
                user, domain = getattr(local, "user", None), getattr(local, "host", None)
                session.auth = (
                    AuthSession(auth, realms=set()) if not isinstance(domain, str)
                    else self.sessions.realm_book.session(auth, user, domain))
            if params and dialog is not None:
                # the dialog keeps it: every later Contact of ours carries them too
                own = dialog.local_contact
                contact = replace(own, parameters={**own.parameters, **params})
            return layer.accept(session_id, now, data, extra, contact)

        self._drive(client, session_id, command)

    def rpc_reject(
        self, client: str, session_id: str, code: int, reason: str | None = None,
        headers: list[Any] | None = None,
    ) -> None:
        _one_line(reason, "reason")
        extra = _checked(lambda: parse_headers(headers))
        self._drive(client, session_id, lambda layer, now: layer.reject(
            session_id, now, code, reason, extra))

    def rpc_answer(
        self, client: str, session_id: str, body: bytes, content_type: str | None = None,
    ) -> None:
        extra = _checked(lambda: content_type_headers(body, content_type))
        self._drive(client, session_id, lambda layer, now: layer.answer(
            session_id, now, body, extra))

    def rpc_reinvite(
        self, client: str, session_id: str, body: bytes | None = None,
        content_type: str | None = None, headers: list[Any] | None = None,
    ) -> None:
        data = body or b""
        extra = [*_checked(lambda: parse_headers(headers)),
                 *_checked(lambda: content_type_headers(data, content_type))]
        # every re-INVITE is a target refresh: its Contact on the address we use now
        self._drive(client, session_id, lambda layer, now: layer.reinvite(
            session_id, now, data, extra, self.sessions.refreshed_contact(session_id)))

    def rpc_cancel_reinvite(self, client: str, session_id: str) -> None:
        self._drive(client, session_id, lambda layer, now: layer.cancel_reinvite(
            session_id, now))

    def rpc_accept_reinvite(
        self, client: str, session_id: str, body: bytes | None = None,
        content_type: str | None = None,
    ) -> None:
        data = body or b""
        extra = _checked(lambda: content_type_headers(data, content_type))
        self._drive(client, session_id, lambda layer, now: layer.accept_reinvite(
            session_id, now, data, extra, self.sessions.refreshed_contact(session_id)))

    def rpc_reject_reinvite(
        self, client: str, session_id: str, code: int = 488, reason: str | None = None,
        warning: str | None = None,
    ) -> None:
        _one_line(reason, "reason")
        _one_line(warning, "warning")
        header = WarningHeader(399, WARNING_AGENT, warning) if warning else None
        self._drive(client, session_id, lambda layer, now: layer.reject_reinvite(
            session_id, now, code, reason, header))

    def rpc_end(
        self, client: str, session_id: str, reason_code: int | None = None,
        reason_text: str | None = None,
    ) -> None:
        _one_line(reason_text, "reason_text")
        if reason_code is not None:
            _checked(lambda: check_code(reason_code))
        if self.sessions.owner(session_id) != client:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no session {session_id!r} of this client")
        try:
            self.sessions.end(session_id, reason_code, reason_text)
        except UnknownSession:
            raise ServiceError(ErrorCode.NOT_FOUND, f"session {session_id!r} has ended") from None
        except SessionError as exc:
            raise ServiceError(ErrorCode.FAILED, str(exc)) from None

    def rpc_session_request(
        self, client: str, session_id: str, request_method: str, headers: list[Any] | None = None,
        body: bytes | None = None, content_type: str | None = None,
    ) -> dict[str, Any]:
        data = body or b""
        if data and not content_type:
            raise ServiceError(ErrorCode.INVALID_PARAMS, "a body needs its content_type")
        extra = [*_checked(lambda: parse_headers(headers)),
                 *_checked(lambda: content_type_headers(data, content_type))]
        found: list[int] = []

        def command(layer: DialogLayer, now: float) -> list[Effect]:
            request_id, effects = layer.request(session_id, request_method, now, extra, data)
            found.append(request_id)
            return effects

        self._drive(client, session_id, command)
        return {"request_id": found[0]}

    def rpc_session_respond(
        self, client: str, session_id: str, server_key: str, code: int,
        reason: str | None = None, headers: list[Any] | None = None,
        body: bytes | None = None, content_type: str | None = None,
    ) -> None:
        _checked(lambda: check_code(code))
        _one_line(reason, "reason")
        data = body or b""
        if data and not content_type:
            raise ServiceError(ErrorCode.INVALID_PARAMS, "a body needs its content_type")
        extra = [*_checked(lambda: parse_headers(headers)),
                 *_checked(lambda: content_type_headers(data, content_type))]
        key = self.engine.server_key(server_key)
        if key is None:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no request {server_key!r} in progress")
        self._drive(client, session_id, lambda layer, now: layer.respond(
            session_id, key, code, now, reason, extra, data))
