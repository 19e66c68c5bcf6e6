"""DTMF as RFC 4733 telephone events: the payload, a sender plan, a receiver.

An event is one RTP timestamp (the start of the tone) carried by several
packets: the first with the marker bit, updates with the duration so far every
packetization interval, and the final duration three times with the E bit.
The receiver reports each event once, as soon as any of its packets arrives,
so a lost start packet or a burst of end retransmissions changes nothing.
"""

from __future__ import annotations

import math
import struct
from collections import deque
from dataclasses import dataclass

__all__ = [
    "DIGITS",
    "DTMFDigit",
    "DTMFPacket",
    "DTMFParseError",
    "DTMFReceiver",
    "DTMFSender",
    "TelephoneEvent",
    "digit_to_event",
    "event_to_digit",
]

# Events 0-15 in RFC 4733 table 3 order.
DIGITS = "0123456789*#ABCD"

END_RETRANSMISSIONS = 3


class DTMFParseError(ValueError):
    """The bytes are not a telephone-event payload."""


def digit_to_event(digit: str) -> int:
    index = DIGITS.find(digit) if len(digit) == 1 else -1
    if index < 0:
        raise ValueError(f"not a DTMF digit: {digit!r} (use 0-9, *, #, A-D)")
    return index


def event_to_digit(event: int) -> str:
    if not 0 <= event < len(DIGITS):
        raise ValueError(f"event {event} is not a DTMF digit")
    return DIGITS[event]


@dataclass(frozen=True)
class TelephoneEvent:
    event: int
    end: bool = False
    volume: int = 10  # power level in -dBm0, 0-63
    duration: int = 0  # in timestamp units since the event's timestamp

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError(f"event out of range: {self.event}")
        if not 0 <= self.volume <= 63:
            raise ValueError(f"volume out of range: {self.volume}")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError(f"duration out of range: {self.duration}")

    def serialize(self) -> bytes:
        flags = (0x80 if self.end else 0) | self.volume
        return struct.pack("!BBH", self.event, flags, self.duration)

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        # One event per payload; several would need RFC 2198 redundancy framing.
        if len(data) != 4:
            raise DTMFParseError(f"a telephone-event payload is 4 octets, not {len(data)}")
        event, flags, duration = struct.unpack("!BBH", data)
        # The R bit (0x40) is reserved: ignored on receipt.
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True)
class DTMFPacket:
    """One packet of an event's plan: send it `offset` seconds after the start."""

    payload: bytes
    marker: bool
    end: bool
    offset: float
    timestamp: int = 0  # the event's RTP timestamp, filled in by the session


@dataclass(frozen=True)
class DTMFDigit:
    digit: str
    timestamp: int


class DTMFSender:
    """Plans the packets of one digit (RFC 4733 2.5.1)."""

    def __init__(self, clock_rate: int = 8000, interval: float = 0.05, volume: int = 10) -> None:
        if clock_rate <= 0 or interval <= 0:
            raise ValueError("clock rate and interval must be positive")
        self.clock_rate = clock_rate
        self.interval = interval
        self.volume = volume

    def packets(self, digit: str, duration: float) -> tuple[DTMFPacket, ...]:
        """The packets for `digit` lasting `duration` seconds, in sending order.

        The first carries the marker; each update gives the duration so far,
        every `interval`; the end is sent three times, one interval apart,
        so that a short burst of loss cannot swallow it.
        """
        event = digit_to_event(digit)
        total = round(duration * self.clock_rate)
        if not 0 < total <= 0xFFFF:
            raise ValueError(
                f"duration must be positive and at most {0xFFFF / self.clock_rate:.2f} s"
            )
        step = max(1, round(self.interval * self.clock_rate))
        updates = math.ceil(total / step)
        plan = [
            DTMFPacket(
                TelephoneEvent(event, False, self.volume, min((i + 1) * step, total)).serialize(),
                marker=i == 0,
                end=False,
                offset=i * self.interval,
            )
            for i in range(updates)
        ]
        end = TelephoneEvent(event, True, self.volume, total).serialize()
        plan.extend(
            DTMFPacket(end, marker=False, end=True, offset=(updates + i) * self.interval)
            for i in range(END_RETRANSMISSIONS)
        )
        return tuple(plan)


class DTMFReceiver:
    """Turns telephone-event packets into digits, each exactly once."""

    def __init__(self, memory: int = 32) -> None:
        # Recent (timestamp, event) pairs: retransmissions of an event already
        # reported, even after a newer one started, are recognised.
        self._seen: deque[tuple[int, int]] = deque(maxlen=memory)

    def receive(self, timestamp: int, payload: bytes) -> DTMFDigit | None:
        """A digit for the first packet of a new event; None for repeats and non-digits.

        Raises DTMFParseError for a payload that is not a telephone event.
        """
        event = TelephoneEvent.parse(payload)
        key = (timestamp, event.event)
        if key in self._seen:
            return None
        self._seen.append(key)
        if event.event >= len(DIGITS):
            return None  # flash, tones and other events are not DTMF digits
        return DTMFDigit(event_to_digit(event.event), timestamp)
