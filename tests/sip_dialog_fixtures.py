"""Two DialogLayer + TransactionLayer stacks joined by an in-memory network.

Messages travel as bytes and are parsed again (so serialization is part of
every test); the network can drop or duplicate them, and one `FakeClock`
drives the timers of both stacks (keys are wrapped with the stack's name).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sip_transaction_fixtures import FakeClock

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.invite.events import SessionEvent
from sipsimple_services.signalling.sip.invite.layer import DialogLayer
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelTimer,
    Effect,
    Send,
    StartTimer,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.layer import TransactionLayer

ALICE = Destination("192.0.2.10", 5060, "UDP")
BOB = Destination("192.0.2.20", 5060, "UDP")
PROXY = Destination("192.0.2.30", 5060, "UDP")


def counter_bytes(prefix: int) -> Callable[[int], bytes]:
    counter = itertools.count(prefix << 32)
    return lambda n: next(counter).to_bytes(n, "big")


class Stack:
    def __init__(
        self, name: str, address: Destination, network: Network, *,
        random_below: Callable[[int], int] = lambda n: 0, prefix: int = 1,
        user_agent: str | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.network = network
        self.tl = TransactionLayer(random_bytes=counter_bytes(prefix))
        self.layer = DialogLayer(
            self.tl,
            local_via=lambda d: h.ViaHeader(d.transport, address.host, address.port),
            local_contact=h.ContactHeader(SIPURI(address.host, user=name, port=address.port)),
            random_below=random_below,
            user_agent=user_agent,
        )
        self.events: list[TUEvent] = []
        self.received: list[SIPMessage] = []

    @property
    def uri(self) -> SIPURI:
        return SIPURI(self.address.host, user=self.name, port=self.address.port)

    def header(self, kind: type) -> h.Header:
        return kind(self.uri, self.name.title())

    def contact(self) -> h.ContactHeader:
        return h.ContactHeader(self.uri)

    def take(self, effects: list[Effect]) -> list[Effect]:
        """Hand effects to the network and the clock; keep the events."""
        return self.network.take(self, effects)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def session_events(self, sid: str) -> list[SessionEvent]:
        return [e for e in self.events if isinstance(e, SessionEvent) and e.session == sid]

    def states(self, sid: str) -> list[str]:
        from sipsimple_services.signalling.sip.invite.events import SessionStateChanged

        return [e.new for e in self.session_events(sid) if isinstance(e, SessionStateChanged)]


@dataclass
class Network:
    stacks: dict[tuple[str, int], Stack] = field(default_factory=dict)
    queue: list[tuple[Stack, SIPMessage, Destination]] = field(default_factory=list)
    log: list[tuple[str, SIPMessage]] = field(default_factory=list)
    drop: Callable[[SIPMessage], bool] = lambda message: False
    duplicate: Callable[[SIPMessage], bool] = lambda message: False
    clock: FakeClock = field(init=False)
    by_name: dict[str, Stack] = field(default_factory=dict)
    unroutable: list[SIPMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = FakeClock(self._fire)

    def add(self, stack: Stack) -> Stack:
        self.stacks[(stack.address.host, stack.address.port)] = stack
        self.by_name[stack.name] = stack
        return stack

    def _fire(self, key: object, name: str, now: float) -> list[Effect]:
        owner, inner = key  # type: ignore[misc]
        stack = self.by_name[owner]
        return self.take(stack, stack.layer.timer_fired(inner, name, now), apply=False)

    def take(self, stack: Stack, effects: list[Effect], apply: bool = True) -> list[Effect]:
        wrapped: list[Effect] = []
        for effect in effects:
            if isinstance(effect, StartTimer):
                wrapped.append(StartTimer((stack.name, effect.key), effect.name, effect.delay))  # type: ignore[arg-type]
            elif isinstance(effect, CancelTimer):
                wrapped.append(CancelTimer((stack.name, effect.key), effect.name))  # type: ignore[arg-type]
            elif isinstance(effect, Send):
                self.log.append((stack.name, effect.message))
                copies = 0 if self.drop(effect.message) else 2 if self.duplicate(
                    effect.message) else 1
                for _ in range(copies):
                    self.queue.append((stack, effect.message, effect.destination))
            elif isinstance(effect, TUEvent):
                stack.events.append(effect)
        if apply:
            self.clock.apply(wrapped)
        else:
            # the clock applies what its fire function returns itself
            return wrapped
        return effects

    def run(self, limit: int = 10_000) -> None:
        """Deliver queued messages until none is left."""
        for _ in range(limit):
            if not self.queue:
                return
            sender, message, destination = self.queue.pop(0)
            target = self.stacks.get((destination.host, destination.port))
            if target is None:
                self.unroutable.append(message)
                continue
            parsed = parse_message(bytes(message))
            assert isinstance(parsed, SIPRequest | SIPResponse)
            target.received.append(parsed)
            source = Destination(sender.address.host, sender.address.port, destination.transport)
            target.take(target.layer.receive(parsed, source, self.clock.now))
        raise AssertionError("the network did not settle")

    def advance(self, seconds: float) -> None:
        """Let time pass, delivering what the timers send as it happens."""
        end = self.clock.now + seconds
        while True:
            self.run()
            pending = [d for d in self.clock.timers.values() if d <= end]
            if not pending:
                break
            self.clock.advance(min(pending) - self.clock.now)
        self.clock.advance(end - self.clock.now)
        self.run()

    def sent_by(self, name: str, method_or_code: str | int) -> list[SIPMessage]:
        """What `name` sent: requests by method, responses by code."""
        return [
            message for sender, message in self.log
            if sender == name and method_or_code == (
                message.method if isinstance(message, SIPRequest) else message.code
            )
        ]


def pair(**kw: object) -> tuple[Network, Stack, Stack]:
    net = Network()
    alice = net.add(Stack("alice", ALICE, net, prefix=1, **kw))  # type: ignore[arg-type]
    bob = net.add(Stack("bob", BOB, net, prefix=2, **kw))  # type: ignore[arg-type]
    return net, alice, bob


def call(net: Network, alice: Stack, bob: Stack, body: bytes = b"offer",
         **kw: object) -> tuple[str, str]:
    """Alice calls Bob; returns (alice's session, bob's session) with Bob ringing."""
    from sipsimple_services.signalling.sip.invite.events import IncomingInvite

    sid, effects = alice.layer.connect(
        h.ToHeader(bob.uri, "Bob"), h.FromHeader(alice.uri, "Alice"), alice.contact(),
        net.clock.now, destination=bob.address, body=body, **kw,  # type: ignore[arg-type]
    )
    alice.take(effects)
    net.run()
    incoming = bob.of(IncomingInvite)
    assert incoming, "Bob got no INVITE"
    return sid, incoming[-1].session


def established(net: Network, alice: Stack, bob: Stack, body: bytes = b"offer",
                answer: bytes = b"answer", **kw: object) -> tuple[str, str]:
    a, b = call(net, alice, bob, body, **kw)
    bob.take(bob.layer.accept(b, net.clock.now, answer))
    net.run()
    return a, b
