"""StreamBarrier: waiting for a group of streams' notifications."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from sipsimple.session.barrier import StreamBarrier, call_later

SUCCESS = "MediaStreamDidStart"


class Outcome:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], dict[Any, str]]] = []

    def __call__(self, succeeded: list[Any], failed: dict[Any, str]) -> None:
        self.calls.append((succeeded, failed))


def make(streams: list[Any], timeout: float = 60.0) -> tuple[StreamBarrier, Outcome,
                                                           queue.Queue[Callable[[], None]]]:
    tasks: queue.Queue[Callable[[], None]] = queue.Queue()
    outcome = Outcome()
    return StreamBarrier(streams, SUCCESS, outcome, tasks.put, timeout), outcome, tasks


def test_done_once_all_reported_in_stream_order() -> None:
    barrier, outcome, _ = make(["a", "b", "c"])
    barrier.start()
    assert barrier.report("c", SUCCESS)
    assert barrier.report("a", "MediaStreamDidFail", "broken")
    assert not outcome.calls
    assert barrier.report("b", SUCCESS)
    assert outcome.calls == [(["b", "c"], {"a": "broken"})]
    assert barrier.finished
    # later reports are not the barrier's any more
    assert not barrier.report("b", SUCCESS)
    assert len(outcome.calls) == 1


def test_ignores_other_streams_and_notifications() -> None:
    barrier, outcome, _ = make(["a"])
    barrier.start()
    assert not barrier.report("z", SUCCESS)
    assert not barrier.report("a", "MediaStreamDidInitialize")
    assert not outcome.calls
    barrier.fail("a", "raised")
    assert outcome.calls == [([], {"a": "raised"})]


def test_no_streams_is_done_at_start() -> None:
    barrier, outcome, _ = make([])
    barrier.start()
    assert outcome.calls == [([], {})]


def test_timeout_fails_the_silent_streams_through_submit() -> None:
    barrier, outcome, tasks = make(["a", "b"], timeout=0.01)
    barrier.start()
    barrier.report("a", SUCCESS)
    expire = tasks.get(timeout=5)  # the timer hands its work to the worker
    assert not outcome.calls
    expire()
    [(succeeded, failed)] = outcome.calls
    assert succeeded == ["a"] and list(failed) == ["b"] and "within" in failed["b"]


def test_cancel_means_never_done() -> None:
    barrier, outcome, _ = make(["a"])
    barrier.start()
    barrier.cancel()
    assert not barrier.report("a", SUCCESS)
    barrier._expire()  # a timer that fired just before the cancel: nothing happens
    assert not outcome.calls


def test_a_finished_barrier_never_expires_while_later_ones_still_do() -> None:
    # every barrier's timeout shares one thread, which fires them in deadline order
    finished, _, finished_tasks = make(["a"], timeout=0.01)
    finished.start()
    finished.report("a", SUCCESS)
    silent, outcome, silent_tasks = make(["b"], timeout=0.05)
    silent.start()
    silent_tasks.get(timeout=5)()  # the later deadline fired: the earlier one was passed
    assert finished_tasks.empty()
    assert outcome.calls == [([], {"b": "no MediaStreamDidStart within 0.05 s"})]


def test_call_later_runs_on_the_shared_thread_unless_cancelled() -> None:
    ran: queue.Queue[str] = queue.Queue()
    call_later(0.01, lambda: ran.put("cancelled")).cancel()
    call_later(0.02, lambda: ran.put(threading.current_thread().name))
    assert ran.get(timeout=5) == "sipsimple-deadlines"  # the earlier one was due first
    assert ran.empty()
