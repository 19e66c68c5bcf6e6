"""The re-INVITE retry timer after a 491 (RFC 3261 section 14.1).

The UA that generated the dialog's Call-ID (the UAC of the initial INVITE)
waits 2.1 to 4 s, the other 0 to 2 s, both in units of 10 ms: the two sides
then never retry at once. Randomness comes from the caller (``below(n)``
returns an integer in ``0..n-1``), so tests choose the outcome.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeAlias

__all__ = ["RandomBelow", "glare_delay", "urandom_below"]

RandomBelow: TypeAlias = Callable[[int], int]


def urandom_below(n: int) -> int:
    """An integer in ``0..n-1`` from os.urandom (the default source)."""
    if n <= 0:
        raise ValueError("n must be positive")
    # 8 bytes: the modulo bias over such small n is negligible
    return int.from_bytes(os.urandom(8), "big") % n


def glare_delay(owns_call_id: bool, below: RandomBelow = urandom_below) -> float:
    """Seconds to wait before sending a re-INVITE that got 491 again."""
    # owner: 2.10 .. 4.00 s, the other side: 0.00 .. 2.00 s
    ticks = 210 + below(191) if owns_call_id else below(201)
    if ticks < 0 or ticks > 400:
        raise ValueError("the random source left its range")
    # a zero wait is one tick, so that a retry is always a timer (never re-entrant)
    return max(ticks, 1) / 100
