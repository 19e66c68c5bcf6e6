"""The actions of the INVITE session table (`invite_states.TABLE`).

Each ``_do_<action>`` takes the event's argument and may return a state
that overrides the table's (see `invite_states`). Behaviour is described in
`invite_session`.
"""

from __future__ import annotations

from typing import Any

from sipsimple.core.grammar import EMPTY_PARAMS
from sipsimple.core.headers import ContactHeader, GenericHeader, Header, ReasonHeader
from sipsimple_services.signalling.sip.dialogs.dialog import Dialog, DialogError, DialogState
from sipsimple_services.signalling.sip.invite.context import Purpose, build_cancel
from sipsimple_services.signalling.sip.invite.events import (
    AnswerReceived,
    OfferReceived,
    OfferRequested,
    Originator,
    ProvisionalResponse,
    ReinviteCancelled,
    ReinviteRejected,
    ReinviteRetryScheduled,
    SessionEstablished,
    SessionFailed,
)
from sipsimple_services.signalling.sip.invite.glare import glare_delay
from sipsimple_services.signalling.sip.invite.machinery import (
    ACK_TIMEOUT_REASON,
    ENDS_DIALOG,
    MAX_GLARE_RETRIES,
    Output,
    SessionCore,
    user_agent_of,
)
from sipsimple_services.signalling.sip.invite.states import State
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.effects import Send
from sipsimple_services.signalling.sip.transactions.keys import ServerKey

__all__ = ["InviteActions"]


class InviteActions(SessionCore):
    # -- actions: UAC ----------------------------------------------------------

    def _do_nothing(self, _: object) -> None:
        return None

    def _do_send_invite(self, arg: Any) -> None:
        invite, destination = arg
        self.local_body = invite.body
        self._invite_dest = destination
        self._invite_key = self._send(Purpose.INVITE, invite, destination)
        self.invite = self._pending[self._invite_key].request

    def _do_on_provisional(self, response: SIPResponse) -> State | None:
        self._provisional_seen = True
        if response.code == 100:
            return self.state if self.state is not State.CALLING else State.PROCEEDING
        assert self.invite is not None
        tag = self._to_tag(response)
        state = State.PROCEEDING if self.state is not State.EARLY else State.EARLY
        if tag is not None:
            dialog = self.early.get(tag)
            try:
                if dialog is None:
                    self.early[tag] = Dialog.uac(self.invite, response)
                else:
                    dialog.refresh_target(response)
                state = State.EARLY
            except DialogError:
                pass  # a 1xx without Contact still informs the application
        self._emit(ProvisionalResponse(
            self.id, response.code, response.reason, response.headers, response.body
        ))
        return state

    def _confirm(self, response: SIPResponse) -> Dialog:
        assert self.invite is not None
        tag = self._to_tag(response) or ""
        dialog = self.early.get(tag)
        if dialog is None:
            dialog = Dialog.uac(self.invite, response)
        else:
            dialog.confirm(response)
        self.early.clear()  # 13.2.2.4: the other early dialogs end with the first 2xx
        self.dialog = dialog
        return dialog

    def _do_on_invite_2xx(self, response: SIPResponse) -> State | None:
        assert self.invite is not None
        try:
            dialog = self._confirm(response)
        except DialogError:
            return self._fail_bad_2xx(response)
        self.remote_body = response.body
        if not self.invite.body and response.body:
            self._emit(OfferReceived(self.id, response.body, response.headers))
            return State.ACK_PENDING
        self._ack(dialog, self.invite)
        self._established(response, dialog)
        return None

    def _fail_bad_2xx(self, response: SIPResponse) -> State:
        self._end = ("remote", 502, "Invalid 2xx (no Contact)", None)
        return State.TERMINATED

    def _established(self, message: SIPRequest | SIPResponse, dialog: Dialog) -> None:
        self.established = True
        contact = message.header("Contact")
        params = contact.parameters if isinstance(contact, ContactHeader) else EMPTY_PARAMS
        self._emit(SessionEstablished(
            self.id, self.local_body, self.remote_body, dialog.remote_target,
            user_agent_of(message), message.headers, params,
            dialog.id.local_tag, dialog.id.remote_tag,
        ))

    def _do_on_invite_failure(self, response: SIPResponse) -> None:
        self.early.clear()
        # reported here rather than by _move: the event carries the response's headers;
        # a 408/503 made here (timeout, transport failure) is a local failure
        originator: Originator = "local" if self._local_final else "remote"
        self._emit(SessionFailed(self.id, originator, response.code, response.reason,
                                 response.headers))

    def _do_cancel(self, _: object) -> None:
        self._cancel_wanted = True
        self._end = ("local", 487, "Request Terminated", None)
        self._start("cancel", self.ctx.timers.timeout)
        if self._provisional_seen:
            self._send_cancel()

    def _send_cancel(self) -> None:
        if not self._cancel_wanted or self.invite is None or self._invite_dest is None:
            return
        self._cancel_wanted = False
        self._send(Purpose.CANCEL, build_cancel(self.invite), self._invite_dest)

    def _do_cancel_if_wanted(self, response: SIPResponse) -> None:
        self._provisional_seen = True
        self._send_cancel()

    def _do_ack_and_bye(self, response: SIPResponse) -> None:
        try:
            dialog = self._confirm(response)
        except DialogError:
            return
        assert self.invite is not None
        self._cancel("cancel")  # the BYE's own transaction bounds the wait now
        self._ack(dialog, self.invite)
        self._in_dialog(Purpose.BYE, "BYE", self._reason_headers())

    def _do_cancelled(self, response: object) -> None:
        if isinstance(response, SIPResponse) and response.code != 487:
            self._end = ("local", 487, "Request Terminated", None)

    def _do_bye_done(self, _: object) -> None:
        return None

    def _do_ack_stray(self, response: SIPResponse) -> None:
        """A 2xx to an INVITE answered before: ACK again, or ACK and BYE a fork."""
        tag, cseq = self._to_tag(response), response.cseq
        if tag is None or cseq is None:
            return
        known = self._acks.get((tag, cseq.number))
        if known is not None:
            self._out.append(Send(*known))
            return
        invite = self.invite
        if invite is None or invite.cseq is None or invite.cseq.number != cseq.number:
            return
        if self.dialog is not None and tag == self.dialog.id.remote_tag:
            return  # our ACK for it is still waiting for the application's answer
        try:
            fork = Dialog.uac(invite, response)
        except DialogError:
            return
        self._ack(fork, invite)
        self._in_dialog(Purpose.FORK_BYE, "BYE", dialog=fork)

    def _do_send_answer(self, arg: Any) -> None:
        assert self.dialog is not None and self.invite is not None
        body, headers = arg
        self.local_body = body
        self._ack(self.dialog, self.invite, body, headers)
        if not self.established:
            self._established(self.invite, self.dialog)

    def _do_ack_then_bye(self, _: object) -> None:
        assert self.dialog is not None and self.invite is not None
        self._ack(self.dialog, self.invite)
        self._end = ("local", 200, "OK", self._reason)
        self._in_dialog(Purpose.BYE, "BYE", self._reason_headers())

    def _reason_headers(self) -> tuple[Header, ...]:
        return (self._reason,) if self._reason is not None else ()

    def _do_send_bye(self, _: object) -> None:
        self._leave_accepted()
        self._end = ("local", 200, "OK", self._reason)
        self._in_dialog(Purpose.BYE, "BYE", self._reason_headers())

    # -- actions: UAS ----------------------------------------------------------

    def start_incoming(
        self, key: ServerKey, request: SIPRequest, reply_to: Destination, dialog: Dialog
    ) -> list[Output]:
        """Take a new INVITE (the layer made the early dialog and our tag)."""
        self.server_key, self.server_invite, self._reply_to = key, request, reply_to
        self.dialog = dialog
        self.remote_body = request.body
        self._move(State.INCOMING)
        return self._flush()

    def _do_send_provisional(self, arg: Any) -> None:
        code, reason, headers, body = arg
        assert self.server_key is not None and self.server_invite is not None
        self._respond(self.server_key, self.server_invite, code, reason, headers, body)

    def _send_2xx(self, body: bytes, headers: tuple[Header, ...]) -> None:
        assert self.server_key is not None and self.server_invite is not None
        self.local_body = body
        self._offer_in_2xx = not self.server_invite.body
        self._sent_2xx = self._respond(
            self.server_key, self.server_invite, 200, None, headers, body
        )
        self._interval = self.ctx.timers.t1
        if self._reply_to is not None and not self._reply_to.reliable:
            self._start("2xx", self._interval)
        self._start("ack", self.ctx.timers.timeout)

    def _do_send_2xx(self, arg: Any) -> None:
        body, headers = arg
        self._send_2xx(body, headers)

    def _do_send_reject(self, arg: Any) -> None:
        code, reason, headers = arg
        assert self.server_key is not None and self.server_invite is not None
        response = self._respond(self.server_key, self.server_invite, code, reason, headers)
        self._end = ("local", code, response.reason, None)

    def _do_decline(self, _: object) -> None:
        self._do_send_reject((480, None, self._reason_headers()))

    def _do_on_cancel(self, _: object) -> None:
        assert self.server_key is not None and self.server_invite is not None
        self._respond(self.server_key, self.server_invite, 487)
        self._end = ("remote", 487, "Request Terminated", None)

    def _do_on_bye(self, arg: Any) -> None:
        key, request = arg
        self._leave_accepted()
        if self.state is State.INCOMING or self.state is State.REINVITE_RECEIVED:
            assert self.server_key is not None and self.server_invite is not None
            self._respond(self.server_key, self.server_invite, 487)
        self._respond(key, request, 200)
        header = request.header("Reason")
        reason = header if isinstance(header, ReasonHeader) else None
        self._end = ("remote", 200, "BYE", reason) if self.established else (
            "remote", 487, "Request Terminated", reason)

    def _leave_accepted(self) -> None:
        """Stop waiting for an ACK; report the 2xx transaction as unacknowledged."""
        if self.state is State.ACCEPTED and self._sent_2xx is not None:
            self._cancel("2xx")
            self._cancel("ack")
            self._completed("remote", "INVITE", self._sent_2xx, False)
            self._sent_2xx = None

    def _do_on_ack(self, request: SIPRequest) -> None:
        assert self._sent_2xx is not None and self.dialog is not None
        self._cancel("2xx")
        self._cancel("ack")
        self._completed("remote", "INVITE", self._sent_2xx, True)
        self._sent_2xx = None
        self.dialog.state = DialogState.CONFIRMED
        if self._offer_in_2xx:
            self.remote_body = request.body
            self._emit(AnswerReceived(self.id, request.body))
        if not self.established:
            assert self.server_invite is not None
            self._established(self.server_invite, self.dialog)

    def _do_retransmit_2xx(self, _: object) -> None:
        if self._sent_2xx is None or self._reply_to is None:
            return
        self._out.append(Send(self._sent_2xx, self._reply_to))
        self._interval = min(2 * self._interval, self.ctx.timers.t2)
        self._start("2xx", self._interval)

    def _do_ack_timeout(self, _: object) -> None:
        self._leave_accepted()
        self._reason = ACK_TIMEOUT_REASON
        self._end = ("local", 408, "ACK not received", ACK_TIMEOUT_REASON)
        self._in_dialog(Purpose.BYE, "BYE", (ACK_TIMEOUT_REASON,))

    # -- actions: re-INVITE ----------------------------------------------------

    def _do_send_reinvite(self, arg: Any) -> None:
        body, headers, contact = arg
        if contact is not None:
            assert self.dialog is not None
            self.dialog.refresh_local_target(contact)  # glare retries carry it too
        self._retry = None
        self._glare_tries = 0
        self._reinvite(body, headers)

    def _reinvite(self, body: bytes, headers: tuple[Header, ...]) -> None:
        self._retry = (body, headers)
        self._provisional_seen = self._cancel_wanted = self._reinvite_cancelled = False
        self._invite_key = self._in_dialog(Purpose.REINVITE, "INVITE", headers, body)
        pending = self._pending[self._invite_key]
        self.invite, self._invite_dest = pending.request, pending.destination

    def _do_on_reinvite_2xx(self, response: SIPResponse) -> State | None:
        assert self.dialog is not None and self.invite is not None
        # a 2xx that crossed our CANCEL wins (9.1): the offer/answer happened
        self._reinvite_final()
        self._retry = None
        self.dialog.refresh_target(response)
        if self.invite.body:
            self.local_body = self.invite.body
            self.remote_body = response.body
            self._emit(AnswerReceived(self.id, response.body))
            self._ack(self.dialog, self.invite)
            return None
        self.remote_body = response.body
        self._emit(OfferReceived(self.id, response.body, response.headers))
        return State.ACK_PENDING

    def _do_on_reinvite_failure(self, response: SIPResponse) -> State | None:
        self._reinvite_final()
        if response.code == 491 and self._retry is not None and not self._reinvite_cancelled and (
            self._glare_tries < MAX_GLARE_RETRIES
        ):
            self._glare_tries += 1
            self._schedule_glare()
            return None
        self._retry = None
        self._emit(ReinviteRejected(self.id, response.code, response.reason, response.headers))
        if response.code in ENDS_DIALOG:
            self._end_after_failure(response)
            return self.state
        return None

    def _reinvite_final(self) -> None:
        self._cancel_wanted = False
        self._cancel("reinvite_cancel")

    def _do_cancel_reinvite(self, _: object) -> None:
        if self._reinvite_cancelled:
            return
        self._reinvite_cancelled = self._cancel_wanted = True
        if self._provisional_seen:
            self._send_reinvite_cancel()

    def _send_reinvite_cancel(self) -> None:
        if not self._cancel_wanted:
            return
        self._send_cancel()
        # a CANCEL answered 200 may still see no 487 (9.1): give up after 64*T1
        self._start("reinvite_cancel", self.ctx.timers.timeout)

    def _do_on_reinvite_1xx(self, response: SIPResponse) -> None:
        self._provisional_seen = True
        self._send_reinvite_cancel()

    def _do_reinvite_abandoned(self, _: object) -> None:
        # the INVITE transaction lingers; a late 2xx still gets its ACK (on_response)
        self._retry = None
        self._cancel_wanted = False
        self._emit(ReinviteRejected(self.id, 487, "Request Terminated", ()))

    def _do_drop_glare_retry(self, _: object) -> None:
        if self._retry is None or "glare" not in self._timers:
            return  # nothing of ours pending: its outcome was reported already
        self._cancel("glare")
        self._retry = None
        self._emit(ReinviteRejected(self.id, 487, "Request Terminated", ()))

    def _schedule_glare(self) -> None:
        assert self.dialog is not None
        delay = glare_delay(self.dialog.is_uac, self.ctx.random_below)
        self._start("glare", delay)
        self._emit(ReinviteRetryScheduled(self.id, delay))

    def _do_glare_retry(self, _: object) -> None:
        assert self._retry is not None
        self._reinvite(*self._retry)

    def _do_glare_rearm(self, _: object) -> None:
        if self._retry is None:
            return
        if self._glare_tries >= MAX_GLARE_RETRIES:
            retry, self._retry = self._retry, None
            del retry
            self._emit(ReinviteRejected(self.id, 491, "Request Pending", ()))
            return
        self._glare_tries += 1
        self._schedule_glare()

    def _do_on_reinvite(self, arg: Any) -> None:
        key, request, reply_to = arg
        self.server_key, self.server_invite, self._reply_to = key, request, reply_to
        if request.body:
            self._emit(OfferReceived(self.id, request.body, request.headers))
        else:
            self._emit(OfferRequested(self.id, request.headers))

    def _do_accept_reinvite(self, arg: Any) -> None:
        body, headers, contact = arg
        assert self.dialog is not None and self.server_invite is not None
        self.dialog.refresh_target(self.server_invite)
        if contact is not None:
            self.dialog.refresh_local_target(contact)
        if self.server_invite.body:
            self.remote_body = self.server_invite.body
        self._send_2xx(body, headers)

    def _do_reject_reinvite(self, arg: Any) -> None:
        code, reason, headers = arg
        assert self.server_key is not None and self.server_invite is not None
        self._respond(self.server_key, self.server_invite, code, reason, headers)

    def _respond_487(self) -> None:
        assert self.server_key is not None and self.server_invite is not None
        self._respond(self.server_key, self.server_invite, 487)

    def _do_on_reinvite_cancel(self, _: object) -> None:
        self._respond_487()
        self._emit(ReinviteCancelled(self.id))

    def _do_end_pending_reinvite(self, _: object) -> None:
        self._respond_487()
        self._do_send_bye(None)

    def _pending_request(self, arg: Any) -> tuple[ServerKey, SIPRequest]:
        key, request = arg[0], arg[1]
        return key, request

    def _do_respond_491(self, arg: Any) -> None:
        self._respond(*self._pending_request(arg), 491)

    def _do_respond_487(self, arg: Any) -> None:
        self._respond(*self._pending_request(arg), 487)

    def _do_respond_500(self, arg: Any) -> None:
        key, request = self._pending_request(arg)
        retry = GenericHeader("Retry-After", str(self.ctx.random_below(11)))
        self._respond(key, request, 500, None, (retry,))
