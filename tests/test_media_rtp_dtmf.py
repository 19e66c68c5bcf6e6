"""RFC 4733 telephone events: payload, the sender's plan, the receiver's once-only digits."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.dtmf import (
    DIGITS,
    DTMFDigit,
    DTMFParseError,
    DTMFReceiver,
    DTMFSender,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
)


def test_digit_mapping() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert event_to_digit(11) == "#"
    for bad in ("", "E", "a", "12", " ", "\x00", "+"):
        with pytest.raises(ValueError):
            digit_to_event(bad)
    with pytest.raises(ValueError):
        event_to_digit(16)


def test_payload_by_hand() -> None:
    # Event 5, E bit, volume 10, duration 800: 05 8a 03 20
    assert TelephoneEvent(5, True, 10, 800).serialize() == bytes.fromhex("058a0320")
    # The reserved R bit is ignored.
    assert TelephoneEvent.parse(bytes.fromhex("05ca0320")) == TelephoneEvent(5, True, 10, 800)
    with pytest.raises(DTMFParseError):
        TelephoneEvent.parse(b"\x05\x8a\x03")
    with pytest.raises(DTMFParseError):
        TelephoneEvent.parse(bytes(8))
    with pytest.raises(ValueError):
        TelephoneEvent(1, volume=64)


def test_sender_plan() -> None:
    plan = DTMFSender(clock_rate=8000, interval=0.05).packets("#", 0.12)
    events = [TelephoneEvent.parse(p.payload) for p in plan]
    # 960 samples in steps of 400: updates at 400, 800, 960, then three ends.
    assert [e.duration for e in events] == [400, 800, 960, 960, 960, 960]
    assert [e.end for e in events] == [False, False, False, True, True, True]
    assert {e.event for e in events} == {11}
    assert [p.marker for p in plan] == [True] + [False] * 5
    assert [round(p.offset, 3) for p in plan] == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25]


def test_sender_rejects_bad_digits_and_durations() -> None:
    sender = DTMFSender()
    with pytest.raises(ValueError):
        sender.packets("x", 0.1)
    with pytest.raises(ValueError):
        sender.packets("1", 0)
    with pytest.raises(ValueError):
        sender.packets("1", 9.0)  # beyond 65535 samples at 8 kHz


def test_receiver_once_per_event() -> None:
    plan = DTMFSender().packets("7", 0.2)
    receiver = DTMFReceiver()
    digits = [receiver.receive(1000, p.payload) for p in plan]
    assert digits[0] == DTMFDigit("7", 1000)
    assert digits[1:] == [None] * (len(plan) - 1)
    # Lost start and updates: the first end packet still reports it once.
    other = DTMFReceiver()
    assert [other.receive(2000, p.payload) for p in plan if p.end] == [
        DTMFDigit("7", 2000),
        None,
        None,
    ]
    # The same digit again is a new event (a new timestamp).
    assert receiver.receive(3000, plan[0].payload) == DTMFDigit("7", 3000)
    # A late end retransmission of the first event after the second started.
    assert receiver.receive(1000, plan[-1].payload) is None


def test_receiver_ignores_non_digit_events() -> None:
    receiver = DTMFReceiver()
    assert receiver.receive(5, TelephoneEvent(16).serialize()) is None  # flash
    with pytest.raises(DTMFParseError):
        receiver.receive(5, b"")


events = st.builds(
    TelephoneEvent,
    event=st.integers(0, 255),
    end=st.booleans(),
    volume=st.integers(0, 63),
    duration=st.integers(0, 0xFFFF),
)


@given(events)
def test_round_trip(event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(event.serialize()) == event


@given(st.binary(max_size=12))
def test_arbitrary_payloads_raise_only_parse_errors(data: bytes) -> None:
    try:
        event = TelephoneEvent.parse(data)
    except DTMFParseError:
        assert len(data) != 4
        return
    assert event.serialize() == data[:1] + bytes((data[1] & 0xBF,)) + data[2:]


@given(
    st.lists(st.tuples(st.sampled_from(DIGITS), st.integers(1, 2000)), min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_any_order_and_loss_yields_each_digit_once(
    digits: list[tuple[str, int]], rng: random.Random
) -> None:
    """Shuffled, duplicated, partly lost packets: each event with a packet left is reported once."""
    sender = DTMFSender()
    packets = []
    for index, (digit, length) in enumerate(digits):
        timestamp = index * 100_000
        for packet in sender.packets(digit, length / 1000):
            packets.append((timestamp, packet.payload, digit))
    delivered = [p for p in packets if rng.random() < 0.7]
    delivered += rng.sample(delivered, len(delivered) // 3)  # duplicates
    rng.shuffle(delivered)
    receiver = DTMFReceiver()
    got = [d for t, payload, _ in delivered if (d := receiver.receive(t, payload)) is not None]
    expected = {(t, digit) for t, _, digit in delivered}
    assert sorted((d.timestamp, d.digit) for d in got) == sorted(expected)
