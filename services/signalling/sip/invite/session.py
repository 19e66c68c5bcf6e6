"""An INVITE session (RFC 3261 13-15, RFC 3264 offer/answer as opaque bodies), sans-IO.

`InviteSession` is driven by the `DialogLayer`: API calls (`connect`,
`provisional`, `accept`, `reject`, `end`, `reinvite`, `accept_reinvite`,
`reject_reinvite`, `answer`, `request`, `respond`) and network/timer inputs
(`on_response`, `on_stray_response`, `on_request`, `on_ack`, `on_cancel`,
`timer_fired`) each return a list of outputs: `SendRequest`/`SendResponse`
for the layer, `Send` (an ACK, a 2xx retransmission), `StartTimer`/
`CancelTimer` under `session_timer_key(id)`, and `SessionEvent`s. The state
table is in `invite_states`; this module holds the actions.

Decisions:

- Bodies are carried, never read. The offer is in the INVITE, or, with a
  body-less INVITE, in the 2xx (the UAC's application answers with `answer`,
  which sends the ACK; ``ack_pending`` until then).
- CANCEL is sent only after a provisional arrived (9.1); `end` before that
  remembers it. The session ends at the INVITE's final response, or 64*T1
  after the CANCEL if none comes. A 2xx racing the CANCEL gets ACK + BYE.
- `cancel_reinvite` does the same for our re-INVITE. Its outcome is
  ReinviteRejected (487 from the peer, or made here 64*T1 after the CANCEL
  without a final answer), or, when a 2xx crossed the CANCEL, AnswerReceived/
  OfferReceived as for any 2xx: the re-INVITE then succeeded. A peer's CANCEL
  of its re-INVITE gets 487 and ReinviteCancelled.
- A 2xx we sent is retransmitted (unreliable transports) from T1 doubling to
  T2 until the ACK; with no ACK after 64*T1 (13.3.1.4) the session sends BYE
  with ``Reason: SIP;cause=408;text="ACK not received"``.
- Later 2xx to our INVITE: the same To tag gets our ACK again, another To
  tag (a fork) gets an ACK and a BYE.
- Glare: a re-INVITE while one is pending either way is answered 491 (500
  with Retry-After while the peer's own INVITE is unanswered, 14.2); our
  re-INVITE answered 491 is retried after `glare_delay` (at most
  `MAX_GLARE_RETRIES` times; ReinviteRetryScheduled, then ReinviteRejected).
- A 408 or 481 to a re-INVITE or in-dialog request ends the session (12.2.1.2),
  except to NOTIFY and SUBSCRIBE: those belong to a subscription sharing the
  dialog (REFER's), and only that usage ends (RFC 5057 5.1).
- 401/407 are answered from the session's `AuthSession` (new CSeq, new
  branch, same Call-ID and tags); ACK for a 2xx repeats the INVITE's
  credentials (22.1).
- The remote target is refreshed by a re-INVITE we accept and by the 2xx
  of ours. Our own target (the dialog's local Contact) is refreshed by a
  ``contact`` given to `reinvite` or `accept_reinvite` (the glue gives the
  address it uses now, see `SessionGlue.refreshed_contact`): it is in that
  re-INVITE or 2xx and in everything we send in the dialog after it, kept
  whatever the re-INVITE's outcome (we are no longer at the old address).
"""

from __future__ import annotations

from collections.abc import Sequence

from sipsimple.core.headers import ContactHeader, Header, ReasonHeader, WarningHeader
from sipsimple_services.signalling.sip.dialogs.dialog import DialogError
from sipsimple_services.signalling.sip.invite.actions import InviteActions
from sipsimple_services.signalling.sip.invite.context import Purpose
from sipsimple_services.signalling.sip.invite.events import InDialogRequest, InDialogResponse
from sipsimple_services.signalling.sip.invite.machinery import (
    ACK_TIMEOUT_REASON,
    ENDS_DIALOG,
    MAX_GLARE_RETRIES,
    NOT_SUPPORTED,
    TIMER_EVENTS,
    Output,
    SessionError,
)
from sipsimple_services.signalling.sip.invite.states import Ev, State
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.keys import ClientKey, ServerKey

__all__ = ["ACK_TIMEOUT_REASON", "MAX_GLARE_RETRIES", "InviteSession", "Output", "SessionError"]

# in-dialog requests of a subscription sharing the INVITE dialog (RFC 5057)
OTHER_USAGES = frozenset({"NOTIFY", "SUBSCRIBE"})


class InviteSession(InviteActions):
    """One INVITE session; see the module docstring. Create it through `DialogLayer`."""

    # -- API -----------------------------------------------------------------

    def connect(self, invite: SIPRequest, destination: Destination) -> list[Output]:
        """Send the initial INVITE (built by the layer: tags, Call-ID, Contact, routes)."""
        return self._run(Ev.CONNECT, (invite, destination))

    def provisional(
        self, code: int = 180, reason: str | None = None,
        headers: Sequence[Header] = (), body: bytes = b"",
    ) -> list[Output]:
        if not 100 < code < 200:
            raise SessionError(f"{code} is no provisional response")
        return self._run(Ev.PROVISIONAL, (code, reason, tuple(headers), body))

    def accept(
        self, body: bytes = b"", headers: Sequence[Header] = (),
        contact: ContactHeader | None = None,
    ) -> list[Output]:
        if contact is not None and self.dialog is not None:
            self.dialog.local_contact = contact
        return self._run(Ev.ACCEPT, (body, tuple(headers)))

    def reject(
        self, code: int = 603, reason: str | None = None, headers: Sequence[Header] = ()
    ) -> list[Output]:
        if not 300 <= code <= 699:
            raise SessionError(f"{code} is no rejection")
        return self._run(Ev.REJECT, (code, reason, tuple(headers)))

    def end(self, reason: ReasonHeader | None = None) -> list[Output]:
        """Hang up however the state needs: CANCEL, BYE, or 480 to an incoming INVITE."""
        self._reason = reason
        return self._run(Ev.END)

    def reinvite(
        self, body: bytes = b"", headers: Sequence[Header] = (),
        contact: ContactHeader | None = None,
    ) -> list[Output]:
        """Send a re-INVITE; a ``contact`` becomes our target in the dialog once it is sent."""
        if self._retry is not None:
            raise SessionError("a re-INVITE waits for its glare retry")
        return self._run(Ev.REINVITE, (body, tuple(headers), contact))

    def accept_reinvite(
        self, body: bytes = b"", headers: Sequence[Header] = (),
        contact: ContactHeader | None = None,
    ) -> list[Output]:
        """Answer the peer's re-INVITE 200; a ``contact`` becomes our target, as in `reinvite`."""
        return self._run(Ev.ACCEPT_REINVITE, (body, tuple(headers), contact))

    def reject_reinvite(
        self, code: int = 488, reason: str | None = None, warning: WarningHeader | None = None,
        headers: Sequence[Header] = (),
    ) -> list[Output]:
        if not 300 <= code <= 699:
            raise SessionError(f"{code} is no rejection")
        extra = (*([warning] if warning is not None else []), *headers)
        return self._run(Ev.REJECT_REINVITE, (code, reason, extra))

    def cancel_reinvite(self) -> list[Output]:
        """CANCEL our re-INVITE in progress (or drop its glare retry); see the docstring."""
        return self._run(Ev.CANCEL_REINVITE)

    def answer(self, body: bytes, headers: Sequence[Header] = ()) -> list[Output]:
        """The answer to an offer received in a 2xx: sent in the ACK."""
        return self._run(Ev.ANSWER, (body, tuple(headers)))

    def request(
        self, method: str, headers: Sequence[Header] = (), body: bytes = b""
    ) -> tuple[int, list[Output]]:
        """Send INFO, MESSAGE, NOTIFY, REFER, OPTIONS... in the dialog; InDialogResponse follows."""
        if method in ("INVITE", "ACK", "CANCEL", "BYE") or not method.isupper():
            raise SessionError(f"{method} is not sent with request()")
        dialog = self.dialog or next(iter(self.early.values()), None)
        if dialog is None or self.state in (State.TERMINATING, State.TERMINATED):
            raise SessionError(f"no dialog to send {method} in (state {self.state})")
        self._next_request_id += 1
        try:
            self._in_dialog(Purpose.REQUEST, method, headers, body, dialog, self._next_request_id)
        except DialogError as exc:
            raise SessionError(str(exc)) from exc
        return self._next_request_id, self._flush()

    def respond(
        self, key: ServerKey, code: int, reason: str | None = None,
        headers: Sequence[Header] = (), body: bytes = b"",
    ) -> list[Output]:
        """Answer an InDialogRequest (one final response per request)."""
        request = self._servers.get(key)
        if request is None:
            raise SessionError(f"no request {key!r} waits for an answer")
        if not 100 < code <= 699:
            raise SessionError(f"invalid status code {code}")
        if code >= 200:
            del self._servers[key]
        self._respond(key, request, code, reason, headers, body)
        return self._flush()

    # -- network inputs --------------------------------------------------------

    def on_response(self, key: ClientKey, response: SIPResponse, *,
                    local: bool = False) -> list[Output]:
        """A response for one of our client transactions; ``local``: a 408/503 made
        here for a timeout or a transport failure (the failure's originator is local)."""
        self._local_final = local
        try:
            return self._on_response(key, response)
        finally:
            self._local_final = False

    def _on_response(self, key: ClientKey, response: SIPResponse) -> list[Output]:
        pending = self._pending.get(key)
        if pending is None:
            return self.on_stray_response(response)
        if response.code < 200:
            if key == self._invite_key and not pending.final_seen:
                return self._run(Ev.INVITE_1XX, response)
            return []
        if pending.final_seen:
            # only INVITE gets several finals: 2xx retransmissions and forks
            return self.on_stray_response(response) if response.code < 300 else []
        pending.final_seen = True
        self._completed("local", pending.request.method, response, None)
        if self.auth is not None and response.code not in (401, 407):
            self.auth.handle_response(response)  # confirms the credentials in use
        if pending.purpose is Purpose.REINVITE and (
            self.state is not State.REINVITE_SENT or key != self._invite_key
        ):
            # we hung up or gave up on it meanwhile: a 2xx still needs its ACK
            if response.code < 300 and self.dialog is not None:
                self._ack(self.dialog, pending.request)
            return self._flush()
        if pending.purpose in (Purpose.INVITE, Purpose.REINVITE) and key == self._invite_key:
            if response.code < 300:
                return self._run(Ev.INVITE_2XX, response)
            cancelled = pending.purpose is Purpose.REINVITE and self._reinvite_cancelled
            if (self.state is not State.TERMINATING and not cancelled
                    and self._auth_retry(pending, response)):
                return self._flush()
            return self._run(Ev.INVITE_FAIL, response)
        if self.auth is not None and response.code in (401, 407) and self._auth_retry(
            pending, response
        ):
            return self._flush()
        if pending.purpose is Purpose.BYE:
            return self._run(Ev.BYE_FINAL, response)
        if pending.purpose is Purpose.REQUEST:
            self._emit(InDialogResponse(
                self.id, pending.request_id, pending.request.method, response.code,
                response.reason, response.headers, response.body,
            ))
            if (response.code in ENDS_DIALOG and self.established
                    and pending.request.method not in OTHER_USAGES):
                self._end_after_failure(response)
        return self._flush()

    def on_stray_response(self, response: SIPResponse) -> list[Output]:
        cseq = response.cseq
        if cseq is None or cseq.method != "INVITE" or not 200 <= response.code < 300:
            return []
        return self._run(Ev.STRAY_2XX, response)

    def on_transaction_terminated(self, key: ClientKey) -> None:
        self._pending.pop(key, None)

    def on_request(
        self, key: ServerKey, request: SIPRequest, reply_to: Destination
    ) -> list[Output]:
        """A request naming this session's dialog (by Call-ID and our tag)."""
        dialog = self._dialog_for(request)
        if dialog is None:
            self._respond(key, request, 481)
            return self._flush()
        if not dialog.check_remote_cseq(request):
            self._respond(key, request, 500, "CSeq Out Of Order")
            return self._flush()
        method = request.method
        if method == "INVITE":
            return self._run(Ev.REQ_REINVITE, (key, request, reply_to))
        if method == "BYE":
            return self._run(Ev.REQ_BYE, (key, request))
        if method in NOT_SUPPORTED:
            self._respond(key, request, 501)
            return self._flush()
        self._servers[key] = request
        self._emit(InDialogRequest(self.id, method, request.headers, request.body, key))
        return self._flush()

    def on_ack(self, request: SIPRequest) -> list[Output]:
        """An ACK in our dialog (for a 2xx we sent)."""
        sent, cseq = self._sent_2xx, request.cseq
        if sent is None or cseq is None or sent.cseq is None or cseq.number != sent.cseq.number:
            return []
        if self.dialog is None or not self.dialog.matches(request, incoming_request=True):
            return []
        return self._run(Ev.REQ_ACK, request)

    def on_cancel(self, key: ServerKey, request: SIPRequest, invite_key: ServerKey) -> list[Output]:
        self._respond(key, request, 200)
        if invite_key == self.server_key:
            return self._run(Ev.REQ_CANCEL)
        return self._flush()

    def timer_fired(self, name: str) -> list[Output]:
        if name not in self._timers:
            return []
        self._timers.discard(name)
        return self._run(TIMER_EVENTS[name])
