"""The notifier side of RFC 6665, for any event package, sans-IO.

A `Notifier` is made by the `SubscriptionLayer` for a new SUBSCRIBE (the
facade gets `IncomingSubscription`) and answers it with `accept` or
`reject`. Accepting sends the 2xx (with Contact and the granted Expires)
and at once a NOTIFY with the current state (4.2.1.1); `notify` sends more;
`end` sends the final NOTIFY.

Decisions:

- One NOTIFY at a time: later ones wait for the final response of the
  previous, so they arrive in order. Each NOTIFY's Subscription-State
  carries the time left (``expires``) when it is sent.
- A refresh SUBSCRIBE gets 200 and a NOTIFY with the current state and the
  last body (4.2.2); Expires: 0 gets 200 and the final NOTIFY
  (``terminated;reason=timeout``), as does the expiry of the subscription.
- A NOTIFY answered with anything but 2xx (481, a timeout...) ends the
  subscription at once (4.2.2), with no further NOTIFY.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sipsimple.core import URI
from sipsimple.core.headers import (
    ContactHeader,
    ContentTypeHeader,
    EventHeader,
    ExpiresHeader,
    Header,
    SubscriptionStateHeader,
)
from sipsimple_services.signalling.sip.dialogs.dialog import Dialog, DialogError
from sipsimple_services.signalling.sip.invite.events import Originator
from sipsimple_services.signalling.sip.invite.machinery import PLACEHOLDER_VIA
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.subscription.events import (
    NotifyResponse,
    SubscriptionDidEnd,
    SubscriptionRefreshed,
)
from sipsimple_services.signalling.sip.subscription.subscriber import SubscriptionError
from sipsimple_services.signalling.sip.transactions.keys import ServerKey
from sipsimple_services.signalling.sip.usage import Output, OutRequest, OutResponse, Timers

__all__ = ["Notifier", "NotifierState"]


class NotifierState(StrEnum):
    INCOMING = "incoming"  # the facade has not decided
    ACTIVE = "active"  # accepted (Subscription-State active or pending)
    TERMINATING = "terminating"  # the final NOTIFY is queued or out
    ENDED = "ended"


@dataclass(frozen=True)
class _Notify:
    state: str
    reason: str | None
    body: bytes
    content_type: str | None


class Notifier:
    def __init__(
        self, id: str, *, request: SIPRequest, key: ServerKey, event: EventHeader,
        expires: int, local_tag: str, local_cseq: int, resolve: Callable[[URI], Destination],
    ) -> None:
        self.id = id
        self.request, self.key, self.event = request, key, event
        self.requested_expires = expires
        self.local_tag, self._local_cseq, self._resolve = local_tag, local_cseq, resolve
        self.state = NotifierState.INCOMING
        self.substate = "pending"
        self.dialog: Dialog | None = None
        self.expires_at = 0.0
        self.body = b""  # the last NOTIFY's body and type, for refreshes
        self.content_type: str | None = None
        self._queue: list[_Notify] = []
        self._in_flight: SIPRequest | None = None
        self._end: tuple[Originator, str | None] | None = None
        self._timers = Timers("subscription", id)
        self._out: list[Output] = []

    @property
    def finished(self) -> bool:
        return self.state is NotifierState.ENDED

    @property
    def dialog_key(self) -> tuple[str, str]:
        return (self.request.call_id or "", self.local_tag)

    # -- API ---------------------------------------------------------------------

    def accept(self, now: float, contact: ContactHeader, *, expires: int | None = None,
               state: str = "active", body: bytes = b"", content_type: str | None = None,
               headers: Sequence[Header] = ()) -> list[Output]:
        """200 (granting at most the requested time) and the first NOTIFY."""
        if self.state is not NotifierState.INCOMING:
            raise SubscriptionError(f"cannot accept in state {self.state}")
        if state not in ("active", "pending"):
            raise SubscriptionError(f"invalid subscription state {state!r}")
        granted = self.requested_expires if expires is None else min(
            expires, self.requested_expires)
        try:
            self.dialog = Dialog.uas(self.request, self.local_tag, contact, self._local_cseq)
        except DialogError as exc:
            self._respond(self.key, self.request, 400, str(exc))
            self.state = NotifierState.ENDED
            return self._flush()
        self._respond(self.key, self.request, 200, headers=(
            contact, ExpiresHeader(granted), *headers))
        self.substate, self.body, self.content_type = state, body, content_type
        self.state = NotifierState.ACTIVE
        self.expires_at = now + granted
        if granted == 0:  # a fetch (4.4.3): one NOTIFY with the state, and done
            self._finish(now, "timeout", "local", body, content_type)
        else:
            self._timers.start(self._out, "expiry", granted)
            self._queue_notify(now, _Notify(state, None, body, content_type))
        return self._flush()

    def reject(self, now: float, code: int = 603, reason: str | None = None,
               headers: Sequence[Header] = ()) -> list[Output]:
        if self.state is not NotifierState.INCOMING or not 300 <= code <= 699:
            raise SubscriptionError(f"cannot reject with {code} in state {self.state}")
        self._respond(self.key, self.request, code, reason, headers)
        self.state = NotifierState.ENDED
        return self._flush()

    def notify(self, now: float, body: bytes, content_type: str | None,
               state: str | None = None) -> list[Output]:
        if self.state is not NotifierState.ACTIVE:
            raise SubscriptionError(f"cannot notify in state {self.state}")
        if state is not None:
            if state not in ("active", "pending"):
                raise SubscriptionError("use end() to terminate the subscription")
            self.substate = state
        self.body, self.content_type = body, content_type
        self._queue_notify(now, _Notify(self.substate, None, body, content_type))
        return self._flush()

    def end(self, now: float, reason: str = "noresource", body: bytes = b"",
            content_type: str | None = None) -> list[Output]:
        """The final NOTIFY: ``terminated;reason=<reason>``."""
        if self.state is NotifierState.INCOMING:
            return self.reject(now, 480)
        if self.state is not NotifierState.ACTIVE:
            raise SubscriptionError(f"cannot end in state {self.state}")
        self._finish(now, reason, "local", body, content_type)
        return self._flush()

    # -- network and timers --------------------------------------------------------

    def on_request(self, key: ServerKey, request: SIPRequest, now: float) -> list[Output]:
        """A request in our dialog: a refresh or an unsubscribe."""
        dialog = self.dialog
        if request.method != "SUBSCRIBE" or dialog is None:
            self._respond(key, request, 481 if dialog is None else 501)
            return self._flush()
        if not dialog.check_remote_cseq(request):
            self._respond(key, request, 500, "CSeq Out Of Order")
            return self._flush()
        event = request.header("Event")
        if not isinstance(event, EventHeader) or (event.event, event.id) != (
                self.event.event, self.event.id):
            self._respond(key, request, 489)
            return self._flush()
        if self.state is not NotifierState.ACTIVE:
            self._respond(key, request, 481)
            return self._flush()
        header = request.header("Expires")
        expires = min(header.value, self.requested_expires) if isinstance(
            header, ExpiresHeader) else self.requested_expires
        dialog.refresh_target(request)
        self._respond(key, request, 200, headers=(dialog.local_contact, ExpiresHeader(expires)))
        self._out.append(SubscriptionRefreshed(self.id, expires))
        if expires == 0:
            self._finish(now, "timeout", "remote", self.body, self.content_type)
        else:
            self.expires_at = now + expires
            self._timers.start(self._out, "expiry", expires)
            self._queue_notify(now, _Notify(self.substate, None, self.body, self.content_type))
        return self._flush()

    def on_response(self, response: SIPResponse, now: float) -> list[Output]:
        sent = self._in_flight
        if response.code < 200 or sent is None:
            return []
        self._in_flight = None
        self._out.append(NotifyResponse(self.id, response.code, response.reason))
        if response.code >= 300:
            self._queue.clear()
            if self._end is None:
                self._end = ("remote", f"NOTIFY {response.code}")
            self._ended()
        elif self._queue:
            self._send(now, self._queue.pop(0))
        elif self.state is NotifierState.TERMINATING:
            self._ended()
        return self._flush()

    def timer_fired(self, name: str, now: float) -> list[Output]:
        if not self._timers.fired(name) or self.state is not NotifierState.ACTIVE:
            return []
        self._finish(now, "timeout", "local", self.body, self.content_type)
        return self._flush()

    # -- helpers ---------------------------------------------------------------------

    def _finish(self, now: float, reason: str, originator: Originator, body: bytes,
                content_type: str | None) -> None:
        self._timers.cancel_all(self._out)
        self.state = NotifierState.TERMINATING
        self._end = (originator, reason)
        self._queue_notify(now, _Notify("terminated", reason, body, content_type))

    def _ended(self) -> None:
        self._timers.cancel_all(self._out)
        self.state = NotifierState.ENDED
        originator, reason = self._end or ("local", None)
        self._out.append(SubscriptionDidEnd(self.id, originator, reason))

    def _queue_notify(self, now: float, notify: _Notify) -> None:
        if self._in_flight is None:
            self._send(now, notify)
        else:
            self._queue.append(notify)

    def _send(self, now: float, notify: _Notify) -> None:
        assert self.dialog is not None
        params: dict[str, str] = {}
        if notify.state == "terminated":
            if notify.reason:
                params["reason"] = notify.reason
        else:
            params["expires"] = str(max(int(self.expires_at - now + 0.5), 0))
        headers: list[Header] = [self.event, SubscriptionStateHeader(notify.state, params)]
        if notify.body and notify.content_type:
            headers.append(ContentTypeHeader.parse(notify.content_type))
        request, next_hop = self.dialog.build_request("NOTIFY", PLACEHOLDER_VIA, headers,
                                                      notify.body)
        self._in_flight = request
        self._out.append(OutRequest(request, self._resolve(next_hop)))

    def _respond(self, key: ServerKey, request: SIPRequest, code: int, reason: str | None = None,
                 headers: Sequence[Header] = ()) -> None:
        tag = self.local_tag if request.to is not None and request.to.tag is None else None
        self._out.append(OutResponse(key, make_response(request, code, reason, tag, headers)))

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out
