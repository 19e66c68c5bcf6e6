"""The thread that reads the local addresses and posts their changes.

It reads, every `interval` seconds, the address the kernel would pick for a
destination of each family (the facade's own rule for its SDP address,
`sipsimple.session.sdp.local_address_for`; documentation addresses, so the
default route decides and nothing is sent), and lets `AddressWatch` decide.
On a change it posts what the original SDK did: ``SystemIPAddressDidChange``
(``old_ip_address``, ``new_ip_address``) from the monitor, then
``NetworkConditionsDidChange`` from the SIPApplication, which sessions follow
(an ICE restart on the new address, docs/nat.md). Polling rather than a
netlink socket: it works the same in every namespace and on every platform,
and a second is cheap next to the 5 s the address needs to settle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sipsimple.network.watch import SETTLE, AddressChanged, AddressWatch
from sipsimple.notification import NotificationCenter, NotificationData

__all__ = ["INTERVAL", "PROBES", "NetworkMonitor", "default_addresses"]

log = logging.getLogger(__name__)

INTERVAL = 1.0
# RFC 5737 and RFC 3849 documentation addresses: only the default route leads there
PROBES = ("192.0.2.1", "2001:db8::1")

Reader = Callable[[], dict[str, str | None]]


def default_addresses() -> dict[str, str | None]:
    """The local address of each family's default route (None: no route of that family)."""
    from sipsimple.session.sdp import local_address_for

    result: dict[str, str | None] = {}
    for probe in PROBES:
        address = local_address_for(probe)
        result["ipv6" if ":" in probe else "ipv4"] = (
            None if address in ("127.0.0.1", "::1") else address)
    return result


class NetworkMonitor:
    """Polls `read` and posts the changes; `start` and `stop` (a daemon thread)."""

    def __init__(self, read: Reader = default_addresses, interval: float = INTERVAL,
                 settle: float = SETTLE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self.interval = interval
        self.settle = settle
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watches: dict[str, AddressWatch] = {}

    def start(self) -> None:
        self._watches = {family: AddressWatch(address, self.settle)
                         for family, address in self._safe_read().items()}
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sipsimple-network",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.interval + 5)

    def _safe_read(self) -> dict[str, str | None]:
        try:
            return dict(self._read())
        except Exception:
            log.exception("reading the local addresses failed")
            return {family: watch.current for family, watch in self._watches.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> list[AddressChanged]:
        """One reading of every family; posts and returns the changes that settled."""
        now = self._clock()
        changes = []
        for family, address in self._safe_read().items():
            watch = self._watches.setdefault(family, AddressWatch(address, self.settle))
            change = watch.reading(now, address)
            if change is not None:
                changes.append(change)
        if changes and not self._stop.is_set():
            self._post(changes)
        return changes

    def _post(self, changes: list[AddressChanged]) -> None:
        from sipsimple.application import SIPApplication

        center = NotificationCenter()
        for change in changes:
            log.info("local address changed: %s -> %s", change.old, change.new)
            center.post_notification("SystemIPAddressDidChange", self, NotificationData(
                old_ip_address=change.old, new_ip_address=change.new))
        center.post_notification("NetworkConditionsDidChange", SIPApplication(),
                                 NotificationData())
