"""The adaptive jitter buffer: ordering, loss, lateness, wrap, adaptation, counters."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.rtp.jitter import EMPTY, Frame, JitterBuffer, Lost

FRAME = 160  # 20 ms at 8 kHz
PTIME = 0.02


def buffer(**kwargs: int) -> JitterBuffer[int]:
    return JitterBuffer(8000, FRAME, **kwargs)


def put(jb: JitterBuffer[int], index: int, arrival: float, start: int = 0) -> None:
    jb.put((start + index) % 65536, (1000 + index * FRAME) % (1 << 32), index, arrival)


def payloads(results: list[Frame[int] | Lost | object]) -> list[object]:
    return [r.payload if isinstance(r, Frame) else r for r in results]


def balanced(jb: JitterBuffer[int]) -> bool:
    c = jb.counters
    return c.received == c.played + c.late + c.duplicates + c.discarded + jb.depth


def test_prefetch_then_in_order() -> None:
    jb = buffer(min_depth=2, max_depth=2)
    put(jb, 0, 0.0)
    assert jb.get() is EMPTY  # one frame buffered, two wanted
    put(jb, 1, 0.02)
    first = jb.get()
    assert isinstance(first, Frame) and (first.payload, first.sequence, first.timestamp) == (
        0,
        0,
        1000,
    )
    put(jb, 2, 0.04)
    assert payloads([jb.get(), jb.get()]) == [1, 2]
    # Ran dry: an underrun, then it waits to refill.
    assert jb.get() is EMPTY and jb.counters.underruns == 1 and not jb.playing
    assert balanced(jb)


def test_gap_is_lost_and_reordering_is_fixed() -> None:
    jb = buffer(min_depth=3, max_depth=3)
    for index in (1, 0, 3, 4):
        put(jb, index, 0.0)
    assert payloads([jb.get() for _ in range(5)]) == [0, 1, Lost(2), 3, 4]
    assert jb.counters.lost == 1 and jb.counters.played == 4


def test_late_and_duplicate_packets_are_dropped_and_counted() -> None:
    jb = buffer(min_depth=1, max_depth=1)
    put(jb, 0, 0.0)
    put(jb, 2, 0.0)
    put(jb, 2, 0.0)
    assert jb.counters.duplicates == 1
    assert payloads([jb.get(), jb.get()]) == [0, Lost(1)]
    put(jb, 1, 0.05)  # after its turn
    put(jb, 0, 0.05)  # a duplicate of a played frame is late as well
    assert jb.counters.late == 2
    assert payloads([jb.get()]) == [2]
    assert balanced(jb)


def test_sequence_wrap() -> None:
    jb = buffer(min_depth=2, max_depth=4)
    for index in range(6):
        put(jb, index, index * PTIME, start=65533)
    results = [jb.get() for _ in range(6)]
    assert payloads(results) == [0, 1, 2, 3, 4, 5]
    assert [r.sequence for r in results if isinstance(r, Frame)] == [65533, 65534, 65535, 0, 1, 2]
    put(jb, 6, 0.2, start=65533)  # sequence 3: not mistaken for an old one
    assert payloads([jb.get()]) == [6]


def test_timestamp_wrap_does_not_look_like_jitter() -> None:
    jb = buffer(min_depth=1, max_depth=8)
    for index in range(20):
        jb.put(index, ((1 << 32) - 5 * FRAME + index * FRAME) % (1 << 32), index, index * PTIME)
    assert jb.target == 1


def simulate(
    jb: JitterBuffer[int], delays: list[float], first: int = 0, tick0: int = 0
) -> list[object]:
    """Packet first+k is sent at (first+k)*PTIME and arrives delays[k] later; one get per
    tick, after the arrivals up to that tick."""
    arrivals = sorted(((first + k) * PTIME + d, first + k) for k, d in enumerate(delays))
    results: list[object] = []
    tick = tick0
    while arrivals or (jb.depth and tick < tick0 + 10 * len(delays)):
        while arrivals and arrivals[0][0] <= tick * PTIME + 1e-9:
            put(jb, arrivals[0][1], arrivals.pop(0)[0])
        results.append(jb.get())
        tick += 1
    return results


def test_target_grows_with_jitter_and_shrinks_back() -> None:
    jb = buffer(min_depth=1, max_depth=8, history=50, shrink_after=25)
    # Every other packet 60 ms late: a spread of three frames, so four are needed.
    results = simulate(jb, [0.06 if k % 2 else 0.0 for k in range(300)])
    assert jb.target == 4
    assert jb.counters.underruns > 0  # how it found out
    # Once adapted, nothing is late or missing: only frames, in order.
    tail = results[-250:-10]
    first = tail[0]
    assert isinstance(first, Frame) and all(isinstance(r, Frame) for r in tail)
    assert payloads(tail) == list(range(first.payload, first.payload + len(tail)))
    late_before = jb.counters.late
    # The network turns steady: the target falls and surplus frames are discarded.
    steady = simulate(jb, [0.0] * 300, first=300, tick0=len(results))
    assert jb.target == 1
    assert jb.counters.discarded > 0 and jb.counters.late == late_before
    assert not any(isinstance(r, Lost) for r in steady)
    assert balanced(jb)


def test_a_sender_restart_far_ahead_is_not_played_as_losses() -> None:
    jb = buffer(min_depth=1, max_depth=3)
    for index in range(3):
        put(jb, index, index * PTIME)
    assert payloads([jb.get()]) == [0]
    for index in range(5000, 5003):
        put(jb, index, 0.1)
    assert payloads([jb.get() for _ in range(3)]) == [5000, 5001, 5002]
    assert jb.counters.discarded == 2 and jb.counters.lost == 0
    assert balanced(jb)


def test_reset_discards() -> None:
    jb = buffer()
    put(jb, 0, 0.0)
    put(jb, 1, 0.0)
    jb.reset()
    assert jb.depth == 0 and jb.counters.discarded == 2 and jb.get() is EMPTY
    put(jb, 0, 1.0)  # the old sequence numbers mean nothing now
    assert payloads([jb.get()]) == [0]


@settings(max_examples=200)
@given(
    depth=st.integers(1, 6),
    start=st.integers(0, 65535),
    count=st.integers(6, 120),  # at least a full buffer: a live stream goes on
    seed=st.integers(0, 2**32 - 1),
)
def test_bounded_reordering_plays_everything_in_order(
    depth: int, start: int, count: int, seed: int
) -> None:
    """Packet i arrives in slot i + d with d < depth, in any order within a slot;
    with a fixed depth, playout (one get per slot) yields every frame in order."""
    rng = random.Random(seed)
    jb = buffer(min_depth=depth, max_depth=depth, shrink_after=10**9)
    arrivals: dict[int, list[int]] = {}
    for index in range(count):
        arrivals.setdefault(index + rng.randrange(depth), []).append(index)
    played: list[object] = []
    for slot in range(count + 3 * depth):
        batch = arrivals.get(slot, [])
        rng.shuffle(batch)
        for index in batch:
            put(jb, index, slot * PTIME, start)
        result = jb.get()
        if result is not EMPTY:
            played.append(result)
    assert payloads(played) == list(range(count))
    assert balanced(jb) and jb.counters.late == 0


operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.integers(0, 65535),
            st.integers(0, 2**32 - 1),
            st.floats(0, 100, allow_nan=False),
        ),
        st.tuples(st.just("get"), st.just(0), st.just(0), st.just(0.0)),
        st.tuples(st.just("near"), st.integers(-40, 40), st.integers(-3, 3), st.just(0.0)),
    ),
    max_size=300,
)


@given(operations, st.integers(1, 4), st.integers(0, 8))
def test_counters_add_up_and_frames_never_go_backwards(
    ops: list[tuple[str, int, int, float]], min_depth: int, extra: int
) -> None:
    """Arbitrary puts (random and near the stream) and gets: nothing raises, every put
    is accounted for, each payload plays at most once, sequence numbers only advance."""
    jb: JitterBuffer[int] = buffer(min_depth=min_depth, max_depth=min_depth + extra)
    last_seq = 0
    played: list[int] = []
    sequence = None
    previous: int | None = None
    for number, (kind, a, b, arrival) in enumerate(ops):
        if kind == "put":
            jb.put(a, b, number, arrival)
            last_seq = a
        elif kind == "near":
            jb.put((last_seq + a) % 65536, (last_seq + a) * FRAME % (1 << 32), number, b + 50.0)
        else:
            result = jb.get()
            if isinstance(result, Frame | Lost):
                sequence = result.sequence
                if previous is not None:
                    assert 0 < (sequence - previous) % 65536 < 32768
                previous = sequence
            if isinstance(result, Frame):
                played.append(result.payload)
        assert balanced(jb)
        assert jb.min_depth <= jb.target <= jb.max_depth
        assert jb.depth <= jb.capacity
    assert len(played) == len(set(played))


@given(
    st.lists(st.floats(0, 0.5, allow_nan=False), min_size=1, max_size=200),
    st.integers(1, 30),
)
def test_target_is_the_transit_spread_over_the_history(delays: list[float], history: int) -> None:
    jb = buffer(min_depth=1, max_depth=30, history=history)
    transits: list[float] = []
    for index, delay in enumerate(delays):
        put(jb, index, index * PTIME + delay)
        transits.append(index * PTIME + delay - (1000 + index * FRAME) / 8000)
        window = transits[-history:]
        frames = math.ceil((max(window) - min(window)) / PTIME - 1e-6) + 1
        assert jb.target == max(1, min(30, frames))


@given(st.data(), st.integers(1, 8), st.integers(0, 65535))
def test_any_permutation_within_the_window_plays_in_order(
    data: st.DataObject, max_depth: int, start: int
) -> None:
    jb = buffer(min_depth=1, max_depth=max_depth)
    count = data.draw(st.integers(1, jb.capacity))
    order = data.draw(st.permutations(range(count)))
    for index in order:
        put(jb, index, 0.0, start)
    results = [jb.get() for _ in range(count)]
    assert payloads(results) == list(range(count))
    assert jb.get() is EMPTY and balanced(jb)
