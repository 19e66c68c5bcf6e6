"""The subscriber side of RFC 6665, for any event package, sans-IO.

A `Subscription` is created and driven by the `SubscriptionLayer`. It sends
the SUBSCRIBE, takes the dialog from the 2xx or from a NOTIFY that overtakes
it (4.1.2.4), answers NOTIFYs, refreshes and unsubscribes.

Decisions:

- Refresh after `refresh_delay` of the Expires granted in the 2xx, sooner
  when a NOTIFY's ``expires`` says less time is left.
- Timer N (64*T1, 4.1.2.4) runs from every SUBSCRIBE creating or ending the
  subscription until a NOTIFY arrives; expiry fails the subscription (408)
  or, when unsubscribing, just ends it.
- ``terminated`` NOTIFYs (4.1.3): ``deactivated`` and ``timeout`` start a
  new subscription at once; ``probation`` and ``giveup`` after
  ``retry-after`` (default `DEFAULT_RETRY`); ``rejected``, ``noresource``,
  ``invariant`` end it; another or no reason ends it unless ``retry-after``
  is given. At most `MAX_RETRIES` new subscriptions in a row without an
  active/pending NOTIFY, so a notifier cannot keep us looping.
- Forks: only the first dialog is kept; NOTIFYs of other dialogs (another
  From tag) get 481, which ends those subscriptions at their notifier.
- A failed refresh (any final non-2xx) ends the subscription
  (SubscriptionDidFail); 401/407 are retried with the `AuthSession` and 423
  with the Min-Expires, on the initial SUBSCRIBE and on refreshes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from sipsimple.core import URI
from sipsimple.core.headers import (
    CallIDHeader,
    ContactHeader,
    CSeqHeader,
    EventHeader,
    ExpiresHeader,
    FromHeader,
    GenericHeader,
    Header,
    MaxForwardsHeader,
    MinExpiresHeader,
    RouteHeader,
    SubscriptionStateHeader,
    ToHeader,
)
from sipsimple_services.signalling.sip.auth import AuthRetry, AuthSession, in_dialog
from sipsimple_services.signalling.sip.dialogs.dialog import (
    Dialog,
    DialogError,
    DialogId,
    route_request,
)
from sipsimple_services.signalling.sip.invite.machinery import PLACEHOLDER_VIA
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.registration.client import refresh_delay
from sipsimple_services.signalling.sip.subscription.events import (
    SubscriptionDidEnd,
    SubscriptionDidFail,
    SubscriptionDidStart,
    SubscriptionGotNotify,
    SubscriptionWillRetry,
)
from sipsimple_services.signalling.sip.transactions.keys import ServerKey
from sipsimple_services.signalling.sip.usage import Output, OutRequest, OutResponse, Timers

__all__ = ["DEFAULT_RETRY", "MAX_RETRIES", "Subscription", "SubscriptionError"]

DEFAULT_RETRY = 30.0
MAX_RETRIES = 3
RETRY_NOW = frozenset({"deactivated", "timeout"})
RETRY_LATER = frozenset({"probation", "giveup"})


class SubscriptionError(Exception):
    """An API call the subscription cannot take in its state."""


class State(StrEnum):
    IDLE = "idle"
    SENT = "sent"  # the SUBSCRIBE creating the subscription is out
    ACCEPTED = "accepted"
    REFRESHING = "refreshing"
    WAITING = "waiting"  # for a retry
    UNSUBSCRIBING = "unsubscribing"
    ENDED = "ended"


class Ev(StrEnum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    OK = "ok"
    FAIL = "fail"
    CHALLENGE = "challenge"
    TOO_BRIEF = "too_brief"
    NOTIFY = "notify"  # active or pending
    TERMINATED = "terminated"
    REFRESH = "refresh"
    RETRY = "retry"
    TIMER_N = "timer_n"


S, E = State, Ev
TABLE: dict[tuple[State, Ev], tuple[State, str]] = {
    (S.IDLE, E.SUBSCRIBE): (S.SENT, "send_initial"),
    (S.WAITING, E.RETRY): (S.SENT, "send_initial"),
    (S.SENT, E.OK): (S.ACCEPTED, "accepted"),
    (S.SENT, E.FAIL): (S.ENDED, "failed"),
    (S.SENT, E.TIMER_N): (S.ENDED, "no_notify"),
    (S.ACCEPTED, E.TIMER_N): (S.ENDED, "no_notify"),
    (S.REFRESHING, E.TIMER_N): (S.ENDED, "no_notify"),
    (S.ACCEPTED, E.REFRESH): (S.REFRESHING, "send_refresh"),
    (S.REFRESHING, E.OK): (S.ACCEPTED, "refreshed"),
    (S.REFRESHING, E.FAIL): (S.ENDED, "failed"),
    (S.ACCEPTED, E.UNSUBSCRIBE): (S.UNSUBSCRIBING, "send_unsubscribe"),
    (S.SENT, E.UNSUBSCRIBE): (S.SENT, "defer_unsubscribe"),
    (S.REFRESHING, E.UNSUBSCRIBE): (S.REFRESHING, "defer_unsubscribe"),
    (S.WAITING, E.UNSUBSCRIBE): (S.ENDED, "ended_local"),
    (S.IDLE, E.UNSUBSCRIBE): (S.ENDED, "ended_local"),
    (S.UNSUBSCRIBING, E.OK): (S.UNSUBSCRIBING, "nothing"),
    (S.UNSUBSCRIBING, E.FAIL): (S.ENDED, "ended_local"),
    (S.UNSUBSCRIBING, E.TIMER_N): (S.ENDED, "ended_local"),
    (S.UNSUBSCRIBING, E.NOTIFY): (S.UNSUBSCRIBING, "notified"),
    (S.UNSUBSCRIBING, E.TERMINATED): (S.ENDED, "ended_local"),
}
for _state in (S.SENT, S.ACCEPTED, S.REFRESHING):
    TABLE[(_state, E.NOTIFY)] = (_state, "notified")
    TABLE[(_state, E.TERMINATED)] = (S.ENDED, "terminated")
for _state in (S.SENT, S.REFRESHING, S.UNSUBSCRIBING):
    TABLE[(_state, E.CHALLENGE)] = (_state, "auth_retry")
    TABLE[(_state, E.TOO_BRIEF)] = (_state, "interval_retry")
API = frozenset({Ev.SUBSCRIBE, Ev.UNSUBSCRIBE})


class Subscription:
    def __init__(
        self, id: str, *, to: ToHeader, from_: FromHeader, contact: ContactHeader,
        event: EventHeader, new_call_id: Callable[[], str], new_tag: Callable[[], str],
        resolve: Callable[[URI], Destination], timer_n: float, expires: int = 3600,
        accept: Sequence[str] = (), body: bytes = b"", content_type: str | None = None,
        routes: Sequence[RouteHeader] = (), destination: Destination | None = None,
        request_uri: URI | None = None, auth: AuthSession | None = None,
        headers: Sequence[Header] = (),
    ) -> None:
        self.id = id
        self.to, self.from_, self.contact, self.event = to.with_tag(None), from_, contact, event
        self.expires = expires
        self.accept, self.body, self.content_type = tuple(accept), body, content_type
        self.routes, self.destination, self.request_uri = tuple(routes), destination, request_uri
        self.auth, self.headers = auth, tuple(headers)
        self._new_call_id, self._new_tag, self._resolve = new_call_id, new_tag, resolve
        self._timer_n = timer_n
        self.state = State.IDLE
        self.dialog: Dialog | None = None
        self.call_id = ""
        self.local_tag = ""
        self.cseq = 0
        self.retries = 0
        self._sending_expires = expires
        self._pending: SIPRequest | None = None  # the SUBSCRIBE out (for auth/423 retries)
        self._unsubscribe_wanted = False
        self._refresh_at: float | None = None
        self._now = 0.0
        self._timers = Timers("subscription", id)
        self._out: list[Output] = []

    @property
    def finished(self) -> bool:
        return self.state is State.ENDED

    @property
    def dialog_key(self) -> tuple[str, str]:
        return (self.call_id, self.local_tag)

    # -- inputs -------------------------------------------------------------------

    def subscribe(self, now: float) -> list[Output]:
        return self._run(Ev.SUBSCRIBE, None, now)

    def unsubscribe(self, now: float) -> list[Output]:
        return self._run(Ev.UNSUBSCRIBE, None, now)

    def on_response(self, response: SIPResponse, now: float) -> list[Output]:
        cseq = response.cseq
        if response.code < 200 or cseq is None or self._pending is None or (
            self._pending.cseq is not None and cseq.number != self._pending.cseq.number
        ):
            return []
        if response.code < 300:
            ev = Ev.OK
        elif response.code in (401, 407) and self.auth is not None:
            ev = Ev.CHALLENGE
        elif response.code == 423:
            ev = Ev.TOO_BRIEF
        else:
            ev = Ev.FAIL
        if self.auth is not None and ev is not Ev.CHALLENGE:
            self.auth.handle_response(response)
        return self._run(ev, response, now)

    def on_request(self, key: ServerKey, request: SIPRequest, now: float) -> list[Output]:
        """A request in our dialog (by Call-ID and our tag): NOTIFY, else 405/481."""
        if request.method != "NOTIFY":
            return self._answer(key, request, 405 if self.dialog is None else 501)
        event = request.header("Event")
        from_ = request.from_
        if not isinstance(event, EventHeader) or event.event != self.event.event or (
            event.id != self.event.id
        ) or from_ is None or from_.tag is None:
            return self._answer(key, request, 481)
        state = request.header("Subscription-State")
        if not isinstance(state, SubscriptionStateHeader):
            return self._answer(key, request, 400, "Missing Subscription-State")
        if self.dialog is None:
            self.dialog = self._dialog_from_notify(request)
            if self.dialog is None:
                return self._answer(key, request, 400, "Bad NOTIFY")
            self._out.append(SubscriptionDidStart(self.id, None))
        elif self.dialog.id.remote_tag != from_.tag:
            return self._answer(key, request, 481)  # another fork: not kept
        if not self.dialog.check_remote_cseq(request):
            return self._answer(key, request, 500, "CSeq Out Of Order")
        self.dialog.refresh_target(request)
        self._out.append(OutResponse(key, make_response(request, 200)))
        ctype = request.content_type
        self._out.append(SubscriptionGotNotify(
            self.id, state.state.lower(), state.reason, request.body,
            ctype.content_type if ctype is not None else None, request.headers))
        terminated = state.state.lower() == "terminated"
        return self._run(Ev.TERMINATED if terminated else Ev.NOTIFY, state, now)

    def timer_fired(self, name: str, now: float) -> list[Output]:
        if not self._timers.fired(name):
            return []
        return self._run(Ev(name), None, now)

    # -- the table ----------------------------------------------------------------

    def _run(self, ev: Ev, arg: object, now: float) -> list[Output]:
        self._now = now
        entry = TABLE.get((self.state, ev))
        if entry is None:
            if ev in API:
                raise SubscriptionError(f"{ev} is not possible in state {self.state}")
            return self._flush()
        new, action = entry
        override = getattr(self, f"_do_{action}")(arg)
        self.state = override if override is not None else new
        if self.state is State.ENDED:
            self._timers.cancel_all(self._out)
        return self._flush()

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    # -- actions ----------------------------------------------------------------------

    def _do_nothing(self, _: object) -> None:
        return None

    def _do_send_initial(self, _: object) -> None:
        self.dialog = None
        self.call_id, self.local_tag = self._new_call_id(), self._new_tag()
        self.cseq = 0
        self._send(self.expires)
        self._timers.start(self._out, "timer_n", self._timer_n)

    def _do_accepted(self, response: SIPResponse) -> State | None:
        granted = self._granted(response)
        if self.dialog is None:
            try:
                assert self._pending is not None
                self.dialog = Dialog.uac(self._pending, response)
            except DialogError:
                self._out.append(SubscriptionDidFail(self.id, 400, "2xx without Contact"))
                return State.ENDED
            self._out.append(SubscriptionDidStart(self.id, granted))
        self._pending = None
        if self._unsubscribe_wanted:
            self._do_send_unsubscribe(None)
            return State.UNSUBSCRIBING
        self._schedule_refresh(granted)
        return None

    def _do_refreshed(self, response: SIPResponse) -> State | None:
        self._pending = None
        if self._unsubscribe_wanted:
            self._do_send_unsubscribe(None)
            return State.UNSUBSCRIBING
        self._schedule_refresh(self._granted(response))
        return None

    def _do_failed(self, response: SIPResponse) -> None:
        self._out.append(SubscriptionDidFail(self.id, response.code, response.reason))

    def _do_no_notify(self, _: object) -> None:
        self._out.append(SubscriptionDidFail(self.id, 408, "No NOTIFY received"))

    def _do_send_refresh(self, _: object) -> None:
        self._send(self.expires)

    def _do_send_unsubscribe(self, _: object) -> None:
        self._timers.cancel(self._out, "refresh")
        self._send(0)
        self._timers.start(self._out, "timer_n", self._timer_n)

    def _do_defer_unsubscribe(self, _: object) -> None:
        self._unsubscribe_wanted = True

    def _do_ended_local(self, _: object) -> None:
        self._out.append(SubscriptionDidEnd(self.id, "local", None))

    def _do_notified(self, state: SubscriptionStateHeader) -> None:
        self._timers.cancel(self._out, "timer_n")
        self.retries = 0
        expires = state.expires
        if expires is None or self.state is not State.ACCEPTED:
            return  # before the 2xx, or with a refresh out: its 2xx schedules the next
        due = self._now + refresh_delay(expires)
        if self._refresh_at is None or due < self._refresh_at:
            self._refresh_at = due
            self._timers.start(self._out, "refresh", due - self._now)

    def _do_terminated(self, state: SubscriptionStateHeader) -> State:
        self._timers.cancel_all(self._out)
        self._pending = None
        reason = (state.reason or "").lower() or None
        retry_after = state.retry_after
        delay: float | None
        if reason in RETRY_NOW:
            delay = 0.0
        elif reason in RETRY_LATER:
            delay = float(retry_after) if retry_after is not None else DEFAULT_RETRY
        elif reason not in (None, "rejected", "noresource", "invariant") or (
            reason is None and retry_after is not None
        ):
            delay = float(retry_after) if retry_after is not None else None
        else:
            delay = None
        if delay is None or self._unsubscribe_wanted or self.retries >= MAX_RETRIES:
            self._out.append(SubscriptionDidEnd(self.id, "remote", reason))
            return State.ENDED
        self.retries += 1
        self._out.append(SubscriptionWillRetry(self.id, delay, reason))
        if delay == 0:
            self._do_send_initial(None)
            return State.SENT
        self.dialog = None
        self._timers.start(self._out, "retry", delay)
        return State.WAITING

    def _do_auth_retry(self, response: SIPResponse) -> State | None:
        assert self.auth is not None
        pending = self._pending
        dialog = pending is not None and in_dialog(pending)
        if isinstance(self.auth.handle_response(response, in_dialog=dialog), AuthRetry):
            self._send(self._sending_expires)
            return None
        return self._give_up(response)

    def _do_interval_retry(self, response: SIPResponse) -> State | None:
        minimum = response.header("Min-Expires")
        if isinstance(minimum, MinExpiresHeader) and minimum.value > self._sending_expires:
            self.expires = minimum.value
            self._send(self.expires)
            return None
        return self._give_up(response)

    def _give_up(self, response: SIPResponse) -> State:
        if self.state is State.UNSUBSCRIBING:
            self._do_ended_local(None)
        else:
            self._do_failed(response)
        return State.ENDED

    # -- helpers ---------------------------------------------------------------------

    def _granted(self, response: SIPResponse) -> int:
        header = response.header("Expires")
        return header.value if isinstance(header, ExpiresHeader) else self._sending_expires

    def _schedule_refresh(self, granted: int) -> None:
        if granted <= 0:
            return
        delay = refresh_delay(granted)
        self._refresh_at = self._now + delay
        self._timers.start(self._out, "refresh", delay)

    def _send(self, expires: int) -> None:
        self._sending_expires = expires
        headers: list[Header] = [self.event, *self._extra(expires)]
        if self.dialog is not None:
            request, next_hop = self.dialog.build_request(
                "SUBSCRIBE", PLACEHOLDER_VIA, headers, self.body if expires else b"")
            destination = self._resolve(next_hop)
            if destination == self.destination and destination.tls_name is None:
                destination = self.destination  # keeps the route's TLS name
        else:
            self.cseq += 1
            routed = route_request(self.request_uri or self.to.uri, self.routes)
            request = SIPRequest("SUBSCRIBE", routed.uri, (
                PLACEHOLDER_VIA, MaxForwardsHeader(70), *routed.routes,
                self.from_.with_tag(self.local_tag), self.to, CallIDHeader(self.call_id),
                CSeqHeader(self.cseq, "SUBSCRIBE"), self.contact, *headers), self.body)
            destination = self.destination or self._resolve(routed.next_hop)
        if self.auth is not None:
            credentials = self.auth.authorize("SUBSCRIBE", request.uri, request.body,
                                              in_dialog=self.dialog is not None)
            request = SIPRequest(request.method, request.uri,
                                 (*request.headers, *credentials), request.body)
        self._pending = request
        self._out.append(OutRequest(request, destination))

    def _extra(self, expires: int) -> list[Header]:
        extra: list[Header] = [ExpiresHeader(expires)]
        extra += [GenericHeader("Accept", value) for value in self.accept]
        if self.body and expires and self.content_type is not None:
            extra.append(GenericHeader("Content-Type", self.content_type))
        return [*extra, *self.headers]

    def _dialog_from_notify(self, notify: SIPRequest) -> Dialog | None:
        # 4.1.2.4: a NOTIFY may create the dialog; its Record-Route is taken
        # as a UAS takes a request's, and its Contact is the remote target.
        from_, contact = notify.from_, notify.contact
        if from_ is None or from_.tag is None or not contact or contact[0].uri is None:
            return None
        cseq = notify.cseq
        return Dialog(
            DialogId(self.call_id, self.local_tag, from_.tag),
            local=self.from_.with_tag(self.local_tag),
            remote=ToHeader(from_.uri, from_.display_name, from_.parameters),
            remote_target=contact[0].uri,
            route_set=[RouteHeader(r.uri, r.display_name, r.parameters)
                       for r in notify.record_route],
            local_cseq=self.cseq, remote_cseq=None if cseq is None else cseq.number - 1,
            local_contact=self.contact, is_uac=True,
        )

    def _answer(self, key: ServerKey, request: SIPRequest, code: int,
                reason: str | None = None) -> list[Output]:
        self._out.append(OutResponse(key, make_response(request, code, reason)))
        return self._flush()
