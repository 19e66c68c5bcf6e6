"""Builders and a fake clock for the transaction tests (imported by test modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sipsimple.core import SIPURI
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import (
    SIPMessage,
    SIPRequest,
    SIPResponse,
    make_response,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelTimer,
    Effect,
    Send,
    StartTimer,
    TransactionKey,
    TUEvent,
)

UDP = Destination("192.0.2.2", 5060, "UDP")
TCP = Destination("192.0.2.2", 5060, "TCP")
CLIENT_UDP = Destination("192.0.2.1", 5060, "UDP")
CLIENT_TCP = Destination("192.0.2.1", 40000, "TCP")


def request(
    method: str = "INVITE",
    branch: str | None = "z9hG4bK776asdhds",
    transport: str = "UDP",
    cseq: int = 1,
    routes: Iterable[str] = (),
    to_tag: str | None = None,
    via_host: str = "192.0.2.1",
    via_port: int | None = 5060,
    uri_host: str = "biloxi.example.com",
) -> SIPRequest:
    params = {"branch": branch} if branch is not None else {}
    to = h.ToHeader(SIPURI("biloxi.example.com", user="bob"), "Bob")
    headers: list[h.Header] = [
        h.ViaHeader(transport, via_host, via_port, params),
        h.MaxForwardsHeader(70),
        *(h.RouteHeader(SIPURI(route, parameters={"lr": None})) for route in routes),
        h.FromHeader(SIPURI("atlanta.example.com", user="alice"), "Alice", {"tag": "1928301774"}),
        to.with_tag(to_tag) if to_tag else to,
        h.CallIDHeader("a84b4c76e66710@pc33.atlanta.example.com"),
        h.CSeqHeader(cseq, method),
        h.ContactHeader(SIPURI("pc33.atlanta.example.com", user="alice")),
    ]
    body = b"v=0\r\n" if method == "INVITE" else b""
    return SIPRequest(method, SIPURI(uri_host, user="bob"), tuple(headers), body)


def response(req: SIPRequest, code: int, to_tag: str | None = "a6c85cf") -> SIPResponse:
    return make_response(req, code, to_tag=to_tag)


def ack_for(req: SIPRequest, resp: SIPResponse, branch: str | None = None) -> SIPRequest:
    """The ACK a peer sends for `resp` (same branch unless `branch` is given)."""
    headers: list[h.Header] = []
    for header in req.headers:
        if isinstance(header, h.ViaHeader):
            if branch is not None:
                header = header.with_parameters(branch=branch)
            headers.append(header)
        elif isinstance(header, h.ToHeader):
            assert resp.to is not None
            headers.append(resp.to)
        elif isinstance(header, h.CSeqHeader):
            headers.append(h.CSeqHeader(header.number, "ACK"))
        elif not isinstance(header, h.ContactHeader):
            headers.append(header)
    return SIPRequest("ACK", req.uri, tuple(headers))


def cancel_for(req: SIPRequest) -> SIPRequest:
    headers = [
        h.CSeqHeader(header.number, "CANCEL") if isinstance(header, h.CSeqHeader) else header
        for header in req.headers
        if not isinstance(header, h.ContactHeader)
    ]
    return SIPRequest("CANCEL", req.uri, tuple(headers))


def sent(effects: Iterable[Effect]) -> list[SIPMessage]:
    return [effect.message for effect in effects if isinstance(effect, Send)]


def tu(effects: Iterable[Effect]) -> list[TUEvent]:
    return [effect for effect in effects if isinstance(effect, TUEvent)]


def kinds(effects: Iterable[Effect]) -> list[str]:
    return [type(effect).__name__ for effect in effects]


def timers_started(effects: Iterable[Effect]) -> list[tuple[str, float]]:
    return [(e.name, e.delay) for e in effects if isinstance(e, StartTimer)]


def timers_cancelled(effects: Iterable[Effect]) -> list[str]:
    return [e.name for e in effects if isinstance(e, CancelTimer)]


Fire = Callable[[TransactionKey, str, float], list[Effect]]


@dataclass
class FakeClock:
    """Keeps the armed timers of a stream of effects and fires them as time passes.

    Checks the timer contract on the way: never start a running timer, never
    cancel one that does not run.
    """

    fire: Fire
    now: float = 0.0
    timers: dict[tuple[TransactionKey, str], float] = field(default_factory=dict)
    fired: list[tuple[float, str]] = field(default_factory=list)

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, StartTimer):
                slot = (effect.key, effect.name)
                assert slot not in self.timers, f"timer {effect.name} started twice"
                assert effect.delay > 0
                self.timers[slot] = self.now + effect.delay
            elif isinstance(effect, CancelTimer):
                slot = (effect.key, effect.name)
                assert slot in self.timers, f"timer {effect.name} cancelled but not running"
                del self.timers[slot]
        return effects

    def advance(self, seconds: float) -> list[Effect]:
        """Move time forward, firing due timers in deadline order; all their effects."""
        target = self.now + seconds
        out: list[Effect] = []
        while self.timers:
            slot, deadline = min(self.timers.items(), key=lambda item: item[1])
            if deadline > target:
                break
            del self.timers[slot]
            self.now = deadline
            self.fired.append((deadline, slot[1]))
            out += self.apply(self.fire(slot[0], slot[1], deadline))
        self.now = target
        return out

    def run_out(self, limit: float = 10_000.0) -> list[Effect]:
        """Fire timers until none is left (or `limit` seconds pass)."""
        out: list[Effect] = []
        start = self.now
        while self.timers and self.now - start < limit:
            deadline = min(self.timers.values())
            out += self.advance(deadline - self.now)
        return out


def clock_for(transaction: object) -> FakeClock:
    return FakeClock(lambda key, name, now: transaction.timer_fired(name, now))  # type: ignore[attr-defined]
