"""Recording notifications in tests, and waiting for them without sleeping blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sipsimple.bus.client import BusClient
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


def wait_subscribed(
    name: str,
    probe: Callable[[str], object],
    carries: Callable[[Notification, str], bool],
    timeout: float = 10,
) -> None:
    """Return once the bus subscription delivers: a fresh SUB socket drops what is
    published before it has joined, so ask the service (``probe(token)``) for an
    event `name` carrying a new token, again and again, until one arrives."""
    tokens: list[str] = []
    deadline = time.monotonic() + timeout
    with Recorder(name) as recorder:
        while True:
            tokens.append(f"subscribed-probe-{len(tokens)}")
            probe(tokens[-1])
            try:
                recorder.wait(lambda n: any(carries(n, token) for token in tokens), 0.2)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {name} probe arrived: not subscribed") from None


def owner_subscribed(client: BusClient) -> None:
    """The events of harness.owner_service reach `client`: each probe makes an
    object and ends it, which the service announces as ``test.ended``."""

    def probe(token: str) -> None:
        client.call("media", "create", key=token)
        client.call("media", "destroy", key=token)

    wait_subscribed("test.ended", probe, lambda n, token: bool(n.data.key == token))


def dns_subscribed(client: BusClient) -> None:
    """The dns service's events reach `client`: each probe is a lookup whose
    trace the service publishes (``dns.trace``, named by its lookup id)."""

    def probe(token: str) -> None:
        client.call("dns", "lookup_sip_proxy", uri="sip:probe.example.test",
                    supported_transports=["udp"], lookup_id=token)

    wait_subscribed("dns.trace", probe, lambda n, token: bool(n.data.lookup_id == token))
