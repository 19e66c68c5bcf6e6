"""sipsimple.network.watch: when successive readings of the local address are a change."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.network.watch import AddressChanged, AddressWatch


def test_a_new_address_counts_once_it_stayed_for_the_settle_time() -> None:
    watch = AddressWatch("10.0.0.2", settle=5)
    assert watch.reading(0, "10.0.0.2") is None
    assert watch.reading(1, "10.0.0.3") is None
    assert watch.pending == "10.0.0.3"
    assert watch.reading(5.9, "10.0.0.3") is None
    assert watch.reading(6, "10.0.0.3") == AddressChanged("10.0.0.2", "10.0.0.3")
    assert watch.current == "10.0.0.3" and watch.pending is None
    assert watch.reading(7, "10.0.0.3") is None  # reported once


def test_steps_on_the_way_restart_the_wait_and_only_the_end_is_reported() -> None:
    watch = AddressWatch("10.0.0.2", settle=5)
    assert watch.reading(0, None) is None  # the old address gone, no route yet
    assert watch.reading(4, "10.0.0.3") is None  # the new one: its own 5 s from now
    assert watch.reading(8, "10.0.0.3") is None
    assert watch.reading(9, "10.0.0.3") == AddressChanged("10.0.0.2", "10.0.0.3")


def test_coming_back_before_it_settled_is_no_change() -> None:
    watch = AddressWatch("10.0.0.2", settle=5)
    assert watch.reading(0, "10.0.0.3") is None
    assert watch.reading(2, "10.0.0.2") is None
    assert watch.pending is None
    assert watch.reading(10, "10.0.0.2") is None


def test_losing_every_route_is_a_change_too() -> None:
    watch = AddressWatch("10.0.0.2", settle=0)
    assert watch.reading(0, None) == AddressChanged("10.0.0.2", None)
    assert watch.reading(1, "10.0.0.2") == AddressChanged(None, "10.0.0.2")


def test_negative_settle_is_refused() -> None:
    with pytest.raises(ValueError, match="settle"):
        AddressWatch(None, settle=-1)


@given(st.lists(st.tuples(st.floats(0, 3), st.sampled_from(["a", "b", "c", None])),
                max_size=40))
def test_a_change_is_a_new_value_read_without_interruption_for_the_settle_time(
        steps: list[tuple[float, str | None]]) -> None:
    watch = AddressWatch("a", settle=5)
    now, current = 0.0, "a"
    run: tuple[str | None, float] | None = None  # the value read last and since when
    for delay, address in steps:
        now += delay
        if run is None or run[0] != address:
            run = (address, now)
        expected = None
        if address != current and now - run[1] >= 5:
            expected = AddressChanged(current, address)
            current = address
        assert watch.reading(now, address) == expected
    assert watch.current == current
