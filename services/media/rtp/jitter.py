"""An adaptive playout (jitter) buffer for fixed-ptime audio frames.

`put` files a packet by its sequence number; `get`, called once per frame
interval by the playout clock, returns the next frame, `Lost` (a gap: the
caller conceals, e.g. runs its PLC) or `EMPTY` (nothing to play: before the
buffer has filled, or after it ran dry while it refills).

Depth adapts to the network: the target is the spread of the packets' transit
times (arrival minus media time) over the last `history` packets, in frames,
plus one, kept between `min_depth` and `max_depth`. Playout starts (and
restarts after running dry) once `target` frames are buffered, which is how
the depth grows; when more than `target + 1` frames stay buffered for
`shrink_after` consecutive intervals, one frame is discarded, which is how it
shrinks. Frames are ordered by sequence number (extended across wrap-around),
so a sender's silence gaps in the timestamps are not played as silence.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["EMPTY", "Empty", "Frame", "JitterBuffer", "JitterCounters", "Lost"]

T = TypeVar("T")


@dataclass(frozen=True)
class Frame(Generic[T]):
    payload: T
    sequence: int
    timestamp: int


@dataclass(frozen=True)
class Lost:
    """The frame with this sequence number is missing: conceal it."""

    sequence: int


@dataclass(frozen=True)
class Empty:
    """Nothing to play this interval."""


EMPTY = Empty()


@dataclass
class JitterCounters:
    received: int = 0  # every put
    played: int = 0  # frames returned by get
    lost: int = 0  # Lost markers returned by get
    late: int = 0  # arrived after their turn (or after a restart passed them): dropped
    duplicates: int = 0  # already buffered: dropped
    discarded: int = 0  # buffered, then thrown away (shrinking, overflow, reset)
    underruns: int = 0  # times the buffer ran dry while playing


class JitterBuffer(Generic[T]):
    def __init__(
        self,
        clock_rate: int,
        frame_samples: int,
        *,
        min_depth: int = 1,
        max_depth: int = 10,
        history: int = 100,
        shrink_after: int = 50,
    ) -> None:
        if clock_rate <= 0 or frame_samples <= 0:
            raise ValueError("clock rate and frame size must be positive")
        if not 1 <= min_depth <= max_depth:
            raise ValueError("need 1 <= min_depth <= max_depth")
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.min_depth = min_depth
        self.max_depth = max_depth
        # Sequence numbers further ahead of the playout point than this push
        # the oldest frames out: a burst after a stall, or a sender restart.
        self.capacity = 2 * max_depth + 8
        self.shrink_after = shrink_after
        self.counters = JitterCounters()
        self.target = min_depth
        self._frames: dict[int, tuple[int, T]] = {}
        self._highest: int | None = None  # extended sequence number
        self._next: int | None = None  # extended sequence number to play next
        self._playing = False
        if history < 1:
            raise ValueError("history must be at least 1")
        self.history = history
        # Sliding-window minimum and maximum of the transit times, as monotonic
        # deques of (packet number, transit): O(1) per packet instead of a scan.
        self._lows: deque[tuple[int, float]] = deque()
        self._highs: deque[tuple[int, float]] = deque()
        self._measured = 0
        self._last_timestamp: tuple[int, int] | None = None  # (raw, extended)
        self._excess_run = 0

    @property
    def depth(self) -> int:
        """Frames buffered now."""
        return len(self._frames)

    @property
    def playing(self) -> bool:
        return self._playing

    def reset(self) -> None:
        """Forget the stream (a new source): buffered frames count as discarded."""
        self.counters.discarded += len(self._frames)
        self._frames.clear()
        self._highest = self._next = None
        self._playing = False
        self._lows.clear()
        self._highs.clear()
        self._last_timestamp = None
        self._excess_run = 0
        self.target = self.min_depth

    def put(self, sequence: int, timestamp: int, payload: T, arrival: float) -> None:
        """File a packet; `arrival` in seconds on the caller's clock."""
        self.counters.received += 1
        ext = self._extend(sequence % 65536)
        self._measure(timestamp % (1 << 32), arrival)
        if self._next is not None and ext < self._next:
            self.counters.late += 1
            return
        if ext in self._frames:
            self.counters.duplicates += 1
            return
        self._frames[ext] = (timestamp, payload)
        if self._highest is None or ext > self._highest:
            self._highest = ext
        self._trim()

    def get(self) -> Frame[T] | Lost | Empty:
        """What to play for the next frame interval."""
        if not self._playing:
            if not self._frames or len(self._frames) < self.target:
                return EMPTY
            self._playing = True
            self._next = min(self._frames)
        if not self._frames:
            self._playing = False
            self.counters.underruns += 1
            return EMPTY
        assert self._next is not None
        self._shrink()
        frame = self._frames.pop(self._next, None)
        sequence = self._next
        self._next += 1
        if frame is None:
            self.counters.lost += 1
            return Lost(sequence % 65536)
        self.counters.played += 1
        return Frame(frame[1], sequence % 65536, frame[0])

    def _extend(self, sequence: int) -> int:
        """The extended sequence number nearest to the highest seen."""
        if self._highest is None:
            return sequence
        delta = (sequence - self._highest + 32768) % 65536 - 32768
        return self._highest + delta

    def _measure(self, timestamp: int, arrival: float) -> None:
        if self._last_timestamp is None:
            extended = timestamp
        else:
            raw, previous = self._last_timestamp
            extended = previous + (timestamp - raw + (1 << 31)) % (1 << 32) - (1 << 31)
        self._last_timestamp = (timestamp, extended)
        transit = arrival - extended / self.clock_rate
        number = self._measured
        self._measured += 1
        lows, highs = self._lows, self._highs
        while lows and lows[-1][1] >= transit:
            lows.pop()
        lows.append((number, transit))
        while highs and highs[-1][1] <= transit:
            highs.pop()
        highs.append((number, transit))
        oldest = number - self.history + 1
        if lows[0][0] < oldest:
            lows.popleft()
        if highs[0][0] < oldest:
            highs.popleft()
        spread = highs[0][1] - lows[0][1]
        frame_time = self.frame_samples / self.clock_rate
        # A small tolerance keeps float noise from adding a whole frame.
        frames = math.ceil(spread / frame_time - 1e-6) + 1
        self.target = max(self.min_depth, min(self.max_depth, frames))

    def _trim(self) -> None:
        assert self._highest is not None
        base = self._next if self._next is not None else min(self._frames)
        if self._highest - base < self.capacity:
            return
        cutoff = self._highest - self.capacity + 1
        for ext in [ext for ext in self._frames if ext < cutoff]:
            del self._frames[ext]
            self.counters.discarded += 1
        if self._next is not None:
            # Skip the empty stretch too: a restart must not play as a run of losses.
            self._next = min(self._frames)

    def _shrink(self) -> None:
        if len(self._frames) > self.target + 1:
            self._excess_run += 1
        else:
            self._excess_run = 0
        if self._excess_run < self.shrink_after:
            return
        self._excess_run = 0
        assert self._next is not None
        if self._frames.pop(self._next, None) is not None:
            self.counters.discarded += 1
        self._next += 1
