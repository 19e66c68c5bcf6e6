"""Real timers for the sans-IO layers: `StartTimer`/`CancelTimer` effects become gevent timers.

Each armed timer is a `gevent.spawn_later` greenlet keyed by (transaction
key, timer name). A greenlet (not a raw loop timer) because the callback
carries out effects that may block on a TCP connect. The effects contract
says a timer is never started while it runs; if it happens anyway the old
one is replaced, so a key never has two live timers.

gevent measures a new timer from the loop's cached clock, which is as old as
the hub's last turn; `later` reads the clock first, so a timer armed after a
stretch without one (a blocking call, a busy greenlet) does not fire early
(Timer F at once, after 32 s).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

import gevent

__all__ = ["TimerWheel", "later"]

log = logging.getLogger("sipsimple_services.signalling.sip.transactions.timers")

TimerCallback = Callable[[Hashable, str], None]


def later(delay: float, function: Callable[..., Any], *args: Any) -> gevent.Greenlet:
    """`gevent.spawn_later` counted from now, not from the hub's last turn."""
    gevent.get_hub().loop.update_now()
    return gevent.spawn_later(max(0.0, delay), function, *args)


class TimerWheel:
    def __init__(self, fired: TimerCallback) -> None:
        """``fired(key, name)`` runs in the timer's greenlet when it expires."""
        self._fired = fired
        self._timers: dict[tuple[Hashable, str], gevent.Greenlet] = {}

    def __len__(self) -> int:
        return len(self._timers)

    def running(self, key: Hashable, name: str) -> bool:
        return (key, name) in self._timers

    def start(self, key: Hashable, name: str, delay: float) -> None:
        self.cancel(key, name)
        self._timers[(key, name)] = later(delay, self._run, key, name)

    def cancel(self, key: Hashable, name: str) -> None:
        timer = self._timers.pop((key, name), None)
        if timer is not None and timer is not gevent.getcurrent():
            timer.kill(block=False)

    def cancel_all(self) -> None:
        timers, self._timers = list(self._timers.values()), {}
        current = gevent.getcurrent()
        gevent.killall([t for t in timers if t is not current], block=False)

    def _run(self, key: Hashable, name: str) -> None:
        if self._timers.get((key, name)) is not gevent.getcurrent():
            return  # cancelled or replaced while the hub was scheduling us
        del self._timers[(key, name)]
        try:
            self._fired(key, name)
        except Exception:
            log.exception("timer %s of %r failed", name, key)
