"""Which remote address a stream takes RTP from and sends to: strict symmetric RTP.

Sans-IO: the caller gives every packet's source, SSRC and sequence number
and the time. The rule (RFC 3550 8.2 and 8.3; the learning of Asterisk's
`strictrtp`), after RTP bleed showed what following any valid-looking
packet costs:

- `open(now, expected)` starts learning, at the answer and again after each
  new offer/answer; `expected` is the SDP address.
- A source is learned from `packets` consecutive packets from it (one
  address, one SSRC, sequence numbers each one more than the last). Any
  source may be learned within `window` seconds of `open`, the SDP address
  also later (a peer that starts sending late), nothing else after that.
- Once learned, the address is fixed: packets from anywhere else are foreign
  until the next `open`.
- While learning again after an offer/answer that kept the SDP address, the
  address learned before is still accepted (no gap in a NAT'd call).
- `pin(now, address)`: the address ICE selected is latched at once.

The latch sees only what the caller lets through: with SRTP, only packets
that authenticated.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from .stats import MIN_SEQUENTIAL

__all__ = [
    "LEARNING_PACKETS",
    "LEARNING_WINDOW",
    "MAX_CANDIDATES",
    "SourceLatch",
    "Verdict",
    "same_address",
]

Address = tuple[Any, ...]

# Seconds after the answer in which a source other than the SDP address may
# be learned: peers send within milliseconds of the answer, a late starter
# needs a few round trips; an injector gets only this long to race the peer.
LEARNING_WINDOW = 5.0
# RFC 3550's probation: the one packet it drops is the only audio lost. More
# buys nothing against a deliberate sender, who picks its sequence numbers.
LEARNING_PACKETS = MIN_SEQUENTIAL
MAX_CANDIDATES = 16  # sources followed at once while learning (the oldest go)


class Verdict(Enum):
    ACCEPT = "accept"  # from the latched (or previously latched) address
    LEARNED = "learned"  # this packet completed the run: its source is latched now
    LEARNING = "learning"  # counted towards its source's run, not accepted yet
    FOREIGN = "foreign"  # from a source that cannot be accepted or learned now


def same_address(a: Address | None, b: Address | None) -> bool:
    """Host and port equal (an IPv6 source's flow info and scope are ignored)."""
    return a is not None and b is not None and tuple(a[:2]) == tuple(b[:2])


@dataclass
class _Run:
    ssrc: int
    sequence: int
    count: int


class SourceLatch:
    def __init__(self, window: float = LEARNING_WINDOW, packets: int = LEARNING_PACKETS) -> None:
        if packets < 1:
            raise ValueError("packets must be at least 1")
        if window < 0:
            raise ValueError("window must not be negative")
        self.window = window
        self.packets = packets
        self.address: Address | None = None  # the latched source
        self.expected: Address | None = None  # the SDP address
        self.previous: Address | None = None  # latched before the last open, still accepted
        self._window_end: float | None = None
        self._runs: dict[Address, _Run] = {}

    def open(self, now: float, expected: Address | None, keep_previous: bool = False) -> None:
        """A new offer/answer: learn again from `now`. `keep_previous` accepts the
        address latched so far until another is learned (the SDP address is unchanged)."""
        if keep_previous:
            self.previous = self.address or self.previous
        else:
            self.previous = None
        self.address = None
        self.expected = None if expected is None else tuple(expected[:2])
        self._window_end = now + self.window
        self._runs.clear()

    def pin(self, now: float, address: Address) -> None:
        """Latch `address` at once: ICE proved it with an authenticated check (RFC 8445),
        so no run of packets is needed, and nothing else is learnt until the next open."""
        self.address = self.expected = tuple(address[:2])
        self.previous = None
        self._window_end = now
        self._runs.clear()

    @property
    def opened(self) -> bool:
        return self._window_end is not None

    @property
    def learned(self) -> bool:
        return self.address is not None

    def window_open(self, now: float) -> bool:
        return self.address is None and self._window_end is not None and now < self._window_end

    def check(self, source: Address, ssrc: int, sequence: int, now: float) -> Verdict:
        """The verdict on one packet that passed every other check."""
        key = tuple(source[:2])
        if self.address is not None:
            return Verdict.ACCEPT if key == self.address else Verdict.FOREIGN
        if not self.window_open(now) and key != self.expected and key != self.previous:
            return Verdict.FOREIGN
        run = self._runs.get(key)
        if run is not None and run.ssrc == ssrc and sequence == (run.sequence + 1) % 65536:
            run.sequence, run.count = sequence, run.count + 1
        else:
            run = _Run(ssrc, sequence, 1)
            self._runs.pop(key, None)
            self._runs[key] = run
            if len(self._runs) > MAX_CANDIDATES:
                del self._runs[next(iter(self._runs))]
        if run.count >= self.packets:
            self.address, self.previous = key, None
            self._runs.clear()
            return Verdict.LEARNED
        return Verdict.ACCEPT if key == self.previous else Verdict.LEARNING
