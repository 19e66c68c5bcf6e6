"""The machinery of an `InviteSession`: its state, the table runner, sending helpers.

Split from `invite_session` (which documents the behaviour) to keep modules
small: `SessionCore` holds the fields and the means to act (send requests
and responses, ACK a 2xx, timers, 401/407 retries); `InviteActions` holds the
table's actions; `InviteSession` the public inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sipsimple.core import URI
from sipsimple.core.headers import (
    GenericHeader,
    Header,
    ReasonHeader,
    ViaHeader,
)
from sipsimple_services.signalling.sip.auth import AuthRetry, AuthSession, in_dialog
from sipsimple_services.signalling.sip.dialogs.dialog import Dialog
from sipsimple_services.signalling.sip.invite.context import (
    Pending,
    Purpose,
    SessionContext,
    credentials_of,
    reissue,
    session_timer_key,
)
from sipsimple_services.signalling.sip.invite.events import (
    Originator,
    SendRequest,
    SendResponse,
    SessionEnded,
    SessionEvent,
    SessionFailed,
    SessionStateChanged,
    TransactionCompleted,
)
from sipsimple_services.signalling.sip.invite.states import API_EVENTS, TABLE, Ev, State
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions.effects import CancelTimer, Send, StartTimer
from sipsimple_services.signalling.sip.transactions.keys import (
    ClientKey,
    ServerKey,
    client_key_for_request,
)

__all__ = ["ACK_TIMEOUT_REASON", "MAX_GLARE_RETRIES", "Output", "SessionCore", "SessionError"]

Output = SendRequest | SendResponse | Send | StartTimer | CancelTimer | SessionEvent

MAX_GLARE_RETRIES = 3
ACK_TIMEOUT_REASON = ReasonHeader.new("SIP", 408, "ACK not received")
NOT_SUPPORTED = frozenset({"UPDATE", "PRACK"})
ENDS_DIALOG = frozenset({408, 481})
# build_request needs a Via; `_send` replaces it with the one for the destination
PLACEHOLDER_VIA = ViaHeader("UDP", "0.0.0.0")
TIMER_EVENTS = {"2xx": Ev.RETRANSMIT_2XX, "ack": Ev.ACK_TIMEOUT, "glare": Ev.GLARE,
                 "cancel": Ev.CANCEL_TIMEOUT, "reinvite_cancel": Ev.REINVITE_CANCEL_TIMEOUT}


class SessionError(Exception):
    """An API call the session cannot take in its state (or with these arguments)."""


def user_agent_of(message: SIPRequest | SIPResponse) -> str | None:
    header = message.header("User-Agent") or message.header("Server")
    return str(header) if header is not None else None


class SessionCore:
    def __init__(
        self, id: str, ctx: SessionContext, *, is_uac: bool, auth: AuthSession | None = None
    ) -> None:
        self.id = id
        self.ctx = ctx
        self.is_uac = is_uac
        self.auth = auth
        self.state = State.NULL
        self.dialog: Dialog | None = None
        self.early: dict[str, Dialog] = {}  # UAC: early dialogs by remote tag
        self.local_body = b""
        self.remote_body = b""
        self.established = False
        # our INVITE in progress (initial or re-INVITE)
        self.invite: SIPRequest | None = None
        self._invite_key: ClientKey | None = None
        self._invite_dest: Destination | None = None
        self._provisional_seen = False
        self._cancel_wanted = False
        self._reinvite_cancelled = False  # cancel_reinvite was called for the one in progress
        self._local_final = False  # the final response being handled was made here (408/503)
        self._acks: dict[tuple[str, int], tuple[SIPRequest, Destination]] = {}
        self._pending: dict[ClientKey, Pending] = {}
        # the INVITE we answer (initial or re-INVITE), and where its responses go
        self.server_invite: SIPRequest | None = None
        self.server_key: ServerKey | None = None
        self._reply_to: Destination | None = None
        self._sent_2xx: SIPResponse | None = None
        self._offer_in_2xx = False
        self._interval = 0.0
        self._servers: dict[ServerKey, SIPRequest] = {}  # requests awaiting `respond`
        self._timers: set[str] = set()
        self._retry: tuple[bytes, tuple[Header, ...]] | None = None
        self._glare_tries = 0
        self._next_request_id = 0
        self._reason: ReasonHeader | None = None
        self._end: tuple[Originator, int, str, ReasonHeader | None] | None = None
        self._out: list[Output] = []

    def __repr__(self) -> str:
        return f"<InviteSession {self.id} {self.state}>"

    # -- the runner ----------------------------------------------------------

    def _run(self, ev: Ev, action_arg: Any = None) -> list[Output]:
        entry = TABLE.get((self.state, ev))
        if entry is None:
            if ev in API_EVENTS:
                raise SessionError(f"{ev} is not possible in state {self.state}")
            return self._flush()
        new, act = entry
        override = getattr(self, f"_do_{act.value}")(action_arg)
        self._move(override if override is not None else new)
        return self._flush()

    def _move(self, new: State) -> None:
        old = self.state
        if new is old:
            return
        self.state = new
        if new in (State.TERMINATING, State.TERMINATED):
            for name in sorted(self._timers - ({"cancel"} if new is State.TERMINATING else set())):
                self._cancel(name)
        self._out.append(SessionStateChanged(self.id, old.value, new.value))
        if new is State.TERMINATED and self._end is not None:
            originator, code, reason, header = self._end
            if self.established:
                self._out.append(SessionEnded(self.id, originator, code, reason, header))
            else:
                self._out.append(SessionFailed(self.id, originator, code, reason, ()))

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def _emit(self, event: Output) -> None:
        self._out.append(event)

    def _start(self, name: str, delay: float) -> None:
        if name in self._timers:
            self._cancel(name)
        self._timers.add(name)
        self._out.append(StartTimer(session_timer_key(self.id), name, delay))

    def _cancel(self, name: str) -> None:
        if name in self._timers:
            self._timers.discard(name)
            self._out.append(CancelTimer(session_timer_key(self.id), name))

    # -- sending -------------------------------------------------------------

    def _send(
        self, purpose: Purpose, request: SIPRequest, next_hop: URI | Destination,
        request_id: int = 0, *, fresh_credentials: bool = True,
    ) -> ClientKey:
        dest = next_hop if isinstance(next_hop, Destination) else self.ctx.resolve(next_hop)
        first = self._invite_dest
        if first is not None and dest == first and dest.tls_name is None:
            dest = first  # the route's TLS name holds for the dialog's requests
        creds = None
        if fresh_credentials and self.auth is not None and purpose is not Purpose.CANCEL:
            creds = self.auth.authorize(request.method, request.uri, request.body,
                                        in_dialog=in_dialog(request))
        if purpose is not Purpose.CANCEL:  # a CANCEL keeps the INVITE's branch
            request = reissue(request, self.ctx.local_via(dest), self.ctx.new_branch(),
                              credentials=creds)
        key = client_key_for_request(request)
        self._pending[key] = Pending(purpose, request, dest, request_id)
        self._out.append(SendRequest(self.id, request, dest))
        return key

    def _in_dialog(
        self, purpose: Purpose, method: str, headers: Sequence[Header] = (), body: bytes = b"",
        dialog: Dialog | None = None, request_id: int = 0,
    ) -> ClientKey:
        dialog = dialog or self.dialog
        assert dialog is not None
        extra = list(headers)
        if self.ctx.user_agent is not None and not any(
            h.name == "User-Agent" for h in extra
        ):
            extra.append(GenericHeader("User-Agent", self.ctx.user_agent))
        request, hop = dialog.build_request(method, PLACEHOLDER_VIA, extra, body)
        return self._send(purpose, request, hop, request_id)

    def _respond(
        self, key: ServerKey, request: SIPRequest, code: int, reason: str | None = None,
        headers: Sequence[Header] = (), body: bytes = b"",
    ) -> SIPResponse:
        extra = list(headers)
        if 100 < code < 300 and request.method == "INVITE" and self.dialog is not None:
            # 12.1.1: dialog-creating responses carry Record-Route and Contact
            extra = [*request.record_route, self.dialog.local_contact, *extra]
        if self.ctx.user_agent is not None:
            extra.append(GenericHeader("Server", self.ctx.user_agent))
        tag = self.dialog.id.local_tag if self.dialog is not None else None
        response = make_response(request, code, reason, to_tag=tag, headers=extra, body=body)
        self._out.append(SendResponse(self.id, key, response))
        if code >= 200 and not (request.method == "INVITE" and code < 300):
            self._completed("remote", request.method, response, None)
        return response

    def _completed(
        self, who: Originator, method: str, response: SIPResponse, ack: bool | None
    ) -> None:
        self._out.append(
            TransactionCompleted(self.id, who, method, response.code, response.reason, ack)
        )

    def _ack(
        self, dialog: Dialog, invite: SIPRequest, body: bytes = b"",
        headers: tuple[Header, ...] = (),
    ) -> None:
        """ACK a 2xx of `invite` in `dialog` (13.2.2.4), remembered for 2xx retransmissions."""
        assert invite.cseq is not None
        ack, hop = dialog.build_ack(
            invite.cseq.number, PLACEHOLDER_VIA, (*credentials_of(invite), *headers), body
        )
        dest = self.ctx.resolve(hop)
        ack = reissue(ack, self.ctx.local_via(dest), self.ctx.new_branch())
        self._acks[(dialog.id.remote_tag, invite.cseq.number)] = (ack, dest)
        self._out.append(Send(ack, dest))

    # -- helpers -------------------------------------------------------------

    def _dialog_for(self, request: SIPRequest) -> Dialog | None:
        for dialog in (self.dialog, *self.early.values()):
            if dialog is not None and dialog.matches(request, incoming_request=True):
                return dialog
        return None

    def _auth_retry(self, pending: Pending, response: SIPResponse) -> bool:
        """Send `pending`'s request again with credentials for a 401/407 (new CSeq)."""
        if self.auth is None or response.code not in (401, 407):
            return False
        outcome = self.auth.handle_response(response, in_dialog=in_dialog(pending.request))
        if not isinstance(outcome, AuthRetry):
            return False
        old = pending.request
        assert old.cseq is not None
        number = self.dialog.next_cseq() if self.dialog is not None else old.cseq.number + 1
        request = replace(old, headers=tuple(
            h if h.name != "CSeq" else type(old.cseq)(number, old.method) for h in old.headers
        ))
        key = self._send(pending.purpose, request, pending.destination, pending.request_id)
        if pending.purpose in (Purpose.INVITE, Purpose.REINVITE):
            self._invite_key, self.invite = key, self._pending[key].request
            # a CANCEL waits for a 1xx of the new transaction (9.1)
            self._provisional_seen = False
        return True

    def _end_after_failure(self, response: SIPResponse) -> None:
        """408/481 in the dialog: it is gone (12.2.1.2); BYE for good measure on 408."""
        # a 408 made here (the request timed out) ends it from our side
        self._end = ("local" if self._local_final else "remote", response.code,
                     response.reason, None)
        if response.code == 408 and self.dialog is not None:
            self._in_dialog(Purpose.BYE, "BYE")
            self._move(State.TERMINATING)
        else:
            self._move(State.TERMINATED)

    def _to_tag(self, response: SIPResponse) -> str | None:
        return response.to.tag if response.to is not None else None
