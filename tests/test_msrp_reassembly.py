"""The receiver: ranges, out of order, duplicates, * totals, aborts, limits (RFC 4975 7.3)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import ByteRange
from sipsimple_services.msrp.protocol.reassembly import (
    Aborted,
    Completed,
    Progress,
    Ranges,
    Reassembler,
)


def deliver(reassembler: Reassembler, mid: str, start: int, data: bytes, total: int | None,
            flag: str = "+", end_known: bool = True) -> object:
    end = start + len(data) - 1 if end_known else None
    reassembler.start(mid, ByteRange(start, end, total))
    if data:
        reassembler.data(mid, data)
    return reassembler.end(mid, flag)


def test_ranges_merge() -> None:
    ranges = Ranges()
    ranges.add(10, 20)
    ranges.add(0, 5)
    ranges.add(5, 10)
    assert list(ranges) == [(0, 20)]
    ranges.add(30, 40)
    ranges.add(15, 35)
    assert list(ranges) == [(0, 40)] and ranges.size == 40
    assert ranges.covers(3, 39) and not ranges.covers(3, 41)


def test_in_order_chunks_with_star_total() -> None:
    reassembler = Reassembler()
    assert deliver(reassembler, "m1234567", 1, b"abcd", None, end_known=False) == Progress(
        "m1234567", 4, None)
    done = deliver(reassembler, "m1234567", 5, b"EFGH", None, "$")
    assert done == Completed("m1234567", 8, b"abcdEFGH")
    assert "m1234567" not in reassembler


def test_out_of_order_and_duplicates() -> None:
    reassembler = Reassembler()
    assert isinstance(deliver(reassembler, "m1234567", 5, b"EFGH", 8, "$"), Progress)
    assert isinstance(deliver(reassembler, "m1234567", 5, b"EFGH", 8, "$"), Progress)
    done = deliver(reassembler, "m1234567", 1, b"abcd", 8)
    assert done == Completed("m1234567", 8, b"abcdEFGH")


def test_hash_aborts() -> None:
    reassembler = Reassembler()
    deliver(reassembler, "m1234567", 1, b"abcd", 100)
    assert deliver(reassembler, "m1234567", 5, b"", 100, "#") == Aborted("m1234567")
    assert "m1234567" not in reassembler


def test_limits_and_contradictions() -> None:
    reassembler = Reassembler(max_bytes=10)
    with pytest.raises(MSRPParseError) as info:
        reassembler.start("m1234567", ByteRange(1, None, 11))
    assert info.value.status == 413
    reassembler.start("m2345678", ByteRange(1, None, None))
    with pytest.raises(MSRPParseError) as info:
        reassembler.data("m2345678", b"x" * 11)
    assert info.value.status == 413
    deliver(reassembler, "m3456789", 1, b"ab", 5)
    with pytest.raises(MSRPParseError):
        reassembler.start("m3456789", ByteRange(3, None, 6))  # total changed
    reassembler.start("m4567890", ByteRange(4, None, 5))
    with pytest.raises(MSRPParseError):
        reassembler.data("m4567890", b"xyz")  # past the total
    assert deliver(reassembler, "m5678901", 1, b"ab", 5, "$") == Aborted("m5678901", 400)


def test_streamed_messages_are_not_kept() -> None:
    reassembler = Reassembler(max_bytes=10)
    reassembler.start("file0001", ByteRange(1, None, 100), buffered=False)
    assert reassembler.data("file0001", b"x" * 60) == 0
    assert reassembler.end("file0001", "+") == Progress("file0001", 60, 100)
    reassembler.start("file0001", ByteRange(61, 100, 100), buffered=False)
    assert reassembler.data("file0001", b"y" * 40) == 60
    assert reassembler.end("file0001", "$") == Completed("file0001", 100, None)


def test_missing_byte_range_is_the_whole_message() -> None:
    reassembler = Reassembler()
    reassembler.start("m1234567", None)
    reassembler.data("m1234567", b"hi")
    assert reassembler.end("m1234567", "$") == Completed("m1234567", 2, b"hi")


@given(st.binary(min_size=1, max_size=200), st.integers(1, 50), st.randoms(),
       st.booleans())
def test_any_order_with_duplicates_completes_once(data: bytes, size: int, rng: random.Random,
                                                  star: bool) -> None:
    pieces = [(start, data[start : start + size]) for start in range(0, len(data), size)]
    order = pieces + rng.sample(pieces, k=min(2, len(pieces)))
    rng.shuffle(order)
    reassembler = Reassembler()
    outcomes = []
    for start, piece in order:
        last = start + len(piece) == len(data)
        total = None if star and not last else len(data)
        outcomes.append(deliver(reassembler, "m1234567", start + 1, piece, total,
                                "$" if last else "+"))
        if isinstance(outcomes[-1], Completed):
            break
    assert outcomes[-1] == Completed("m1234567", len(data), data)
    assert not any(isinstance(o, Completed | Aborted) for o in outcomes[:-1])


def test_late_duplicate_of_a_finished_message_is_ignored() -> None:
    reassembler = Reassembler()
    assert isinstance(deliver(reassembler, "m1234567", 1, b"ab", 2, "$"), Completed)
    assert reassembler.start("m1234567", ByteRange(1, 2, 2)) is None
    deliver(reassembler, "m2345678", 1, b"a", 9)
    deliver(reassembler, "m2345678", 2, b"", 9, "#")
    assert reassembler.start("m2345678", ByteRange(3, 4, 9)) is None


def test_chunk_interrupted_before_its_declared_end() -> None:
    # RFC 4975 7.1.1: a sender may end a chunk early with "+"; what arrived counts.
    reassembler = Reassembler()
    reassembler.start("m1234567", ByteRange(1, 10, 10))
    reassembler.data("m1234567", b"abc")
    assert reassembler.end("m1234567", "+") == Progress("m1234567", 3, 10)
    assert deliver(reassembler, "m1234567", 4, b"defghij", 10, "$") == Completed(
        "m1234567", 10, b"abcdefghij")


def test_budget_shared_by_the_messages_in_progress() -> None:
    reassembler = Reassembler(max_bytes=10, max_messages=2)
    deliver(reassembler, "m1111111", 1, b"a" * 6, None)
    reassembler.start("m2222222", ByteRange(1, None, None))
    with pytest.raises(MSRPParseError) as info:
        reassembler.data("m2222222", b"b" * 5)  # 6 + 5 > 10
    assert info.value.status == 413
    deliver(reassembler, "m3333333", 1, b"c" * 4, None)  # 6 + 4 fits
    with pytest.raises(MSRPParseError) as info:
        reassembler.start("m4444444", None)  # a third message in progress
    assert info.value.status == 413
    # a finished message gives its bytes back
    assert deliver(reassembler, "m1111111", 7, b"", 6, "$") == Completed(
        "m1111111", 6, b"a" * 6)
    assert isinstance(deliver(reassembler, "m5555555", 1, b"d" * 6, None), Progress)


def test_a_streamed_message_may_start_with_bytes_already_here() -> None:
    reassembler = Reassembler()
    assert reassembler.start("m", ByteRange(41, 100, 100), buffered=False, have=40) == 40
    reassembler.data("m", b"y" * 60)
    outcome = reassembler.end("m", "$")
    assert outcome == Completed("m", 100, None)
    # a kept message ignores it: its bytes must all come
    assert reassembler.start("k", ByteRange(41, 100, 100), have=40) == 40
    reassembler.data("k", b"y" * 60)
    assert isinstance(reassembler.end("k", "$"), Progress)


def test_overlapping_chunks_must_agree() -> None:
    ranges = Ranges()
    ranges.add(0, 4)
    ranges.add(10, 20)
    assert ranges.overlapping(2, 12) == [(2, 4), (10, 12)]
    assert ranges.overlapping(4, 10) == [] and ranges.overlapping(0, 30) == [(0, 4), (10, 20)]
    reassembler = Reassembler()
    deliver(reassembler, "m1234567", 1, b"abcdef", 10)
    # a resent piece with the same bytes is harmless, and completes the message
    assert deliver(reassembler, "m1234567", 4, b"defghij", 10, "$") == Completed(
        "m1234567", 10, b"abcdefghij")
    deliver(reassembler, "m2345678", 1, b"abcdef", 10)
    with pytest.raises(MSRPParseError) as info:  # the same bytes, said otherwise
        deliver(reassembler, "m2345678", 4, b"DEFghij", 10, "$")
    assert info.value.status == 400 and "m2345678" not in reassembler
