"""The dialog layer: INVITE sessions on top of the `TransactionLayer`, sans-IO.

The glue drives one `DialogLayer` per service. Every method takes ``now`` and
returns effects to carry out, in order: `Send` (to the transport),
`StartTimer`/`CancelTimer` (transaction timers, and session timers under
``("session", id)`` keys: hand both back to `timer_fired`), and events:
`SessionEvent`s for the facade, and the transaction layer's own TU events
that are not about a session (out-of-dialog requests other than INVITE,
responses to the glue's own transactions, `MessageDropped`).

- The transport calls `receive`, `transport_error`, `destination_failed`.
- The facade's commands become `connect` and the per-session calls
  (`provisional`, `accept`, `reject`, `end`, `reinvite`, `cancel_reinvite`,
  `accept_reinvite`, `reject_reinvite`, `answer`, `request`, `respond`), each naming the session
  by the id `connect` returned or `IncomingInvite` carried. A call that makes
  no sense in the session's state raises `SessionError`; an unknown id raises
  `UnknownSession`. Nothing else is raised.

Routing: requests with a To tag go to the session whose (Call-ID, local tag)
they name, the session checks the remote tag; no session means 481 unless
``foreign_dialog`` claims the request (the glue's SUBSCRIBE dialogs). A new
INVITE creates an ``incoming`` session and an `IncomingInvite`; an INVITE
merged by a fork upstream (same From tag, Call-ID and CSeq, another branch,
8.2.2.2) gets 482. An INVITE with Replaces (RFC 3891 section 3) is answered
here when it may replace nothing: 400 for several Replaces or a bad one, else
the `find_replaced` code (481, 486, 603); otherwise `IncomingInvite` names
the replaced session (its owner decides, and ends that session). CANCEL,
ACK and responses find their session through their transaction or tags.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

from sipsimple.core import URI
from sipsimple.core.headers import (
    CallIDHeader,
    ContactHeader,
    CSeqHeader,
    FromHeader,
    GenericHeader,
    Header,
    MaxForwardsHeader,
    ReasonHeader,
    ReplacesHeader,
    RouteHeader,
    ToHeader,
    ViaHeader,
    WarningHeader,
)
from sipsimple_services.signalling.sip.auth import AuthSession
from sipsimple_services.signalling.sip.dialogs.dialog import (
    RESERVED_HEADERS,
    Dialog,
    DialogError,
    DialogState,
    route_request,
)
from sipsimple_services.signalling.sip.invite.context import SessionContext, default_resolve
from sipsimple_services.signalling.sip.invite.events import (
    IncomingInvite,
    SendRequest,
    SendResponse,
)
from sipsimple_services.signalling.sip.invite.glare import RandomBelow, urandom_below
from sipsimple_services.signalling.sip.invite.machinery import PLACEHOLDER_VIA
from sipsimple_services.signalling.sip.invite.session import InviteSession, Output, SessionError
from sipsimple_services.signalling.sip.invite.states import State
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.transactions.effects import (
    AckReceived,
    CancelReceived,
    Effect,
    RequestReceived,
    ResponseReceived,
    StrayAck,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.keys import (
    ClientKey,
    ServerKey,
    client_key_for_request,
)
from sipsimple_services.signalling.sip.transactions.layer import TransactionLayer

__all__ = ["DialogLayer", "ReplacesMatch", "UnknownSession"]

# dialogs remembered after their session ended, for Replaces' 603 (RFC 3891 section 3)
ENDED_DIALOGS = 1024


class UnknownSession(SessionError, KeyError):
    """A session id the layer does not know (never created, or terminated)."""


@dataclass(frozen=True)
class ReplacesMatch:
    """What a Replaces header (RFC 3891 section 3) found.

    ``code`` is None when the session may be replaced, else the answer the
    RFC gives the INVITE: 481 (no such dialog, or an early dialog we did not
    initiate), 486 (``early-only`` but confirmed), 603 (ending, or ended among
    the last `ENDED_DIALOGS` sessions).
    """

    session: str | None
    code: int | None


class DialogLayer:
    def __init__(
        self,
        transactions: TransactionLayer,
        *,
        local_via: Callable[[Destination], ViaHeader],
        local_contact: ContactHeader,
        resolve: Callable[[URI], Destination] = default_resolve,
        random_below: RandomBelow = urandom_below,
        user_agent: str | None = None,
        foreign_dialog: Callable[[SIPRequest], bool] = lambda request: False,
    ) -> None:
        """``local_via(destination)`` gives our Via (no branch) for a destination;
        ``local_contact`` is the Contact of incoming sessions unless `accept` gives one;
        ``resolve`` maps a next-hop URI to a destination (DNS is the glue's)."""
        self.transactions = transactions
        self.local_contact = local_contact
        self.ctx = SessionContext(
            new_branch=transactions.new_branch, local_via=local_via, resolve=resolve,
            random_below=random_below, timers=transactions.timers, user_agent=user_agent,
        )
        self._foreign = foreign_dialog
        self._sessions: dict[str, InviteSession] = {}
        self._by_tag: dict[tuple[str, str], str] = {}  # (Call-ID, local tag)
        self._by_client: dict[ClientKey, str] = {}
        self._by_server: dict[ServerKey, str] = {}
        self._merged: dict[tuple[str, str, int], ServerKey] = {}
        self._counter = 0
        # (Call-ID, local tag) -> remote tags of dialogs of sessions that ended
        self._ended: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()

    # -- introspection -------------------------------------------------------

    def session(self, session_id: str) -> InviteSession:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise UnknownSession(session_id) from None

    @property
    def sessions(self) -> dict[str, InviteSession]:
        return dict(self._sessions)

    def find_replaced(self, replaces: ReplacesHeader) -> ReplacesMatch:
        """The session a Replaces header names (to-tag: our tag, from-tag: theirs)."""
        sid = self._by_tag.get((replaces.call_id, replaces.to_tag))
        session = self._sessions.get(sid) if sid is not None else None
        if session is None:
            ended = self._ended.get((replaces.call_id, replaces.to_tag), frozenset())
            return ReplacesMatch(None, 603 if replaces.from_tag in ended else 481)
        dialog = session.dialog
        if dialog is None or dialog.id.remote_tag != replaces.from_tag:
            early = session.early.get(replaces.from_tag)
            if early is None:
                return ReplacesMatch(None, 481)
            dialog = early
        if session.state in (State.TERMINATING, State.TERMINATED):
            return ReplacesMatch(session.id, 603)
        confirmed = dialog.state is DialogState.CONFIRMED or session.established
        if confirmed and replaces.early_only:
            return ReplacesMatch(session.id, 486)
        if not confirmed and not dialog.is_uac:
            return ReplacesMatch(None, 481)  # an early dialog we did not initiate
        return ReplacesMatch(session.id, None)

    # -- API -----------------------------------------------------------------

    def connect(
        self,
        to: ToHeader,
        from_: FromHeader,
        contact: ContactHeader,
        now: float,
        *,
        destination: Destination | None = None,
        request_uri: URI | None = None,
        routes: Sequence[RouteHeader] = (),
        headers: Sequence[Header] = (),
        body: bytes = b"",
        auth: AuthSession | None = None,
        call_id: str | None = None,
    ) -> tuple[str, list[Effect]]:
        """Send an INVITE; the new session's id and the effects.

        ``routes`` are preloaded Route headers (an outbound proxy); without
        ``destination`` the next hop is resolved with ``resolve``.
        """
        for header in headers:
            if header.name.lower() in RESERVED_HEADERS:
                raise SessionError(f"{header.name} is set by the session")
        call_id = call_id or self.transactions.new_branch()[7:]
        tag = self.transactions.new_tag()
        routed = route_request(request_uri or to.uri, routes)
        extra = list(headers)
        if self.ctx.user_agent is not None:
            extra.append(GenericHeader("User-Agent", self.ctx.user_agent))
        invite = SIPRequest("INVITE", routed.uri, (
            PLACEHOLDER_VIA, MaxForwardsHeader(70), *routed.routes, from_.with_tag(tag),
            to.with_tag(None), CallIDHeader(call_id), CSeqHeader(1, "INVITE"), contact, *extra,
        ), body)
        try:
            target = destination or self.ctx.resolve(routed.next_hop)
        except ValueError as exc:
            raise SessionError(str(exc)) from exc
        sid = self._new_id()
        session = InviteSession(sid, self.ctx, is_uac=True, auth=auth)
        self._sessions[sid] = session
        self._by_tag[(call_id, tag)] = sid
        return sid, self._run(session, session.connect(invite, target), now)

    def provisional(self, sid: str, now: float, code: int = 180, reason: str | None = None,
                    headers: Sequence[Header] = (), body: bytes = b"") -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.provisional(code, reason, headers, body), now)

    def accept(self, sid: str, now: float, body: bytes = b"", headers: Sequence[Header] = (),
               contact: ContactHeader | None = None) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.accept(body, headers, contact), now)

    def reject(self, sid: str, now: float, code: int = 603, reason: str | None = None,
               headers: Sequence[Header] = ()) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.reject(code, reason, headers), now)

    def end(self, sid: str, now: float, reason: ReasonHeader | None = None) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.end(reason), now)

    def reinvite(self, sid: str, now: float, body: bytes = b"",
                 headers: Sequence[Header] = (),
                 contact: ContactHeader | None = None) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.reinvite(body, headers, contact), now)

    def cancel_reinvite(self, sid: str, now: float) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.cancel_reinvite(), now)

    def accept_reinvite(self, sid: str, now: float, body: bytes = b"",
                        headers: Sequence[Header] = (),
                        contact: ContactHeader | None = None) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.accept_reinvite(body, headers, contact), now)

    def reject_reinvite(self, sid: str, now: float, code: int = 488, reason: str | None = None,
                        warning: WarningHeader | None = None,
                        headers: Sequence[Header] = ()) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.reject_reinvite(code, reason, warning, headers), now)

    def answer(self, sid: str, now: float, body: bytes,
               headers: Sequence[Header] = ()) -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.answer(body, headers), now)

    def request(self, sid: str, method: str, now: float, headers: Sequence[Header] = (),
                body: bytes = b"") -> tuple[int, list[Effect]]:
        session = self.session(sid)
        request_id, outputs = session.request(method, headers, body)
        return request_id, self._run(session, outputs, now)

    def respond(self, sid: str, key: ServerKey, code: int, now: float,
                reason: str | None = None, headers: Sequence[Header] = (),
                body: bytes = b"") -> list[Effect]:
        session = self.session(sid)
        return self._run(session, session.respond(key, code, reason, headers, body), now)

    # -- network and timers ----------------------------------------------------

    def receive(self, message: SIPRequest | SIPResponse, source: Destination,
                now: float) -> list[Effect]:
        return self._absorb(self.transactions.receive(message, source, now), now)

    def dispatch(self, event: TUEvent, now: float) -> list[Effect]:
        """A TU event of the shared transaction layer that the glue got first;
        ``[event]`` back means it is not the sessions'."""
        return self._absorb([event], now)

    def timer_fired(self, key: ClientKey | ServerKey, name: str, now: float) -> list[Effect]:
        """A timer of any StartTimer this layer returned expired."""
        if len(key) == 2 and key[0] == "session":
            session = self._sessions.get(str(key[1]))
            if session is None:
                return []
            return self._run(session, session.timer_fired(name), now)
        return self._absorb(self.transactions.timer_fired(key, name, now), now)

    def transport_error(self, key: ClientKey | ServerKey, now: float) -> list[Effect]:
        return self._absorb(self.transactions.transport_error(key, now), now)

    def destination_failed(self, destination: Destination, now: float) -> list[Effect]:
        return self._absorb(self.transactions.destination_failed(destination, now), now)

    # -- plumbing ----------------------------------------------------------------

    def _new_id(self) -> str:
        self._counter += 1
        return f"session-{self._counter}"

    def _run(self, session: InviteSession, outputs: list[Output], now: float) -> list[Effect]:
        """Carry out a session's outputs; TU events they cause are dispatched in turn."""
        effects: list[Effect] = []
        for output in outputs:
            if isinstance(output, SendRequest):
                effects += self._send_request(session, output, now)
            elif isinstance(output, SendResponse):
                # the transaction may be gone (Timer L, a CANCEL race): nothing to answer then
                with suppress(TransactionError):
                    effects += self._absorb(
                        self.transactions.send_response(output.key, output.response, now), now
                    )
            else:
                effects.append(output)
        if session.state is State.TERMINATED:
            self._forget(session)
        return effects

    def _send_request(self, session: InviteSession, output: SendRequest,
                      now: float) -> list[Effect]:
        request = output.request
        if request.method != "ACK":
            self._by_client[client_key_for_request(request)] = session.id
        try:
            sent = self.transactions.send_request(request, output.destination, now)
        except TransactionError:
            # too many transactions: the request fails as if the network refused it
            key = client_key_for_request(request)
            self._by_client.pop(key, None)
            failure = make_response(request, 503, to_tag=None)
            return self._run(session, session.on_response(key, failure, local=True), now)
        return self._absorb(sent, now)

    def _forget(self, session: InviteSession) -> None:
        # Linear in the live entries; fine at a few thousand sessions.
        sid = session.id
        dialogs = [d for d in (session.dialog, *session.early.values()) if d is not None]
        if dialogs:
            key = (dialogs[0].id.call_id, dialogs[0].id.local_tag)
            self._ended[key] = frozenset(d.id.remote_tag for d in dialogs)
            while len(self._ended) > ENDED_DIALOGS:
                self._ended.popitem(last=False)
        self._sessions.pop(sid, None)
        servers = {k for k, v in self._by_server.items() if v == sid}
        self._by_tag = {k: v for k, v in self._by_tag.items() if v != sid}
        self._by_client = {k: v for k, v in self._by_client.items() if v != sid}
        self._by_server = {k: v for k, v in self._by_server.items() if v != sid}
        self._merged = {k: v for k, v in self._merged.items() if v not in servers}

    def _absorb(self, effects: list[Effect], now: float) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, TUEvent):
                out += self._dispatch(effect, now)
            else:
                out.append(effect)
        return out

    def _owner(self, index: Mapping[Any, str], key: object) -> InviteSession | None:
        sid = index.get(key)
        return self._sessions.get(sid) if sid is not None else None

    def _dispatch(self, event: TUEvent, now: float) -> list[Effect]:
        if isinstance(event, ResponseReceived | TransactionTimedOut | TransportFailed):
            session = self._owner(self._by_client, event.key)
            if session is not None:
                key = cast(ClientKey, event.key)
                local = isinstance(event, TransactionTimedOut | TransportFailed)
                return self._run(session, session.on_response(key, event.response,
                                                              local=local), now)
            return [] if self._owner(self._by_server, event.key) else [event]
        if isinstance(event, TransactionTerminated):
            client = cast(ClientKey, event.key)
            sid = self._by_client.pop(client, None) or self._by_server.pop(event.key, None)
            if sid is None:
                return [event]
            session = self._sessions.get(sid)
            if session is not None:
                session.on_transaction_terminated(client)
            return []
        if isinstance(event, RequestReceived):
            return self._request(event, now)
        if isinstance(event, CancelReceived):
            session = self._owner(self._by_server, event.invite_key)
            if session is None:
                return [event]
            self._by_server[event.key] = session.id
            return self._run(session, session.on_cancel(event.key, event.request,
                                                        event.invite_key), now)
        if isinstance(event, AckReceived | StrayAck):
            session = self._tagged(event.request, incoming=True)
            if session is None:
                return [] if isinstance(event, AckReceived) else [event]
            return self._run(session, session.on_ack(event.request), now)
        if isinstance(event, StrayResponse):
            session = self._tagged(event.response, incoming=False)
            if session is None:
                return [event]
            return self._run(session, session.on_stray_response(event.response), now)
        return [event]

    def _tagged(self, message: SIPRequest | SIPResponse, *, incoming: bool) -> InviteSession | None:
        party = message.to if incoming else message.from_
        call_id = message.call_id
        if party is None or party.tag is None or call_id is None:
            return None
        return self._owner(self._by_tag, (call_id, party.tag))

    def _reply_to(self, key: ServerKey, source: Destination) -> Destination:
        transaction = self.transactions.server_transactions.get(key)
        return transaction.destination if transaction is not None else source

    def _request(self, event: RequestReceived, now: float) -> list[Effect]:
        request, key = event.request, event.key
        to = request.to
        if to is not None and to.tag is not None:
            session = self._tagged(request, incoming=True)
            if session is None:
                if self._foreign(request):
                    return [event]
                return self._answer(key, request, 481, now)
            self._by_server[key] = session.id
            return self._run(session, session.on_request(
                key, request, self._reply_to(key, event.source)), now)
        if request.method != "INVITE":
            return [event]
        return self._new_invite(event, now)

    def _answer(self, key: ServerKey, request: SIPRequest, code: int,
                now: float) -> list[Effect]:
        response = make_response(request, code, to_tag=self.transactions.new_tag())
        return self._absorb(self.transactions.send_response(key, response, now), now)

    def _new_invite(self, event: RequestReceived, now: float) -> list[Effect]:
        request, key = event.request, event.key
        from_, cseq, call_id = request.from_, request.cseq, request.call_id
        if from_ is None or from_.tag is None or cseq is None or call_id is None:
            return self._answer(key, request, 400, now)
        merge = (call_id, from_.tag, cseq.number)
        if merge in self._merged and self._merged[merge] != key:
            return self._answer(key, request, 482, now)
        replaces = request.headers_named("Replaces")
        replaced: str | None = None
        if replaces:
            if len(replaces) > 1 or not isinstance(replaces[0], ReplacesHeader):
                return self._answer(key, request, 400, now)
            match = self.find_replaced(replaces[0])
            if match.code is not None:
                return self._answer(key, request, match.code, now)
            replaced = match.session
        tag = self.transactions.new_tag()
        try:
            dialog = Dialog.uas(request, tag, self.local_contact,
                                self.ctx.random_below(2**31 - 1))
        except DialogError:
            return self._answer(key, request, 400, now)
        sid = self._new_id()
        session = InviteSession(sid, self.ctx, is_uac=False)
        self._sessions[sid] = session
        self._by_tag[(call_id, tag)] = sid
        self._by_server[key] = sid
        self._merged[merge] = key
        source = event.source
        effects = self._run(session, session.start_incoming(
            key, request, self._reply_to(key, source), dialog), now)
        effects.append(IncomingInvite(sid, request, source, request.body,
                                      replaces[0] if replaces else None, replaced))
        return effects
