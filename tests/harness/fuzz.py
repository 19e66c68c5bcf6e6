"""Seeded mutation of valid samples, for the fuzz tests of byte parsers.

`mutations(seed, samples, rounds, special)` yields mutated copies of the
samples (bit flips, truncations, insertions of syntax-significant sequences,
duplicated/dropped/swapped lines), a few mutations stacked on each, always the
same for a seed so that a failure reproduces. `mutate_message` does the same
to one CRLF-framed protocol message (SIP, MSRP), with long runs of a token
among its edits, to reach the parsers' limits.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

__all__ = ["mutate", "mutate_message", "mutations"]


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


def mutate_message(
    rng: random.Random, data: bytes, special: Sequence[bytes], runs: Sequence[bytes],
    run_length: tuple[int, int],
) -> bytes:
    """One to four edits of a CRLF-framed message: a bit flip, a truncation, a
    `special` sequence inserted, a line duplicated or dropped, a run of one of
    `runs` repeated `run_length` times inserted, or a byte replaced."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            buf += rng.choice(special)
            continue
        choice = rng.randrange(7)
        pos = rng.randrange(len(buf))
        if choice == 0:
            buf[pos] ^= 1 << rng.randrange(8)
        elif choice == 1:
            del buf[rng.randrange(len(buf)) :]
        elif choice == 2:
            buf[pos:pos] = rng.choice(special)
        elif choice == 3:
            lines = bytes(buf).split(b"\r\n")
            index = rng.randrange(len(lines))
            lines.insert(index, lines[index])
            buf = bytearray(b"\r\n".join(lines))
        elif choice == 4:
            lines = bytes(buf).split(b"\r\n")
            del lines[rng.randrange(len(lines))]
            buf = bytearray(b"\r\n".join(lines))
        elif choice == 5:
            buf[pos:pos] = rng.choice(runs) * rng.randint(*run_length)
        else:
            buf[pos] = rng.randrange(256)
    return bytes(buf)
