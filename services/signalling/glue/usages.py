"""Registrations, subscriptions and transfers on the session glue's seam.

`OwnedLayers` holds the `RegistrationLayer`, the `SubscriptionLayer` and the
`ReferAgent` of the service and the bus client that owns each of their
objects. The `SessionGlue` offers it what its `DialogLayer` passes on
(`take`: subscriptions first, then registrations, as the in-memory fixtures
route), the in-dialog requests and responses of sessions (`take_in_dialog`:
the REFER agent's REFERs, NOTIFYs and REFER responses), and the timers of the
``"subscription"`` and ``"registration"`` kinds. Their events go to
``publish(event, client)``; ``on_owned``/``on_finished`` let the service
tie each object to its client, so a client that goes away gets its
registrations unregistered and its subscriptions ended (`release`).

Incoming REFERs are the agent's too: each becomes an `IncomingRefer` owned
by the session's client (``deliver`` with that client as ``claim_client``),
which answers it with accept/reject and reports the new call's progress.
Transfers end with their session: the glue calls `ending_session` before it
hangs up and `session_gone` when the session has terminated.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import suppress
from typing import Any

from sipsimple.core import SIPURI, URI
from sipsimple.core.headers import ContactHeader, ViaHeader
from sipsimple_services.signalling.sip.invite.events import InDialogRequest, InDialogResponse
from sipsimple_services.signalling.sip.invite.layer import DialogLayer
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.refer.agent import (
    IncomingRefer,
    ReferAgent,
    ReferError,
    TransferEvent,
)
from sipsimple_services.signalling.sip.registration.client import (
    RegistrationError,
    RegistrationEvent,
    RegistrationLayer,
)
from sipsimple_services.signalling.sip.subscription.events import (
    IncomingSubscription,
    SubscriptionEvent,
)
from sipsimple_services.signalling.sip.subscription.layer import (
    SubscriptionError,
    SubscriptionLayer,
)
from sipsimple_services.signalling.sip.transactions.effects import Effect, TUEvent
from sipsimple_services.signalling.sip.transactions.layer import TransactionLayer
from sipsimple_services.signalling.sip.usage import OwnerLayer

__all__ = ["LAYER_TIMERS", "OwnedEvent", "OwnedLayers"]

log = logging.getLogger("sipsimple_services.signalling.owned")

OwnedEvent = RegistrationEvent | SubscriptionEvent | TransferEvent
LAYER_TIMERS = (RegistrationLayer.kind, SubscriptionLayer.kind)
FORMER_OWNERS = 256


def _alive(layer: OwnerLayer[Any], oid: str) -> bool:
    try:
        layer.owner(oid)
    except KeyError:
        return False
    return True


class OwnedLayers:
    def __init__(
        self, transactions: TransactionLayer, *, local_via: Callable[[Destination], ViaHeader],
        resolve: Callable[[URI], Destination],
        on_owned: Callable[[str, str], None] = lambda client, oid: None,
        on_finished: Callable[[str, str], None] = lambda client, oid: None,
    ) -> None:
        self.registrations = RegistrationLayer(transactions, local_via=local_via)
        # the Contact is set per subscription (the transport it uses), never this one
        self.subscriptions = SubscriptionLayer(
            transactions, local_via=local_via, local_contact=ContactHeader(SIPURI("0.0.0.0")),
            resolve=resolve)
        self.refers: ReferAgent | None = None  # needs the DialogLayer, which needs us
        self.on_owned = on_owned
        self.on_finished = on_finished
        self.owners: dict[str, str] = {}  # registration/subscription/transfer id -> client
        # owners of objects just finished: the events after the one that found the
        # object gone (a terminated NOTIFY, then the end) still name their client
        self.former: OrderedDict[str, str] = OrderedDict()
        self.sources: dict[str, Destination] = {}  # incoming subscription -> where it came from

    def attach(self, dialogs: DialogLayer) -> None:
        self.refers = ReferAgent(dialogs)

    # -- routing --------------------------------------------------------------------

    def take(self, event: TUEvent, now: float) -> list[Effect] | None:
        """A TU event the DialogLayer passed on: None if no layer here owns it."""
        handled = self.subscriptions.handle(event, now)
        if handled is None:
            handled = self.registrations.handle(event, now)
        return handled

    def take_in_dialog(self, event: InDialogRequest | InDialogResponse,
                       now: float) -> list[Effect] | None:
        if self.refers is None:
            return None
        return self.refers.handle(event, now)

    def ending_session(self, sid: str, now: float) -> list[Effect]:
        """We are about to end session `sid`: its incoming transfers say goodbye."""
        return self.refers.ending_session(sid, now) if self.refers is not None else []

    def session_gone(self, sid: str) -> list[Effect]:
        """Session `sid` terminated: the `TransferEnded` of its transfers."""
        return self.refers.session_gone(sid) if self.refers is not None else []

    def timer_fired(self, key: Hashable, name: str, now: float) -> list[Effect]:
        assert isinstance(key, tuple)
        if key[0] == RegistrationLayer.kind:
            return self.registrations.timer_fired(key, name, now)
        return self.subscriptions.timer_fired(key, name, now)

    # -- ownership -------------------------------------------------------------------

    def adopt(self, oid: str, client: str) -> None:
        self.owners[oid] = client
        self.on_owned(client, oid)

    def deliver(self, event: OwnedEvent, claim_client: str | None,
                publish: Callable[[OwnedEvent, str | None], None], now: float) -> list[Effect]:
        """Publish one event with its owner; forget objects that have finished.
        Returns the effects of refusing a SUBSCRIBE or REFER nobody claimed
        (``claim_client``: the client of the account, or of the REFER's session)."""
        oid = self._id(event)
        if isinstance(event, IncomingSubscription):
            if claim_client is None:
                # nobody would answer it: the UA core only passes claimed SUBSCRIBEs
                with suppress(SubscriptionError):
                    return self.subscriptions.reject(oid, now, 480)
                return []
            self.sources[oid] = event.source
            self.adopt(oid, claim_client)
        elif isinstance(event, IncomingRefer):
            if claim_client is None:
                # a session nobody owns: nobody would answer the REFER
                assert self.refers is not None
                with suppress(ReferError, KeyError):
                    return self.refers.reject(oid, now, 480)
                return []
            # like the transfers we start: it ends with its session, not owned apart
            self.owners[oid] = claim_client
        client = self.owners.get(oid) or self.former.get(oid)
        try:
            publish(event, client)
        except Exception:
            log.exception("publishing %s failed", type(event).__name__)
        if not self._alive(event, oid):
            self.sources.pop(oid, None)
            owner = self.owners.pop(oid, None)
            if owner is not None:
                self.former[oid] = owner
                if len(self.former) > FORMER_OWNERS:
                    self.former.popitem(last=False)
                self.on_finished(owner, oid)
        return []

    def release(self, oid: str, now: float) -> list[Effect]:
        """The owner went away: unregister, unsubscribe, or end as the object needs."""
        with suppress(RegistrationError, SubscriptionError, ReferError, KeyError):
            if _alive(self.registrations, oid):
                return self.registrations.unregister(oid, now)
            if _alive(self.subscriptions, oid):
                party = self.subscriptions.owner(oid)
                if hasattr(party, "unsubscribe"):
                    return self.subscriptions.unsubscribe(oid, now)
                return self.subscriptions.end(oid, now, "noresource")
        return []

    def _id(self, event: OwnedEvent) -> str:
        if isinstance(event, RegistrationEvent):
            return event.registration
        if isinstance(event, SubscriptionEvent):
            return event.subscription
        return event.transfer

    def _alive(self, event: OwnedEvent, oid: str) -> bool:
        if isinstance(event, RegistrationEvent):
            return _alive(self.registrations, oid)
        if isinstance(event, SubscriptionEvent):
            return _alive(self.subscriptions, oid)
        if self.refers is None:
            return False
        try:
            return self.refers.transfer(oid).state != "ended"
        except ReferError:
            return False
