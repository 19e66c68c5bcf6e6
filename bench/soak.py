"""Calls that come and go for minutes: does any call end wrongly, does anything leak?

    python bench/soak.py [--minutes 10] [--concurrency 20] [--kill] [--sample 10]

One `SIPApplication` (it starts the four services under supervisord, in a
private runtime directory, SIP on UDP 127.0.0.1) with two accounts; alice
calls bob with an `AudioStream` (PCMU) over and over, `--concurrency` calls at
a time. Each call: both sides start; alice sends a DTMF digit and bob's stream
reports it; alice holds and resumes; bob holds and resumes (re-INVITEs both
ways); after a random time alice hangs up and both sides end. A call that
fails, gets a proposal failure, misses a step for 30 s or ends otherwise did
not end as it should.

Before the run a warm-up of calls (on each media worker in turn, so that every
session thread of the facade has its connection to every worker: those are
kept, and would otherwise show as descriptors above idle), then the idle
values: what each service
holds (the common ``resources`` method: descriptors, threads, greenlets, zmq
sockets, and its objects by kind) and the facade's threads, descriptors and
sessions. The RSS of every service process and of the facade is sampled every
`--sample` seconds; the growth reported is from the end of the first fifth of
the run to the end (medians of three samples; target under 5%). After the
run, once the last transactions have timed out, every count must be back to
its idle value.

With `--kill`, each service gets SIGKILL once at a random moment of the
middle of the run: the calls it carried end with a reason naming it, calls
placed while it is down fail, supervisord starts it again, and the first call
that starts after the restart is timed (target: within 5 s of the restart).

Exit status 1 if a call ended wrongly (outside an outage) or a count is not
back to idle; timings and RSS growth are reported against their targets, not
enforced. `tests/test_bench_soak.py` runs a short version of both modes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _services import local_accounts, private_runtime, remove_runtime, wait_claimed

DOMAIN = "soak.test"
STEP_TIMEOUT = 30.0  # for one step of a call (a notification) to come
SETTLE_TIMEOUT = 90.0  # for the counts to come back to idle (UDP Timer J is 32 s)
RESTART_TARGET = 5.0
RSS_TARGET = 5.0  # % growth after warm-up
WARMUP_CALLS = 4
NAMES = ("SIPSessionNewIncoming", "SIPSessionDidStart", "SIPSessionDidFail", "SIPSessionDidEnd",
         "SIPSessionDidChangeHoldState", "SIPSessionHadProposalFailure", "AudioStreamGotDTMF",
         "ServiceDidRestart")


def pcmu_only(account: Any) -> None:
    """Before each account is saved: the one codec of the soak's calls."""
    account.rtp.audio_codec_list = ("PCMU",)


class CallFailed(Exception):
    pass


@dataclass
class Outage:
    service: str
    killed_at: float
    restarted_at: float | None = None
    first_call_at: float | None = None  # the first call started after the restart


@dataclass
class Tally:
    good: int = 0
    cut: int = 0  # ended by a kill, with a reason naming the service
    bad: list[str] = field(default_factory=list)


class Soak:
    """The facade side: the accounts, an observer of every session, the calls."""

    def __init__(self) -> None:
        from sipsimple.application import SIPApplication
        from sipsimple.notification import NotificationCenter
        from sipsimple.storage import MemoryStorage

        self._cond = threading.Condition()
        self._seen: dict[Any, list[Any]] = {}  # sender -> its notifications
        self._incoming: dict[str, Any] = {}  # Call-ID -> bob's session
        self.outages: list[Outage] = []
        self.warm_worker: str | None = None  # during the warm-up: where both ends go
        center = NotificationCenter()
        for name in NAMES:
            center.add_observer(self, name=name)
        center.add_observer(self, name="SIPApplicationDidStart")
        self.app = SIPApplication()
        self.app.start(MemoryStorage())
        self._wait(lambda: self._seen.get(self.app), "SIPApplicationDidStart", 60)
        self.accounts = local_accounts(DOMAIN, configure=pcmu_only)
        wait_claimed(self.accounts.values(), 30)

    # -- notifications ------------------------------------------------------------

    def handle_notification(self, notification: Any) -> None:
        if notification.name == "SIPSessionNewIncoming":
            session = notification.sender
            with self._cond:
                self._incoming[session.call_id] = session
                self._cond.notify_all()
            streams = notification.data.streams
            if self.warm_worker is not None:
                from sipsimple.audio import AudioMixer

                for stream in streams:
                    stream.mixer = AudioMixer("voice", self.warm_worker)
            session.accept(streams)
            return
        if notification.name == "ServiceDidRestart":
            now = time.monotonic()
            with self._cond:
                for outage in self.outages:
                    if outage.service == notification.data.service and outage.restarted_at is None:
                        outage.restarted_at = now
        with self._cond:
            self._seen.setdefault(notification.sender, []).append(notification)
            self._cond.notify_all()

    def _wait(self, found: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := found()):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallFailed(f"no {what} within {timeout:g} s")
                self._cond.wait(left)
            return result

    def _next(self, sender: Any, name: str, start: int, check: Callable[[Any], bool]
              ) -> tuple[Any, int]:
        """The first `name` of `sender` from index `start` on; an end or failure raises."""
        def found() -> tuple[Any, int] | None:
            seen = self._seen.get(sender, [])
            for index in range(start, len(seen)):
                n = seen[index]
                if n.name == name and check(n):
                    return n, index + 1
                if n.name in ("SIPSessionDidFail", "SIPSessionDidEnd",
                              "SIPSessionHadProposalFailure") and n.name != name:
                    raise CallFailed(f"{n.name} while waiting for {name}: "
                                     f"{_reason(n)}")
            return None
        result: tuple[Any, int] = self._wait(found, name)
        return result

    # -- one call -----------------------------------------------------------------

    def call(self, hold: float, rng: random.Random) -> None:
        """One call through every step; raises CallFailed when a step goes wrong."""
        from sipsimple.bus.client import get_bus
        from sipsimple.core import SIPURI, Route, ToHeader
        from sipsimple.session import Session
        from sipsimple.streams.rtp.audio import AudioStream

        ports = get_bus().call("signalling", "get_transports", timeout=5)
        route = Route("127.0.0.1", ports["udp"], "udp")
        alice = Session(self.accounts["alice"])
        began = time.monotonic()
        bob: Any = None
        stream = AudioStream(self.accounts["alice"])
        if self.warm_worker is not None:
            from sipsimple.audio import AudioMixer

            stream.mixer = AudioMixer("voice", self.warm_worker)
        try:
            alice.connect(ToHeader(SIPURI(user="bob", host=DOMAIN)), [route], [stream])
            _, a = self._next(alice, "SIPSessionDidStart", 0, lambda n: True)
            bob = self._wait(lambda: self._incoming.pop(alice.call_id, None), "incoming session")
            _, b = self._next(bob, "SIPSessionDidStart", 0, lambda n: True)
            for outage in self.outages:
                if outage.restarted_at is not None and outage.first_call_at is None \
                        and began >= outage.restarted_at:
                    outage.first_call_at = time.monotonic()
            time.sleep(rng.uniform(0, hold / 3))
            alice.streams[0].send_dtmf("5")
            bob_stream = bob.streams[0]
            self._next(bob_stream, "AudioStreamGotDTMF", 0, lambda n: n.data.digit == "5")
            for session, index in ((alice, a), (bob, b)):
                session.hold()
                _, index = self._next(session, "SIPSessionDidChangeHoldState", index,
                                      lambda n: n.data.originator == "local" and n.data.on_hold)
                session.unhold()
                _, index = self._next(session, "SIPSessionDidChangeHoldState", index,
                                      lambda n: n.data.originator == "local"
                                      and not n.data.on_hold)
            time.sleep(max(0.0, hold - (time.monotonic() - began)))
            alice.end()
            for session, originator in ((alice, "local"), (bob, "remote")):
                ended, _ = self._next(session, "SIPSessionDidEnd", 0, lambda n: True)
                if ended.data.originator != originator:
                    raise CallFailed(f"ended by {ended.data.originator}, not {originator}")
        except Exception:
            for session in (alice, bob):
                if session is not None and session.state not in (None, "terminated"):
                    with contextlib.suppress(Exception):  # it ended meanwhile
                        session.end()
            raise
        finally:
            with self._cond:  # a finished call's notifications are not needed again
                for sender in (alice, bob, *(alice.streams or []),
                               *((bob.streams or []) if bob is not None else [])):
                    self._seen.pop(sender, None)

    def stop(self) -> None:
        from sipsimple.notification import NotificationCenter

        center = NotificationCenter()
        for name in (*NAMES, "SIPApplicationDidStart"):
            center.discard_observer(self, name=name)
        self.app.stop()


def _reason(notification: Any) -> str:
    data = notification.data
    for name in ("failure_reason", "end_reason", "reason"):
        value = getattr(data, name, None)
        if value:
            return str(value)
    return repr(data.__dict__)


# -- what the processes hold ---------------------------------------------------------

def service_pids() -> dict[str, int]:
    from sipsimple import supervision

    return {entry.name: entry.pid for entry in supervision.status() if entry.pid}


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def held() -> dict[str, Any]:
    """Each service's ``resources`` (None if it does not answer) and the facade's counts."""
    from sipsimple.bus.client import BusError, get_bus
    from sipsimple.session import SessionManager

    result: dict[str, Any] = {}
    for service in service_pids():
        try:
            values = get_bus().call(service, "resources", timeout=2)
        except BusError:
            result[service] = None
            continue
        values.pop("rss", None)
        values.pop("clients", None)  # the CLI-less bench has one; a restart may count more
        result[service] = values
    result["facade"] = {
        "threads": threading.active_count(),
        "descriptors": len(os.listdir("/proc/self/fd")),
        "objects": {"sessions": len(SessionManager().sessions)},
    }
    return result


def differences(idle: dict[str, Any], now: dict[str, Any]) -> list[str]:
    found = []
    for process, values in idle.items():
        current = now.get(process)
        if current is None or values is None:
            found.append(f"{process}: no answer")
            continue
        for name, value in values.items():
            if isinstance(value, dict):
                for kind, count in value.items():
                    if current[name].get(kind) != count:
                        found.append(f"{process} {kind}: {current[name].get(kind)} "
                                     f"(idle {count})")
            elif current.get(name) != value:
                found.append(f"{process} {name}: {current.get(name)} (idle {value})")
    return found


def settle(idle: dict[str, Any]) -> list[str]:
    """Wait until every count is back to idle; what is not, after SETTLE_TIMEOUT."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while (left := differences(idle, held())) and time.monotonic() < deadline:
        time.sleep(1.0)
    return left


# -- the run ---------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    soak = Soak()
    tally = Tally()
    lock = threading.Lock()
    try:
        from sipsimple import media_workers
        from sipsimple.bus.client import get_bus

        workers = media_workers.workers(get_bus())
        print(f"warm-up: {WARMUP_CALLS} calls on each of {len(workers)} media worker(s)",
              flush=True)
        for worker in workers:
            soak.warm_worker = worker
            for _ in range(WARMUP_CALLS):
                soak.call(0.2, rng)
        soak.warm_worker = None
        idle = settle_first(soak)
        duration = args.minutes * 60
        stop_at = time.monotonic() + duration
        samples: dict[str, list[tuple[float, int]]] = {}
        start = time.monotonic()

        def caller(seed: int) -> None:
            own = random.Random(seed)
            while time.monotonic() < stop_at:
                placed = time.monotonic()
                try:
                    soak.call(own.uniform(args.hold_min, args.hold_max), own)
                    with lock:
                        tally.good += 1
                except Exception as exc:  # every failure is tallied
                    outage = during_outage(soak.outages, placed)
                    with lock:
                        if outage is not None:
                            tally.cut += 1
                        else:
                            tally.bad.append(f"{time.monotonic() - start:6.1f} s: {exc}")
                    time.sleep(0.2)

        threads = [threading.Thread(target=caller, args=(rng.randrange(2**32),), daemon=True)
                   for _ in range(args.concurrency)]
        for thread in threads:
            thread.start()
        kills = plan_kills(rng, list(service_pids()), duration) if args.kill else []
        print(f"soak: {args.minutes:g} min, {args.concurrency} calls at a time, each held "
              f"{args.hold_min:g}-{args.hold_max:g} s" + (", one SIGKILL per service" if kills
                                                          else ""), flush=True)
        next_sample = time.monotonic()
        while time.monotonic() < stop_at:
            now = time.monotonic()
            if now >= next_sample:
                for name, pid in {**service_pids(), "facade": os.getpid()}.items():
                    samples.setdefault(name, []).append((now - start, rss_of(pid)))
                next_sample += args.sample
            while kills and now - start >= kills[0][0]:
                _, service = kills.pop(0)
                pid = service_pids().get(service)
                if pid:
                    soak.outages.append(Outage(service, time.monotonic()))
                    os.kill(pid, signal.SIGKILL)
                    print(f"  {now - start:6.1f} s: SIGKILL {service} (pid {pid})", flush=True)
            time.sleep(0.2)
        for thread in threads:
            thread.join(STEP_TIMEOUT * 8 + args.hold_max)
        left = settle(idle)
        report(tally, samples, soak.outages, duration, left)
        if args.samples:
            with open(args.samples, "w") as out:
                for name, points in sorted(samples.items()):
                    out.writelines(f"{t:.1f},{name},{rss}\n" for t, rss in points)
        return 1 if tally.bad or left or any(t.is_alive() for t in threads) else 0
    finally:
        soak.stop()


def settle_first(soak: Soak) -> dict[str, Any]:
    """The idle values after the warm-up: taken once two reads in a row agree."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    previous = held()
    while True:
        time.sleep(1.0)
        current = held()
        quiet = all(v is not None and not any(v.get("objects", {}).get(k) for k in (
            "sessions", "transactions", "streams")) for v in current.values())
        if quiet and not differences(previous, current):
            return current
        if time.monotonic() > deadline:
            raise RuntimeError(f"the services did not settle after the warm-up: {current}")
        previous = current


def plan_kills(rng: random.Random, services: list[str], duration: float
               ) -> list[tuple[float, str]]:
    """One moment per service in the middle 60% of the run, in order."""
    moments = sorted(rng.uniform(0.2, 0.8) * duration for _ in services)
    rng.shuffle(services)
    return list(zip(moments, services, strict=True))


def during_outage(outages: list[Outage], placed: float) -> Outage | None:
    """The outage a call placed at `placed` may have met: it was up when the kill came, or
    placed before the service was back plus RESTART_TARGET."""
    for outage in outages:
        back = outage.restarted_at
        up_at_kill = outage.killed_at - STEP_TIMEOUT * 8 <= placed <= outage.killed_at
        while_down = outage.killed_at <= placed and (
            back is None or placed <= back + RESTART_TARGET)
        if up_at_kill or while_down:
            return outage
    return None


def report(tally: Tally, samples: dict[str, list[tuple[float, int]]], outages: list[Outage],
           duration: float, left: list[str]) -> None:
    print(f"calls: {tally.good} ended as they should, {tally.cut} cut by a kill, "
          f"{len(tally.bad)} did not")
    for line in tally.bad[:20]:
        print(f"  {line}")
    print(f"RSS (growth from {duration / 5:.0f} s to the end; target under {RSS_TARGET:g}%):")
    for name, points in sorted(samples.items()):
        warm = [rss for t, rss in points if t >= duration / 5][:3]
        last = [rss for _, rss in points][-3:]
        if not warm or not last or not statistics.median(warm):
            print(f"  {name:12} too few samples")
            continue
        growth = (statistics.median(last) / statistics.median(warm) - 1) * 100
        print(f"  {name:12} {statistics.median(warm) / 2**20:7.1f} MiB -> "
              f"{statistics.median(last) / 2**20:7.1f} MiB  {growth:+5.1f}%"
              + ("" if growth < RSS_TARGET else "  (over target)"))
    for outage in outages:
        if outage.restarted_at is None:
            print(f"kill of {outage.service}: not restarted")
            continue
        first = ("no call started after it" if outage.first_call_at is None else
                 f"first call started {outage.first_call_at - outage.restarted_at:.2f} s "
                 f"after (target {RESTART_TARGET:g} s)")
        print(f"kill of {outage.service}: back after "
              f"{outage.restarted_at - outage.killed_at:.2f} s, {first}")
    if left:
        print("not back to idle:")
        for line in left:
            print(f"  {line}")
    else:
        print("every count back to idle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the run (10)")
    parser.add_argument("--concurrency", type=int, default=20, help="calls at a time (20)")
    parser.add_argument("--hold-min", type=float, default=2.0, help="shortest call, s (2)")
    parser.add_argument("--hold-max", type=float, default=8.0, help="longest call, s (8)")
    parser.add_argument("--sample", type=float, default=10.0, help="RSS sampling period, s")
    parser.add_argument("--kill", action="store_true", help="SIGKILL each service once")
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable run")
    parser.add_argument("--keep", action="store_true", help="keep the logs and print where")
    parser.add_argument("--samples", metavar="FILE", help="write every RSS sample (CSV: "
                        "seconds, process, bytes) to FILE")
    args = parser.parse_args()
    if args.minutes <= 0 or args.concurrency < 1 or not 0 <= args.hold_min <= args.hold_max:
        parser.error("--minutes > 0, --concurrency >= 1, 0 <= --hold-min <= --hold-max")
    runtime = private_runtime("soak-")
    os.environ["XDG_CONFIG_HOME"] = str(runtime / "config")
    os.environ.update({
        "SIPSIMPLE_SIP_HOST": "127.0.0.1", "SIPSIMPLE_SIP_TRANSPORTS": "udp",
        "SIPSIMPLE_DNS_NAMESERVERS": "127.0.0.1:9",  # never the system resolver
        "SIPSIMPLE_DNS_FALLBACK_NAMESERVERS": "",
    })
    status = 1
    try:
        status = run(args)
    finally:
        from sipsimple import supervision

        supervision.stop()
        remove_runtime(Path(runtime), args.keep or status != 0)
    raise SystemExit(status)


if __name__ == "__main__":
    main()
