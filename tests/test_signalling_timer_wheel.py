"""TimerWheel: real gevent timers keyed by (transaction key, timer name)."""

from __future__ import annotations

import time
from collections.abc import Hashable

import gevent

from sipsimple_services.signalling.glue.timer_wheel import TimerWheel, later


def make() -> tuple[TimerWheel, list[tuple[Hashable, str]]]:
    fired: list[tuple[Hashable, str]] = []
    return TimerWheel(lambda key, name: fired.append((key, name))), fired


def test_fires_in_order_once() -> None:
    wheel, fired = make()
    wheel.start(("k", 1), "B", 0.05)
    wheel.start(("k", 1), "A", 0.01)
    assert wheel.running(("k", 1), "A") and len(wheel) == 2
    gevent.sleep(0.1)
    assert fired == [(("k", 1), "A"), (("k", 1), "B")]
    assert len(wheel) == 0


def test_cancel_and_restart() -> None:
    wheel, fired = make()
    wheel.start("k", "E", 0.02)
    wheel.cancel("k", "E")
    wheel.cancel("k", "missing")  # harmless
    wheel.start("k", "F", 0.02)
    wheel.start("k", "F", 0.06)  # a restart replaces the running timer
    gevent.sleep(0.04)
    assert fired == []
    gevent.sleep(0.05)
    assert fired == [("k", "F")]


def test_cancel_all_and_failing_callback() -> None:
    wheel = TimerWheel(lambda key, name: 1 / 0)
    wheel.start("k", "A", 0)
    gevent.sleep(0.01)  # the exception is logged, the wheel goes on
    assert len(wheel) == 0
    wheel.start("k", "B", 0.01)
    wheel.start("j", "B", 0.01)
    wheel.cancel_all()
    gevent.sleep(0.03)
    assert len(wheel) == 0


def test_a_timer_may_rearm_itself() -> None:
    fired: list[str] = []

    def again(key: Hashable, name: str) -> None:
        fired.append(name)
        if len(fired) < 3:
            wheel.start(key, name, 0.005)

    wheel = TimerWheel(again)
    wheel.start("k", "G", 0.005)
    gevent.sleep(0.05)
    assert fired == ["G", "G", "G"] and len(wheel) == 0


def test_a_timer_armed_after_the_hub_was_blocked_counts_from_now() -> None:
    wheel, fired = make()
    gevent.sleep(0.01)  # the hub's turn reads the clock...
    time.sleep(0.5)  # ...which is then 0.5 s old
    wheel.start("k", "F", 0.3)
    gevent.get_hub().loop.update_now()
    # due 0.1 s from now: before F if F counts from now, after it if from the old clock
    gevent.sleep(0.1)
    assert fired == []
    gevent.sleep(0.3)
    assert fired == [("k", "F")]


def test_later_counts_from_now() -> None:
    ran: list[str] = []
    gevent.sleep(0.01)
    time.sleep(0.5)
    later(0.3, ran.append, "x")
    gevent.get_hub().loop.update_now()
    gevent.sleep(0.1)
    assert ran == []
    gevent.sleep(0.3)
    assert ran == ["x"]
