"""Many audio calls through one SIPApplication: setup rate, concurrency, media workers.

    python bench/facade_load.py [--workers 1,all] [--rates 20,40,60,80] [--seconds 8]
                                [--hold 2] [--concurrent 200] [--opus 10,20,...,100]
                                [--window 10] [--keep]

One `SIPApplication` (started on a `MemoryStorage`, so it starts the services
under supervisord in a private runtime directory) holds two accounts, alice
and bob; alice calls bob over the real signalling service (UDP on loopback)
and bob accepts at once, so every call is two `AudioStream`s, both in this
facade and in the media workers. Run once per `--workers` count (`all`: one
per core, the services' default), each run with the services started afresh:

1. **Setup rate** (PCMU+SRTP, `sdes_mandatory`): per rate, rate x seconds
   calls placed on schedule (not waiting for each other), each ended `--hold`
   seconds after it was placed. A call counts as failed if it did not start
   by then, failed, or ended without RTP received at both ends (the streams'
   statistics as `end_stream` returned them). Printed: calls started, failed,
   the rate achieved (calls started over the time taken to place them), setup
   time (`connect()` to alice's `SIPSessionDidStart`) at p50 and p99, and the
   CPU (share of one core) and RSS of the facade and of every service over
   the step. The sustained rate is the highest rate at which every call
   started with RTP both ways; the first rate that fails is where it stops
   keeping up.
2. **Concurrency** (PCMU+SRTP): `--concurrent` calls placed at 50/s and held
   together for `--window` seconds, then ended. Printed: calls failed, RTP
   both ways, frames concealed (by the receivers' jitter buffers, of the
   frames played, over each call's whole life), frames the senders' clocks
   skipped (overloaded: neither sent nor concealed, of the frames to send),
   and CPU/RSS over the window. It keeps up with no call failed and under
   0.5% of frames concealed and under 0.5% skipped.
3. **Opus**: the same with opus at each `--opus` concurrency; a step keeps up
   when no call failed and under 0.5% of the frames were concealed and under
   0.5% skipped by an overloaded clock. The largest step that keeps up is the capacity; the
   last run prints the ratio of its capacity to the first run's (the scaling
   from one worker to all).

Nothing is asserted on time; the bench exits 1 if a session was left over.
The machine's load (`os.getloadavg`) is printed with each run: on a shared
machine the figures are pessimistic.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _services import (
    local_accounts,
    private_runtime,
    remove_runtime,
    route_to,
    wait_claimed,
)

DOMAIN = "bench.test"
START_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
CONCURRENT_RATE = 50.0  # calls per second while filling a concurrency step
CONCEALED_LIMIT = 0.005  # the share of frames concealed a step may have and keep up
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- processes: CPU and RSS -------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Usage:
    """CPU (share of one core) and RSS of the facade and of every service over a span."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.started = time.monotonic()
        self.cpu = {name: cpu_seconds(pid) for name, pid in processes.items()}

    def report(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        parts = []
        for name, pid in self.processes.items():
            share = (cpu_seconds(pid) - self.cpu[name]) / elapsed
            parts.append(f"{name} {100 * share:.0f}% {rss_mb(pid):.0f}MB")
        return ", ".join(parts)


# --- the application and its calls -------------------------------------------------------


@dataclass
class Call:
    session: Any
    stream: Any
    placed: float
    started: float | None = None
    failed: str | None = None
    ended: bool = False


@dataclass
class Outcome:
    placed: int = 0
    setups: list[float] = field(default_factory=list)
    failed: int = 0
    no_rtp: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    received: int = 0
    concealed: int = 0
    sent: int = 0
    skipped: int = 0

    @property
    def concealed_share(self) -> float:
        """Frames the receivers concealed, of those they played."""
        return self.concealed / max(self.received + self.concealed, 1)

    @property
    def skipped_share(self) -> float:
        """Frames the senders' clocks skipped (overloaded), of those they were to send."""
        return self.skipped / max(self.sent + self.skipped, 1)


class Load:
    """The SIPApplication, alice and bob, and the calls between them."""

    NAMES = ("SIPApplicationDidStart", "SIPSessionNewIncoming", "SIPSessionDidStart",
             "SIPSessionDidFail", "SIPSessionDidEnd")

    def __init__(self) -> None:
        from sipsimple.application import SIPApplication
        from sipsimple.notification import NotificationCenter
        from sipsimple.storage import MemoryStorage

        self._lock = threading.Lock()
        self._started = threading.Event()
        self.calls: dict[Any, Call] = {}  # alice's session -> call
        self.answers: dict[Any, Any] = {}  # bob's sessions -> their stream
        self.answering: set[Any] = set()  # bob's sessions not ended yet
        for name in self.NAMES:
            NotificationCenter().add_observer(self, name=name)
        SIPApplication().start(MemoryStorage())
        if not self._started.wait(START_TIMEOUT):
            raise RuntimeError("SIPApplicationDidStart did not come")
        self.accounts = local_accounts(DOMAIN)
        wait_claimed(self.accounts.values(), 10)
        self.route, self.to_bob = route_to(DOMAIN)

    def use(self, codec: str, srtp: bool) -> None:
        for account in self.accounts.values():
            account.rtp.audio_codec_list = (codec,)
            account.rtp.encryption.enabled = srtp
            account.rtp.encryption.key_negotiation = "sdes_mandatory"
            account.save()

    def processes(self) -> dict[str, int]:
        from sipsimple.bus.client import get_bus

        bus = get_bus()
        found = {"facade": os.getpid()}
        for service in bus.services:
            with contextlib.suppress(Exception):
                found[service] = int(bus.ping(service, timeout=2)["pid"])
        return found

    # notifications (bus thread or a session's worker)

    def handle_notification(self, notification: Any) -> None:
        name, sender = notification.name, notification.sender
        if name == "SIPApplicationDidStart":
            self._started.set()
            return
        if name == "SIPSessionNewIncoming":
            streams = list(notification.data.streams)
            with self._lock:
                self.answers[sender] = streams[0] if streams else None
                self.answering.add(sender)
            sender.accept(streams)
            return
        now = time.perf_counter()
        with self._lock:
            call = self.calls.get(sender)
            if call is not None:
                if name == "SIPSessionDidStart":
                    call.started = now
                elif name == "SIPSessionDidFail":
                    call.failed = str(getattr(notification.data, "reason", "failed"))
                    call.ended = True
                elif name == "SIPSessionDidEnd":
                    call.ended = True
            elif name in ("SIPSessionDidEnd", "SIPSessionDidFail"):
                self.answering.discard(sender)

    # calls

    def place(self) -> Call:
        from sipsimple.session import Session
        from sipsimple.streams.rtp.audio import AudioStream

        alice = self.accounts["alice"]
        session = Session(alice)
        stream = AudioStream(alice)
        call = Call(session, stream, time.perf_counter())
        with self._lock:
            self.calls[session] = call
        session.connect(self.to_bob, [self.route], [stream])
        return call

    @staticmethod
    def end(call: Call) -> None:
        with contextlib.suppress(Exception):  # it failed or ended meanwhile
            call.session.end()

    def drain(self) -> bool:
        """Until every call of this step ended at both ends; False if some did not."""
        from sipsimple.session import SessionManager

        deadline = time.monotonic() + DRAIN_TIMEOUT
        while time.monotonic() < deadline:
            with self._lock:
                open_calls = [c for c in self.calls.values() if not c.ended]
                answering = len(self.answering)
            if not open_calls and not answering and not SessionManager().sessions:
                return True
            time.sleep(0.05)
        return False

    def outcome(self) -> Outcome:
        """What became of this step's calls (they all ended); forgets them."""
        with self._lock:
            calls, self.calls = list(self.calls.values()), {}
            answers, self.answers = list(self.answers.values()), {}
            self.answering.clear()
        result = Outcome(placed=len(calls))
        # Every call's stream at alice and at bob must have received RTP: then
        # every call had it both ways. Bob's streams are not paired with calls.
        received: list[dict[str, Any]] = []
        for call in calls:
            if call.started is None:  # ended at its time before it started, or failed
                result.failed += 1
                reason = "not started" + (f" (then: {call.failed})" if call.failed else "")
                result.reasons[reason] = result.reasons.get(reason, 0) + 1
                continue
            result.setups.append(call.started - call.placed)
            if call.failed is not None:
                result.failed += 1
                result.reasons[call.failed] = result.reasons.get(call.failed, 0) + 1
            received.append(call.stream.statistics)
        received += [stream.statistics for stream in answers if stream is not None]
        result.no_rtp = sum(1 for s in received if int(s.get("packets_received", 0)) == 0)
        result.no_rtp += max(0, len(result.setups) - len(answers))  # answered by nobody
        for stats in received:
            result.received += int(stats.get("packets_received", 0))
            result.concealed += int(stats.get("concealed", 0))
            result.sent += int(stats.get("packets_sent", 0))
            result.skipped += int(stats.get("skipped", 0))
        return result

    def stop(self) -> None:
        from sipsimple.application import SIPApplication
        from sipsimple.notification import NotificationCenter

        ended = threading.Event()

        class Ended:
            def handle_notification(self, notification: Any) -> None:
                ended.set()

        watcher = Ended()
        NotificationCenter().add_observer(watcher, name="SIPApplicationDidEnd")
        SIPApplication().stop()
        ended.wait(30)
        NotificationCenter().discard_observer(watcher, name="SIPApplicationDidEnd")
        for name in self.NAMES:
            NotificationCenter().discard_observer(self, name=name)


# --- the phases ---------------------------------------------------------------------------


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3 if ordered else 0.0


def rate_step(load: Load, rate: float, seconds: float, hold: float) -> tuple[Outcome, float, str]:
    """Calls at `rate` for `seconds`, each ended `hold` s after it was placed."""
    usage = Usage(load.processes())
    count = max(1, round(rate * seconds))
    ends: list[tuple[float, int, Call]] = []
    start = time.perf_counter()
    placed = 0
    last_placed = start
    while placed < count or ends:
        now = time.perf_counter()
        while ends and ends[0][0] <= now:
            load.end(heapq.heappop(ends)[2])
        if placed < count and now >= start + placed / rate:
            call = load.place()
            heapq.heappush(ends, (now + hold, placed, call))
            placed += 1
            last_placed = now
            continue
        time.sleep(0.001)
    report = usage.report()
    load.drain()
    outcome = load.outcome()
    # on schedule, the last call goes (count - 1) / rate after the first
    achieved = len(outcome.setups) / (last_placed - start + 1 / rate)
    return outcome, achieved, report


def concurrent_step(load: Load, calls: int, window: float) -> tuple[Outcome, str]:
    """`calls` placed at CONCURRENT_RATE, held together for `window` s, then ended."""
    placed: list[Call] = []
    start = time.perf_counter()
    while len(placed) < calls:
        if time.perf_counter() >= start + len(placed) / CONCURRENT_RATE:
            placed.append(load.place())
        else:
            time.sleep(0.001)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
            c.started is not None or c.ended for c in placed):
        time.sleep(0.05)
    usage = Usage(load.processes())
    time.sleep(window)
    report = usage.report()
    for call in placed:
        load.end(call)
    load.drain()
    return load.outcome(), report


def keeps_up(outcome: Outcome) -> bool:
    """No call failed, and under 0.5% of the frames concealed at the receivers and
    under 0.5% skipped by the senders' clocks (a frame skipped is neither sent nor
    concealed: the receiver's jitter buffer runs dry instead)."""
    return not (outcome.failed or outcome.no_rtp) and \
        outcome.concealed_share < CONCEALED_LIMIT and outcome.skipped_share < CONCEALED_LIMIT


def failures(outcome: Outcome) -> str:
    parts = [f"{n}x {reason}" for reason, n in sorted(outcome.reasons.items())]
    if outcome.no_rtp:
        parts.append(f"{outcome.no_rtp}x a stream without RTP received")
    return "; ".join(parts)


@dataclass
class Run:
    workers: int
    sustained: float = 0.0
    stopped_at: float | None = None
    concurrent_ok: bool = False
    opus_capacity: int = 0  # streams


def one_run(workers: int, args: argparse.Namespace) -> Run:
    os.environ["SIPSIMPLE_MEDIA_WORKERS"] = str(workers)
    result = Run(workers)
    print(f"\n== {workers} media worker(s); load average {os.getloadavg()[0]:.1f} ==",
          flush=True)
    load = Load()
    try:
        load.use("PCMU", srtp=True)
        print("setup rate, PCMU+SRTP: rate x seconds calls each held "
              f"{args.hold:g} s")
        print(f"  {'rate/s':>7} {'started':>9} {'failed':>6} {'achieved':>8} {'p50 ms':>7} "
              f"{'p99 ms':>7}  cpu and rss")
        for rate in args.rates:
            outcome, achieved, usage = rate_step(load, rate, args.seconds, args.hold)
            bad = outcome.failed + outcome.no_rtp
            print(f"  {rate:7g} {len(outcome.setups):4d}/{outcome.placed:<4d} {bad:6d} "
                  f"{achieved:8.1f} {quantile(sorted(outcome.setups), 0.5):7.1f} "
                  f"{quantile(sorted(outcome.setups), 0.99):7.1f}  {usage}", flush=True)
            if bad:
                print(f"          {failures(outcome)}")
                result.stopped_at = rate
                break
            result.sustained = max(result.sustained, achieved)
        print(f"  sustained: {result.sustained:.1f} setups/s with no call failed; "
              + (f"stops keeping up at {result.stopped_at:g}/s" if result.stopped_at
                 else "kept up at every rate tried"), flush=True)

        print(f"concurrent PCMU+SRTP calls held {args.window:g} s (both ends local: 2 streams "
              "a call)")
        outcome, usage = concurrent_step(load, args.concurrent, args.window)
        bad = outcome.failed + outcome.no_rtp
        result.concurrent_ok = keeps_up(outcome)
        print(f"  {args.concurrent} calls ({2 * args.concurrent} streams): {bad} failed, "
              f"concealed {100 * outcome.concealed_share:.3f}% of {outcome.received} frames "
              f"received, skipped {100 * outcome.skipped_share:.3f}% of the frames to send -> "
              f"{'keeps up' if result.concurrent_ok else 'does not keep up'}  {usage}",
              flush=True)
        if bad:
            print(f"          {failures(outcome)}")

        load.use("opus", srtp=True)
        print(f"concurrent opus+SRTP calls held {args.window:g} s")
        for calls in args.opus:
            outcome, usage = concurrent_step(load, calls, args.window)
            bad = outcome.failed + outcome.no_rtp
            ok = keeps_up(outcome)
            print(f"  {calls:4d} calls ({2 * calls} streams): {bad} failed, concealed "
                  f"{100 * outcome.concealed_share:.3f}%, skipped "
                  f"{100 * outcome.skipped_share:.3f}% -> "
                  f"{'keeps up' if ok else 'does not keep up'}  {usage}", flush=True)
            if not ok:
                break
            result.opus_capacity = 2 * calls
        print(f"  opus capacity: {result.opus_capacity} streams", flush=True)
    finally:
        load.stop()
        from sipsimple import supervision

        supervision.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--workers", default="1,all",
                        help="media worker counts, one run each ('all': one per core)")
    parser.add_argument("--rates", default="20,40,60,80,100",
                        help="setup rates (calls/s), one step each")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per rate step")
    parser.add_argument("--hold", type=float, default=2.0,
                        help="seconds from placing a call to ending it (rate steps)")
    parser.add_argument("--concurrent", type=int, default=200,
                        help="concurrent PCMU+SRTP calls of the concurrency step")
    parser.add_argument("--opus", default="10,20,30,40,50,60,70,80,90,100",
                        help="concurrent opus calls, one step each")
    parser.add_argument("--window", type=float, default=10.0,
                        help="seconds the concurrent calls are held together")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (service logs) and print its path")
    args = parser.parse_args()
    try:
        args.rates = [float(r) for r in args.rates.split(",")]
        args.opus = [int(n) for n in args.opus.split(",")]
        counts = [os.cpu_count() or 1 if w == "all" else int(w)
                  for w in args.workers.split(",")]
    except ValueError:
        parser.error("--rates, --opus and --workers take numbers separated by commas")
    if min(args.rates) <= 0 or min(args.opus) <= 0 or min(counts) < 1 or \
            args.concurrent < 1 or args.seconds <= 0 or args.window <= 0 or args.hold <= 0:
        parser.error("every count, rate and duration must be positive")

    runtime = private_runtime("ssload-")
    os.environ.update({
        "SIPSIMPLE_CONFIG_DIR": str(runtime / "config"),  # not the user's configuration
        "SIPSIMPLE_SIP_HOST": "127.0.0.1",
        "SIPSIMPLE_SIP_TRANSPORTS": "udp",
        "SIPSIMPLE_DNS_NAMESERVERS": "127.0.0.1:9",  # never the system resolver
        "SIPSIMPLE_DNS_FALLBACK_NAMESERVERS": "",
    })
    print("audio calls between two accounts of one SIPApplication (both ends in this facade)")
    print(f"  {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} "
          "(other work on the machine makes these figures pessimistic)")
    runs: list[Run] = []
    left: list[Any] = []
    try:
        for count in counts:
            runs.append(one_run(count, args))
        from sipsimple.session import SessionManager

        left = SessionManager().sessions
    finally:
        with contextlib.suppress(Exception):
            from sipsimple import supervision

            supervision.stop()
        remove_runtime(runtime, args.keep)
    print("\nsummary")
    for run in runs:
        print(f"  {run.workers} worker(s): {run.sustained:.1f} setups/s sustained, "
              f"{args.concurrent} concurrent PCMU+SRTP calls "
              f"{'kept' if run.concurrent_ok else 'NOT kept'}, "
              f"opus capacity {run.opus_capacity} streams")
    if len(runs) > 1 and runs[0].opus_capacity:
        ratio = runs[-1].opus_capacity / runs[0].opus_capacity
        print(f"  opus scaling {runs[0].workers} -> {runs[-1].workers} workers: {ratio:.2f}x")
    if left:
        print(f"  leaks: {len(left)} sessions left in the SessionManager")
        raise SystemExit(1)
    print("  leaks: none (no session left in the SessionManager)")


if __name__ == "__main__":
    sys.exit(main())
