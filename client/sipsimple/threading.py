"""Small concurrency helpers shared by the facade."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Singleton", "Worker"]

log = logging.getLogger(__name__)


class Singleton(type):
    """Metaclass: every instantiation of a class returns its one instance."""

    _instances: dict[type, Any] = {}
    _lock = threading.Lock()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        instance = Singleton._instances.get(cls)
        if instance is None:
            with Singleton._lock:
                instance = Singleton._instances.get(cls)
                if instance is None:
                    instance = super().__call__(*args, **kwargs)
                    Singleton._instances[cls] = instance
        return instance


class Worker:
    """One daemon thread running submitted tasks in order.

    The facade's managers run their logic on a worker so that bus calls and
    waits never run on the bus thread that delivers events, and so that the
    state they own needs no locking: a task sees the effects of every task
    submitted before it.
    """

    def __init__(self, name: str) -> None:
        # SimpleQueue: a hand-off is one C-level lock release and acquire, where
        # Queue's Condition allocates a lock per wait (every bus event to a session).
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def current(self) -> bool:
        """Whether the caller runs on this worker."""
        return threading.current_thread() is self._thread

    def submit(self, task: Callable[[], None]) -> None:
        self._queue.put(task)

    def stop(self, timeout: float) -> bool:
        """Run what is queued, then end; False if that took longer than `timeout`."""
        self._queue.put(None)
        if not self.current:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception:
                log.exception("task on %s failed", self._thread.name)
