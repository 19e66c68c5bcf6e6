"""Two stacks with the SUBSCRIBE layer wired in the way the glue wires it.

`GluedStack` is a `sip_dialog_fixtures.Stack` whose ``layer`` routes as
the service glue does: the DialogLayer's ``foreign_dialog`` hook is the
SubscriptionLayer's `owns`, TU events the DialogLayer passes on are offered
to the SubscriptionLayer and then the ReferAgent, and timers go by their
key's kind.
"""

from __future__ import annotations

from typing import Any

from sip_dialog_fixtures import ALICE, BOB, Network, Stack

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.invite.layer import DialogLayer
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.refer.agent import ReferAgent
from sipsimple_services.signalling.sip.subscription.layer import SubscriptionLayer
from sipsimple_services.signalling.sip.transactions.effects import Effect, TUEvent


class Glue:
    def __init__(self, dialogs: DialogLayer, subscriptions: SubscriptionLayer,
                 refers: ReferAgent) -> None:
        self.dialogs = dialogs
        self.subscriptions = subscriptions
        self.refers = refers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dialogs, name)

    def route(self, effects: list[Effect], now: float) -> list[Effect]:
        out: list[Effect] = []
        for effect in effects:
            handled = None
            if isinstance(effect, TUEvent):
                handled = self.subscriptions.handle(effect, now)
                if handled is None:
                    handled = self.refers.handle(effect, now)
            out += [effect] if handled is None else handled
        return out

    def receive(self, message: Any, source: Destination, now: float) -> list[Effect]:
        return self.route(self.dialogs.receive(message, source, now), now)

    def timer_fired(self, key: Any, name: str, now: float) -> list[Effect]:
        if key[0] == "subscription":
            return self.subscriptions.timer_fired(key, name, now)
        return self.route(self.dialogs.timer_fired(key, name, now), now)


class GluedStack(Stack):
    def __init__(self, name: str, address: Destination, network: Network, **kw: Any) -> None:
        super().__init__(name, address, network, **kw)
        via = lambda d: h.ViaHeader(d.transport, address.host, address.port)  # noqa: E731
        contact = h.ContactHeader(SIPURI(address.host, user=name, port=address.port))
        self.subs = SubscriptionLayer(self.tl, local_via=via, local_contact=contact,
                                      allowed_events=("presence", "dialog", "refer"),
                                      min_expires=60)
        self.dialogs = DialogLayer(self.tl, local_via=via, local_contact=contact,
                                   foreign_dialog=self.subs.owns)
        self.refers = ReferAgent(self.dialogs)
        self.layer = Glue(self.dialogs, self.subs, self.refers)  # type: ignore[assignment]


def glued_pair() -> tuple[Network, GluedStack, GluedStack]:
    net = Network()
    alice = net.add(GluedStack("alice", ALICE, net, prefix=1))
    bob = net.add(GluedStack("bob", BOB, net, prefix=2))
    return net, alice, bob  # type: ignore[return-value]
