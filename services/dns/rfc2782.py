"""SRV target selection order (RFC 2782, "Usage rules")."""

from __future__ import annotations

import random
from collections.abc import Iterable
from itertools import groupby

from sipsimple_services.dns.records import SRV

__all__ = ["order_srv"]


def order_srv(records: Iterable[SRV], rng: random.Random) -> list[SRV]:
    """Records in the order to try: by priority, weighted-random within one.

    Within a priority, records of weight 0 go first in the candidate list so
    that they are picked only when the running sum lands on 0, which gives
    them the "very small chance" RFC 2782 asks for. A single record whose
    target is "." means the service is not offered; it yields nothing.
    """
    records = [r for r in records if r.target not in (".", "")]
    ordered: list[SRV] = []
    for _, group in groupby(sorted(records, key=lambda r: r.priority), key=lambda r: r.priority):
        remaining = sorted(group, key=lambda r: r.weight != 0)
        while remaining:
            total = sum(r.weight for r in remaining)
            pick = rng.randint(0, total)
            index, running = 0, remaining[0].weight
            while running < pick:  # ends in range: pick <= total
                index += 1
                running += remaining[index].weight
            ordered.append(remaining.pop(index))
    return ordered
