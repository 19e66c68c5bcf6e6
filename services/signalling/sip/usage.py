"""Plumbing shared by the registration and subscription layers, sans-IO.

Protocol objects (a `Registration`, a `Subscription`, a `Notifier`) say what
to do as outputs: `OutRequest` (start a client transaction), `OutResponse`
(answer a server transaction), `StartTimer`/`CancelTimer` under their own
key ``(kind, id)``, and events for the facade. An `OwnerLayer` carries the
outputs out through the shared `TransactionLayer` (every request gets our
Via for its destination and a fresh branch here, so objects build requests
with `PLACEHOLDER_VIA`), remembers which object owns which client
transaction, and routes the transaction layer's TU events back.

How the glue plugs a layer in: the `DialogLayer` passes on every TU event it
does not own; the glue offers each to `handle(event, now)`, which returns
None when the event is not the layer's, else the effects it caused. Timers
whose key starts with the layer's ``kind`` go to `timer_fired`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sipsimple.core.headers import ViaHeader
from sipsimple_services.signalling.sip.invite.context import reissue
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse, make_response
from sipsimple_services.signalling.sip.transactions import TransactionError
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelTimer,
    Effect,
    ResponseReceived,
    StartTimer,
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

__all__ = ["OutRequest", "OutResponse", "Output", "Owner", "OwnerLayer", "timer_key"]


@dataclass(frozen=True)
class OutRequest:
    request: SIPRequest
    destination: Destination


@dataclass(frozen=True)
class OutResponse:
    key: ServerKey
    response: SIPResponse


Output = OutRequest | OutResponse | StartTimer | CancelTimer | TUEvent


def timer_key(kind: str, owner: str) -> tuple[str, str]:
    """The key of an object's timers (no transaction key starts with a kind name)."""
    return (kind, owner)


class Owner(Protocol):
    id: str

    @property
    def finished(self) -> bool: ...

    def on_response(self, response: SIPResponse, now: float) -> list[Output]: ...

    def timer_fired(self, name: str, now: float) -> list[Output]: ...


OwnerT = TypeVar("OwnerT", bound=Owner)


class OwnerLayer(Generic[OwnerT]):
    kind = "owner"

    def __init__(
        self, transactions: TransactionLayer, *, local_via: Callable[[Destination], ViaHeader]
    ) -> None:
        self.transactions = transactions
        self.local_via = local_via
        self._owners: dict[str, OwnerT] = {}
        self._by_client: dict[ClientKey, str] = {}
        self._counter = 0

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self.kind}-{self._counter}"

    def owner(self, owner_id: str) -> OwnerT:
        return self._owners[owner_id]

    def owners(self) -> dict[str, OwnerT]:
        return dict(self._owners)

    # -- inputs from the glue ---------------------------------------------------

    def handle(self, event: Effect, now: float) -> list[Effect] | None:
        """An effect the DialogLayer passed on: None if it is not this layer's."""
        if isinstance(event, ResponseReceived | TransactionTimedOut | TransportFailed):
            oid = self._by_client.get(event.key)  # type: ignore[arg-type]
            if oid is None or oid not in self._owners:
                return None
            owner = self._owners[oid]
            return self._run(owner, owner.on_response(event.response, now), now)
        if isinstance(event, TransactionTerminated):
            return [] if self._by_client.pop(event.key, None) is not None else None  # type: ignore[arg-type]
        return None

    def timer_fired(self, key: tuple[str, str], name: str, now: float) -> list[Effect]:
        owner = self._owners.get(key[1])
        if owner is None:
            return []
        return self._run(owner, owner.timer_fired(name, now), now)

    # -- carrying out ------------------------------------------------------------

    def _run(self, owner: OwnerT, outputs: list[Output], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for output in outputs:
            if isinstance(output, OutRequest):
                effects += self._send(owner, output, now)
            elif isinstance(output, OutResponse):
                with suppress(TransactionError):  # the transaction timed out meanwhile
                    effects += self._absorb(
                        self.transactions.send_response(output.key, output.response, now), now)
            else:
                effects.append(output)
        if owner.finished:
            self._owners.pop(owner.id, None)
        return effects

    def _send(self, owner: OwnerT, output: OutRequest, now: float) -> list[Effect]:
        request = reissue(output.request, self.local_via(output.destination),
                          self.transactions.new_branch())
        key = client_key_for_request(request)
        try:
            sent = self.transactions.send_request(request, output.destination, now)
        except TransactionError:
            # too many transactions: fail the request as the network would
            return self._run(owner, owner.on_response(
                make_response(request, 503, to_tag=None), now), now)
        self._by_client[key] = owner.id
        return self._absorb(sent, now)

    def _absorb(self, effects: list[Effect], now: float) -> list[Effect]:
        """Effects of the transaction layer: our own TU events are handled at once."""
        out: list[Effect] = []
        for effect in effects:
            handled = self.handle(effect, now) if isinstance(effect, TUEvent) else None
            out += [effect] if handled is None else handled
        return out


class Timers:
    """The named timers of one object, keyed ``(kind, id)``: start/cancel outputs
    that keep the contract (never start a running timer, cancel only running ones)."""

    def __init__(self, kind: str, owner: str) -> None:
        self.key = timer_key(kind, owner)
        self.running: set[str] = set()

    def start(self, out: list[Output], name: str, delay: float) -> None:
        self.cancel(out, name)
        self.running.add(name)
        out.append(StartTimer(self.key, name, max(delay, 0.001)))

    def cancel(self, out: list[Output], name: str) -> None:
        if name in self.running:
            self.running.discard(name)
            out.append(CancelTimer(self.key, name))

    def cancel_all(self, out: list[Output]) -> None:
        for name in sorted(self.running):
            self.cancel(out, name)

    def fired(self, name: str) -> bool:
        """Whether ``name`` was running (a late firing of a cancelled timer is not)."""
        if name not in self.running:
            return False
        self.running.discard(name)
        return True
