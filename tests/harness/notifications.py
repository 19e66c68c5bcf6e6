"""Recording notifications in tests, and waiting for them without sleeping blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sipsimple.notification import Notification, NotificationCenter


class Recorder:
    """Notifications with the given names (all, if none) from `sender` (any, if None)."""

    def __init__(self, *names: str, sender: object = None) -> None:
        self.sender = sender
        self.observed: tuple[str | None, ...] = names or (None,)
        self.seen: list[Notification] = []
        self.arrived = threading.Condition()
        for name in self.observed:
            NotificationCenter().add_observer(self, name=name, sender=sender)

    def close(self) -> None:
        for name in self.observed:
            NotificationCenter().discard_observer(self, name=name, sender=self.sender)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle_notification(self, notification: Notification) -> None:
        with self.arrived:
            self.seen.append(notification)
            self.arrived.notify_all()

    def wait(self, what: str | Callable[[Notification], bool], timeout: float = 15) -> Notification:
        """The first notification named `what` (or matching it), waiting up to `timeout`."""
        match = (lambda n: n.name == what) if isinstance(what, str) else what
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for notification in self.seen:
                    if match(notification):
                        return notification
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what!r} not seen; saw {self.names}")
                self.arrived.wait(remaining)

    def wait_for(self, *names: str, timeout: float = 10) -> Notification:
        """The first notification with any of `names`."""
        return self.wait(lambda n: n.name in names, timeout)

    def named(self, name: str) -> list[Notification]:
        return [n for n in self.seen if n.name == name]

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.seen]
