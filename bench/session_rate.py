"""Audio calls set up at a rate through the facade: does setup keep up under load?

    python bench/session_rate.py [--rates 20,40,60,80,100] [--seconds 8] [--hold 1]

Alice calls bob (two accounts of one AccountManager/SessionManager in this
process, no registration) over the real signalling and media services
(started here in a private runtime directory, UDP on 127.0.0.1), each call
with an `AudioStream` (PCMU, the media service's null devices); bob accepts
from an observer of `SIPSessionNewIncoming` at once. For each rate, calls
are placed on schedule (rate x seconds of them, not waiting for each other),
each ended `--hold` seconds after it was placed, and the step waits until
every session is over. A setup is `Session.connect()` to alice's
`SIPSessionDidStart`.

Per rate: calls started and failed (those not started when their end came,
`--hold` after they were placed, fail), and the setup time's p50, p90, p99
and maximum of the calls that started. Under load the media calls of a call (create, start, connect,
end) wait behind the media clock's ticks; before issue 18 every call's
waited on one thread, so setups piled up and the media service collapsed
past about 60 calls/s. Nothing is asserted on time; the bench exits 1 if a
session was left over.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import subprocess
import threading
import time
from typing import Any

from _services import (
    private_runtime,
    remove_runtime,
    route_to,
    start_media,
    start_sessions,
    start_signalling,
    stop,
    wait_pinged,
)

DOMAIN = "bench.test"
DRAIN_TIMEOUT = 30.0  # for the sessions of a step to end


def pcmu_only(account: Any) -> None:
    """Before each account is saved: the one codec of the bench's calls."""
    account.rtp.audio_codec_list = ("PCMU",)


class Calls:
    """Alice's calls to bob and what became of them; bob accepts every call."""

    NAMES = ("SIPSessionNewIncoming", "SIPSessionDidStart", "SIPSessionDidFail",
             "SIPSessionDidEnd")

    def __init__(self) -> None:
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.backend import MemoryBackend
        from sipsimple.notification import NotificationCenter

        ConfigurationManager().start(MemoryBackend())
        self.accounts = start_sessions(DOMAIN, configure=pcmu_only)
        self.route, self.to_bob = route_to(DOMAIN)
        self._lock = threading.Lock()
        self._placed: dict[Any, float] = {}
        self.setups: list[float] = []
        self.failed = 0
        for name in self.NAMES:
            NotificationCenter().add_observer(self, name=name)

    def handle_notification(self, notification: Any) -> None:
        if notification.name == "SIPSessionNewIncoming":
            notification.sender.accept(notification.data.streams)
            return
        now = time.perf_counter()
        with self._lock:
            placed = self._placed.pop(notification.sender, None)
            if placed is None:
                return
            if notification.name == "SIPSessionDidStart":
                self.setups.append(now - placed)
            else:  # failed (or ended) before it started
                self.failed += 1

    def step(self, rate: float, seconds: float, hold: float) -> tuple[int, list[float], int]:
        """Calls at `rate` for `seconds`: (placed, setup times, failed)."""
        from sipsimple.session import Session, SessionManager
        from sipsimple.streams.rtp.audio import AudioStream

        with self._lock:
            self.setups, self.failed = [], 0
        count = max(1, round(rate * seconds))
        ends: list[tuple[float, int, Any]] = []
        start = time.perf_counter()
        placed = 0
        while placed < count or ends:
            now = time.perf_counter()
            while ends and ends[0][0] <= now:
                session = heapq.heappop(ends)[2]
                with contextlib.suppress(Exception):  # it failed meanwhile
                    session.end()
            if placed < count and now >= start + placed / rate:
                session = Session(self.accounts["alice"])
                with self._lock:
                    self._placed[session] = time.perf_counter()
                session.connect(self.to_bob, [self.route], [AudioStream(self.accounts["alice"])])
                heapq.heappush(ends, (now + hold, placed, session))
                placed += 1
                continue
            time.sleep(0.001)  # the schedule's resolution
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while SessionManager().sessions and time.monotonic() < deadline:
            time.sleep(0.05)
        with self._lock:
            return count, sorted(self.setups), self.failed

    def stop(self) -> None:
        from sipsimple.account import AccountManager
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.notification import NotificationCenter
        from sipsimple.session import SessionManager

        for name in self.NAMES:
            NotificationCenter().discard_observer(self, name=name)
        SessionManager().stop()
        AccountManager().stop()
        ConfigurationManager().stop()


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rates", default="20,40,60,80,100",
                        help="calls per second, one step each (default 20,40,60,80,100)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="seconds of calls per step (default 8)")
    parser.add_argument("--hold", type=float, default=1.0,
                        help="seconds from placing a call to ending it (default 1)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (service logs) and print its path")
    args = parser.parse_args()
    try:
        rates = [float(rate) for rate in args.rates.split(",")]
    except ValueError:
        parser.error("--rates takes numbers separated by commas")
    if not rates or min(rates) <= 0 or args.seconds <= 0 or args.hold < 0:
        parser.error("--rates and --seconds need positive numbers, --hold a non-negative one")

    runtime = private_runtime("ssrate-")
    services: list[subprocess.Popen[bytes]] = []
    calls: Calls | None = None
    left: list[Any] = []
    print("audio calls through the facade at rising rates: Session.connect() -> "
          "SIPSessionDidStart")
    print(f"  {args.seconds:g} s of calls per rate, each ended {args.hold:g} s after it was "
          "placed", flush=True)
    print(f"  {'rate/s':>7} {'started':>9} {'failed':>7} {'p50 ms':>8} {'p90 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8}")
    try:
        from sipsimple.bus.client import reset_bus
        from sipsimple.session import SessionManager

        services = [start_signalling(runtime), start_media(runtime)]
        wait_pinged(services, ("signalling", "media"))
        calls = Calls()
        for rate in rates:
            count, setups, failed = calls.step(rate, args.seconds, args.hold)
            print(f"  {rate:7g} {len(setups):4d}/{count:<4d} {failed:7d} "
                  f"{quantile(setups, 0.5):8.1f} {quantile(setups, 0.9):8.1f} "
                  f"{quantile(setups, 0.99):8.1f} {quantile(setups, 1.0):8.1f}", flush=True)
        left = SessionManager().sessions
    finally:
        if calls is not None:
            with contextlib.suppress(Exception):
                calls.stop()
        with contextlib.suppress(Exception):
            reset_bus()
        for service in services:
            stop(service)
        remove_runtime(runtime, args.keep)
    if left:
        print(f"  leaks: {len(left)} sessions left in the SessionManager")
        raise SystemExit(1)
    print("  leaks: none (no session left in the SessionManager)")


if __name__ == "__main__":
    main()
