"""Waiting for a group of streams to report, without blocking a thread.

A Session calls `initialize()` or `start()` on several streams and must go on
once each has posted its success notification or `MediaStreamDidFail`. The
barrier counts those notifications (the Session feeds them in through
`report`) and calls `done(succeeded, failed)` once, when the last stream has
reported or when the timeout fires first (the silent streams count as failed).
Everything runs on the caller's worker: `report` and the timeout's callback
are expected on it, which is why the timer goes through `submit`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["StreamBarrier"]

Done = Callable[[list[Any], dict[Any, str]], None]


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
        self._timer = threading.Timer(timeout, lambda: submit(self._expire))
        self._timer.daemon = True
        self._timeout = timeout

    def start(self) -> None:
        if not self._waiting:
            self._finish()
        else:
            self._timer.start()

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
        self._timer.cancel()
        self._done = None

    def _expire(self) -> None:
        if self._done is None:
            return
        for stream in self._waiting:
            self._failed[stream] = f"no {self.success} within {self._timeout:g} s"
        self._waiting.clear()
        self._finish()

    def _finish(self) -> None:
        self._timer.cancel()
        done, self._done = self._done, None
        if done is not None:
            succeeded = [s for s in self.streams if s not in self._failed]
            done(succeeded, dict(self._failed))
