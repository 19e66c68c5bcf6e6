"""Waiting for a group of streams to report, without blocking a thread.

A Session calls `initialize()` or `start()` on several streams and must go on
once each has posted its success notification or `MediaStreamDidFail`. The
barrier counts those notifications (the Session feeds them in through
`report`) and calls `done(succeeded, failed)` once, when the last stream has
reported or when the timeout fires first (the silent streams count as failed).
Everything runs on the caller's worker: `report` and the timeout's callback
are expected on it, which is why the timer goes through `submit`.

The timeouts of all barriers share one thread (`call_later`): a
`threading.Timer` per barrier started a thread each time, and a thread start
waits for the new thread to run, which cost about 0.4 ms on a loaded machine,
four times per call set up between two of our accounts
(bench/session_setup.py).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Deadline", "StreamBarrier", "call_later"]

log = logging.getLogger(__name__)

Done = Callable[[list[Any], dict[Any, str]], None]


class Deadline:
    """A scheduled action; `cancel()` keeps it from running if it has not started."""

    __slots__ = ("action",)

    def __init__(self, action: Callable[[], None]) -> None:
        self.action: Callable[[], None] | None = action

    def cancel(self) -> None:
        self.action = None


class _Deadlines:
    """Calls actions after a delay, all from one daemon thread started on first use."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # (when, sequence, deadline); a cancelled deadline stays until it is due or on top
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, delay: float, action: Callable[[], None]) -> Deadline:
        deadline = Deadline(action)
        entry = (time.monotonic() + delay, next(self._order), deadline)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sipsimple-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:
                self._cond.notify()
        return deadline

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].action is None:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    left = self._heap[0][0] - time.monotonic()
                    if left <= 0:
                        action = heapq.heappop(self._heap)[2].action
                        break
                    self._cond.wait(left)
            try:
                if action is not None:
                    action()
            except Exception:  # one failing action must not stop the others
                log.exception("a deadline's action raised")


_deadlines = _Deadlines()


def call_later(delay: float, action: Callable[[], None]) -> Deadline:
    """Run `action` on the shared deadline thread after `delay` seconds (keep it short:
    hand the work to a worker)."""
    return _deadlines.schedule(delay, action)


class StreamBarrier:
    def __init__(
        self,
        streams: Iterable[Any],
        success: str,
        done: Done,
        submit: Callable[[Callable[[], None]], None],
        timeout: float,
    ) -> None:
        self.streams = list(streams)
        self.success = success
        self._waiting = set(self.streams)
        self._failed: dict[Any, str] = {}
        self._done: Done | None = done
        self._submit = submit
        self._deadline: Deadline | None = None
        self._timeout = timeout

    def start(self) -> None:
        if not self._waiting:
            self._finish()
        else:
            self._deadline = call_later(self._timeout, lambda: self._submit(self._expire))

    @property
    def finished(self) -> bool:
        return self._done is None

    def report(self, stream: Any, name: str, reason: str | None = None) -> bool:
        """Feed a stream's notification; True if the barrier was waiting for it."""
        if self._done is None or stream not in self._waiting:
            return False
        if name == self.success:
            self._waiting.discard(stream)
        elif name == "MediaStreamDidFail":
            self._waiting.discard(stream)
            self._failed[stream] = reason or "failed"
        else:
            return False
        if not self._waiting:
            self._finish()
        return True

    def fail(self, stream: Any, reason: str) -> None:
        """A stream raised instead of posting: count it as failed now."""
        self.report(stream, "MediaStreamDidFail", reason)

    def cancel(self) -> None:
        self._cancel_deadline()
        self._done = None

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        if self._done is None:
            return
        for stream in self._waiting:
            self._failed[stream] = f"no {self.success} within {self._timeout:g} s"
        self._waiting.clear()
        self._finish()

    def _finish(self) -> None:
        self._cancel_deadline()
        done, self._done = self._done, None
        if done is not None:
            succeeded = [s for s in self.streams if s not in self._failed]
            done(succeeded, dict(self._failed))
