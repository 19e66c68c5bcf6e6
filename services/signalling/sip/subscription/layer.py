"""Every SUBSCRIBE dialog of the service, both sides (RFC 6665), sans-IO.

How the glue routes to it:

- Build the `DialogLayer` with ``foreign_dialog=subscriptions.owns``: an
  in-dialog SUBSCRIBE or NOTIFY naming one of our subscriptions (by Call-ID
  and our tag) then passes the DialogLayer as a `RequestReceived` instead of
  getting 481. NOTIFYs of REFER subscriptions live in INVITE dialogs and
  stay with the DialogLayer (see `refer`).
- Offer every TU event the DialogLayer passes on to `handle(event, now)`:
  it takes new SUBSCRIBEs (no To tag), requests in our dialogs, and the
  responses and ends of our transactions; None means "not mine".
- Timers whose key starts with ``"subscription"`` go to `timer_fired`.
- Commands: `subscribe`/`unsubscribe` (subscriber), `accept`/`reject`/
  `notify`/`end` (notifier), each naming the subscription by its id.

New SUBSCRIBEs are checked here: no Event header is 400, a package outside
``allowed_events`` (when given) 489 with Allow-Events, an Expires below
``min_expires`` 423; the Expires is capped at ``max_expires``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sipsimple.core import URI
from sipsimple.core.headers import (
    AllowEventsHeader,
    ContactHeader,
    EventHeader,
    ExpiresHeader,
    FromHeader,
    Header,
    MinExpiresHeader,
    RouteHeader,
    ToHeader,
    ViaHeader,
)
from sipsimple_services.signalling.sip.auth import AuthSession
from sipsimple_services.signalling.sip.invite.context import default_resolve
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, make_response
from sipsimple_services.signalling.sip.subscription.events import IncomingSubscription
from sipsimple_services.signalling.sip.subscription.notifier import Notifier
from sipsimple_services.signalling.sip.subscription.subscriber import (
    Subscription,
    SubscriptionError,
)
from sipsimple_services.signalling.sip.transactions.effects import Effect, RequestReceived
from sipsimple_services.signalling.sip.transactions.layer import TransactionLayer
from sipsimple_services.signalling.sip.usage import Output, OwnerLayer

__all__ = ["SubscriptionError", "SubscriptionLayer"]

Party = Subscription | Notifier


class SubscriptionLayer(OwnerLayer[Party]):
    kind = "subscription"

    def __init__(
        self, transactions: TransactionLayer, *, local_via: Callable[[Destination], ViaHeader],
        local_contact: ContactHeader, resolve: Callable[[URI], Destination] = default_resolve,
        allowed_events: Collection[str] | None = None, default_expires: int = 3600,
        min_expires: int = 0, max_expires: int = 86400,
    ) -> None:
        super().__init__(transactions, local_via=local_via)
        self.local_contact = local_contact
        self.resolve = resolve
        self.allowed_events = None if allowed_events is None else frozenset(allowed_events)
        self.default_expires, self.min_expires = default_expires, min_expires
        self.max_expires = max_expires
        self._by_tag: dict[tuple[str, str], str] = {}  # (Call-ID, our tag) -> id
        self._key_of: dict[str, tuple[str, str]] = {}

    # -- routing ------------------------------------------------------------------

    def owns(self, request: SIPRequest) -> bool:
        """The DialogLayer's ``foreign_dialog`` hook."""
        to = request.to
        return (request.method in ("SUBSCRIBE", "NOTIFY") and to is not None
                and to.tag is not None and (request.call_id, to.tag) in self._by_tag)

    def handle(self, event: Effect, now: float) -> list[Effect] | None:
        if not isinstance(event, RequestReceived):
            return super().handle(event, now)
        request, to = event.request, event.request.to
        if to is not None and to.tag is not None:
            sid = self._by_tag.get((request.call_id or "", to.tag))
            if sid is None or sid not in self._owners:
                return None
            party = self._owners[sid]
            return self._run(party, party.on_request(event.key, request, now), now)
        if request.method != "SUBSCRIBE":
            return None
        return self._incoming(event, now)

    def _run(self, owner: Party, outputs: list[Output], now: float) -> list[Effect]:
        effects = super()._run(owner, outputs, now)
        # A Subscription changes dialogs when it re-subscribes: keep the index exact.
        old = self._key_of.pop(owner.id, None)
        if old is not None:
            self._by_tag.pop(old, None)
        if not owner.finished and owner.id in self._owners:
            self._by_tag[owner.dialog_key] = owner.id
            self._key_of[owner.id] = owner.dialog_key
        return effects

    # -- subscriber commands ---------------------------------------------------------

    def subscribe(
        self, to: ToHeader, from_: FromHeader, event: EventHeader, now: float, *,
        contact: ContactHeader | None = None, accept: Sequence[str] = (), expires: int = 3600,
        body: bytes = b"", content_type: str | None = None, routes: Sequence[RouteHeader] = (),
        destination: Destination | None = None, request_uri: URI | None = None,
        auth: AuthSession | None = None, headers: Sequence[Header] = (),
    ) -> tuple[str, list[Effect]]:
        sid = self._new_id()
        subscription = Subscription(
            sid, to=to, from_=from_, contact=contact or self.local_contact, event=event,
            new_call_id=lambda: self.transactions.new_branch()[7:],
            new_tag=self.transactions.new_tag, resolve=self.resolve,
            timer_n=64 * self.transactions.timers.t1, expires=expires, accept=accept,
            body=body, content_type=content_type, routes=routes, destination=destination,
            request_uri=request_uri, auth=auth, headers=headers,
        )
        self._owners[sid] = subscription
        return sid, self._run(subscription, subscription.subscribe(now), now)

    def unsubscribe(self, sid: str, now: float) -> list[Effect]:
        party = self._subscription(sid)
        return self._run(party, party.unsubscribe(now), now)

    # -- notifier commands ------------------------------------------------------------

    def accept(self, sid: str, now: float, *, contact: ContactHeader | None = None,
               expires: int | None = None, state: str = "active", body: bytes = b"",
               content_type: str | None = None, headers: Sequence[Header] = ()) -> list[Effect]:
        party = self._notifier(sid)
        return self._run(party, party.accept(
            now, contact or self.local_contact, expires=expires, state=state, body=body,
            content_type=content_type, headers=headers), now)

    def reject(self, sid: str, now: float, code: int = 603, reason: str | None = None,
               headers: Sequence[Header] = ()) -> list[Effect]:
        party = self._notifier(sid)
        return self._run(party, party.reject(now, code, reason, headers), now)

    def notify(self, sid: str, now: float, body: bytes, content_type: str | None,
               state: str | None = None) -> list[Effect]:
        party = self._notifier(sid)
        return self._run(party, party.notify(now, body, content_type, state), now)

    def end(self, sid: str, now: float, reason: str = "noresource", body: bytes = b"",
            content_type: str | None = None) -> list[Effect]:
        party = self._notifier(sid)
        return self._run(party, party.end(now, reason, body, content_type), now)

    # -- helpers ------------------------------------------------------------------------

    def _subscription(self, sid: str) -> Subscription:
        party = self._owners.get(sid)
        if not isinstance(party, Subscription):
            raise SubscriptionError(f"no subscription {sid!r}")
        return party

    def _notifier(self, sid: str) -> Notifier:
        party = self._owners.get(sid)
        if not isinstance(party, Notifier):
            raise SubscriptionError(f"no incoming subscription {sid!r}")
        return party

    def _incoming(self, event: RequestReceived, now: float) -> list[Effect]:
        request, key = event.request, event.key
        header = request.header("Event")
        if not isinstance(header, EventHeader):
            return self._refuse(event, now, 400, "Missing Event header")
        if self.allowed_events is not None and header.event not in self.allowed_events:
            allowed = AllowEventsHeader(tuple(sorted(self.allowed_events)))
            return self._refuse(event, now, 489, headers=(allowed,))
        expires_header = request.header("Expires")
        expires = expires_header.value if isinstance(
            expires_header, ExpiresHeader) else self.default_expires
        if 0 < expires < self.min_expires:
            return self._refuse(event, now, 423, headers=(MinExpiresHeader(self.min_expires),))
        expires = min(expires, self.max_expires)
        sid = self._new_id()
        notifier = Notifier(
            sid, request=request, key=key, event=header, expires=expires,
            local_tag=self.transactions.new_tag(), local_cseq=1, resolve=self.resolve)
        self._owners[sid] = notifier
        self._by_tag[notifier.dialog_key] = sid
        self._key_of[sid] = notifier.dialog_key
        return [IncomingSubscription(sid, header.event, request, event.source, expires)]

    def _refuse(self, event: RequestReceived, now: float, code: int, reason: str | None = None,
                headers: Sequence[Header] = ()) -> list[Effect]:
        response = make_response(event.request, code, reason, self.transactions.new_tag(),
                                 headers)
        return self._absorb(self.transactions.send_response(event.key, response, now), now)
