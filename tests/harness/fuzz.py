"""Seeded mutation of valid samples, for the fuzz tests of byte parsers.

`mutations(seed, samples, rounds, special)` yields mutated copies of the
samples (bit flips, truncations, insertions of syntax-significant sequences,
duplicated/dropped/swapped lines), a few mutations stacked on each, always the
same for a seed so that a failure reproduces.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["mutate", "mutations"]


def mutate(rng: random.Random, data: bytes, special: Sequence[bytes]) -> bytes:
    choice = rng.randrange(6)
    if choice == 0 and data:  # bit flip
        raw = bytearray(data)
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        return bytes(raw)
    if choice == 1:  # truncation
        return data[: rng.randrange(len(data) + 1)]
    if choice == 2:  # insertion of a significant sequence
        at = rng.randrange(len(data) + 1)
        return data[:at] + rng.choice(special) + data[at:]
    lines = data.split(b"\n")
    if choice == 3:  # duplicate a line
        lines.insert(rng.randrange(len(lines)), rng.choice(lines))
    elif choice == 4:  # drop a line
        del lines[rng.randrange(len(lines))]
    else:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return b"\n".join(lines)


def mutations(
    seed: int, samples: Sequence[bytes], rounds: int, special: Sequence[bytes]
) -> Iterator[bytes]:
    rng = random.Random(seed)
    for _ in range(rounds):
        data = rng.choice(samples)
        for _ in range(rng.randint(1, 4)):
            data = mutate(rng, data, special)
        yield data
