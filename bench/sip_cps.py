"""Calls per second: SIPp calling our signalling service, against SIPp calling SIPp.

    python bench/sip_cps.py [--rates 50,100,200,...] [--seconds-per-step S] [--quick]

A SIPp UAC (bench/sipp/uac_call.xml: INVITE with SDP, 200, ACK, a short
pause, BYE, 200) calls at rising rates. Each step places rate x seconds calls;
a step passes when SIPp exits 0, its statistics show every call successful and
none failed, and the step ended no later than 10% + 0.3 s after its schedule
(rate x seconds calls at the asked rate). "achieved" is calls / wall time of
the step; "answer ms" is SIPp's mean INVITE -> 200 time.
A ramp stops at its first failing step. Two ramps run in this one invocation:

- ours: the real signalling service (``python -m sipsimple_services.signalling``
  in a private runtime directory, UDP on loopback) with an auto-answer agent,
  a BusClient in this process that claims the account and accepts every
  ``signalling.session_incoming`` with a small static SDP (``call_async`` from
  the bus thread);
- baseline: the same UAC against a SIPp UAS (bench/sipp/uas_answer.xml).

Where ``os.sched_setaffinity`` exists, the side under test (the signalling
service, or the SIPp UAS) is pinned to one core and this process and the SIPp
UAC to the others, so the result is per core. Everything runs on 127.0.0.1;
every process started here is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _services import (
    print_signalling_log,
    private_runtime,
    remove_runtime,
    start_signalling,
    stop,
    wait_ready,
)

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "sipp"
ROOT = HERE.parent
ACCOUNT = "service"
TARGET_CPS = 300
MAX_CALLS_PER_STEP = 5000
RECV_TIMEOUT_MS = 5000  # a receive that waits longer fails the call
ANSWER_SDP = (b"v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
              b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
DEFAULT_RATES = "50,100,200,300,400,600,800,1000,1200,1600"
QUICK_RATES = "5,10"


# --- ports, cores, processes ------------------------------------------------------


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(count: int = 1) -> int:
    """A base port N with N..N+count-1 free for UDP and TCP on loopback."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        if all(_free(base + i, kind) for i in range(count)
               for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return base
    raise RuntimeError("no free ports")


@dataclass(frozen=True)
class Cores:
    """The core for the side under test, and the cores for everything else."""

    tested: set[int] | None
    rest: set[int] | None

    @classmethod
    def plan(cls) -> Cores:
        if not hasattr(os, "sched_setaffinity"):
            return cls(None, None)
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            return cls({available[0]}, {available[0]})
        return cls({available[0]}, set(available[1:]))

    def describe(self) -> str:
        if self.tested is None:
            return "not pinned (no os.sched_setaffinity): 'per core' is not enforced"
        shared = " (shared with the load generator: only one core)" \
            if self.tested == self.rest else ""
        return (f"side under test pinned to core {sorted(self.tested)}{shared}; "
                f"SIPp UAC and the auto-answer agent on {sorted(self.rest or ())}")

    def pin(self, pid: int, cores: set[int] | None) -> None:
        if cores is not None:
            os.sched_setaffinity(pid, cores)


def sipp_base(scenario: Path, port: int, workdir: Path, name: str) -> list[str]:
    return [
        "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-t", "u1", "-p", str(port),
        "-mp", str(free_port(4)), "-cp", str(free_port()), "-nostdin",
        "-trace_err", "-error_file", str(workdir / f"{name}_errors.log"),
    ]


# --- the two answering sides ------------------------------------------------------


class AutoAnswer:
    """Accepts every incoming session on the bus with a static SDP answer."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.incoming = 0
        self.accept_errors = 0
        self.last_error = ""
        self._lock = threading.Lock()

    def handle_notification(self, notification: Any) -> None:
        self.incoming += 1
        future = self.bus.call_async(
            "signalling", "accept",
            {"session_id": notification.data.session_id, "body": ANSWER_SDP,
             "content_type": "application/sdp"},
            timeout=10,
        )
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        error = future.exception(0)
        if error is not None:
            with self._lock:
                self.accept_errors += 1
                self.last_error = str(error)


def udp_bound(port: int) -> None:
    if _free(port, socket.SOCK_DGRAM):
        raise RuntimeError(f"nothing bound on udp {port} yet")


# --- a ramp -------------------------------------------------------------------------


@dataclass
class Step:
    rate: int
    calls: int
    exit_code: int
    successful: int
    failed: int
    seconds: float
    answer_ms: float  # SIPp's mean INVITE -> 200 time

    @property
    def achieved(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def on_schedule(self) -> bool:
        """The whole step took at most 10% + 0.3 s longer than its calls' schedule."""
        return self.seconds <= self.calls / self.rate * 1.1 + 0.3

    @property
    def ok(self) -> bool:
        return (self.exit_code == 0 and self.failed == 0 and self.successful == self.calls
                and self.on_schedule)

    def describe(self) -> str:
        verdict = "ok" if self.ok else "FAIL" + ("" if self.on_schedule else " (late)")
        return (f"{self.rate:6d} {self.calls:6d} {self.successful:6d} {self.failed:6d} "
                f"{self.exit_code:5d} {self.achieved:9.1f} {self.answer_ms:9.2f}  {verdict}")


def final_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat file (';'-separated, header first)."""
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def duration_ms(text: str) -> float:
    """SIPp's ``HH:MM:SS:uuuuuu`` as milliseconds (0 when absent)."""
    parts = text.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        return 0.0
    hours, minutes, secs, micros = (int(part) for part in parts)
    return ((hours * 60 + minutes) * 60 + secs) * 1000 + micros / 1000


def run_step(rate: int, seconds: float, pause_ms: int, remote: int, workdir: Path,
             name: str, cores: Cores) -> Step:
    calls = max(1, min(MAX_CALLS_PER_STEP, round(rate * seconds)))
    stats = workdir / f"{name}_{rate}.csv"
    budget = calls / rate + RECV_TIMEOUT_MS / 1000 + 10
    command = [
        *sipp_base(SCENARIOS / "uac_call.xml", free_port(), workdir, f"{name}_{rate}"),
        "-s", ACCOUNT, "-m", str(calls), "-r", str(rate), "-l", str(max(100, rate * 4)),
        "-d", str(pause_ms), "-recv_timeout", str(RECV_TIMEOUT_MS),
        "-timeout", f"{budget:.0f}s", "-timeout_error",
        "-trace_stat", "-stf", str(stats), "-fd", "3600",
        f"127.0.0.1:{remote}",
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        cores.pin(process.pid, cores.rest)
        try:
            code = process.wait(budget + 15)
        except subprocess.TimeoutExpired:
            code = -1
    finally:
        stop(process)
    elapsed = time.perf_counter() - started
    row = final_stats(stats)
    successful = int(row.get("SuccessfulCall(C)", "0") or 0)
    failed = int(row.get("FailedCall(C)", "0") or 0)
    return Step(rate, calls, code, successful, failed, elapsed,
                duration_ms(row.get("ResponseTime1(C)", "")))


def ramp(rates: list[int], seconds: float, pause_ms: int, remote: int, workdir: Path,
         name: str, cores: Cores, before_step: Any = None) -> list[Step]:
    steps: list[Step] = []
    for rate in rates:
        if before_step is not None:
            before_step()
        step = run_step(rate, seconds, pause_ms, remote, workdir, name, cores)
        steps.append(step)
        print(f"  {name:9} {step.describe()}", flush=True)
        if not step.ok:
            break
        time.sleep(1)  # let the answering side finish its transactions (timers, timewait)
    return steps


def best(steps: list[Step]) -> int:
    passed = [step.rate for step in steps if step.ok]
    return max(passed) if passed else 0


def verdict(steps: list[Step], rates: list[int]) -> str:
    top = best(steps)
    if steps and steps[-1].ok and len(steps) == len(rates):
        return f">= {top} calls/s (passed every step; raise --rates to find the limit)"
    return f"{top} calls/s"


# --- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rates", default=None,
                        help=f"comma-separated calls per second (default {DEFAULT_RATES})")
    parser.add_argument("--seconds-per-step", type=float, default=None,
                        help="calls per step = rate x this, at most "
                             f"{MAX_CALLS_PER_STEP} (default 3)")
    parser.add_argument("--pause-ms", type=int, default=10,
                        help="pause between ACK and BYE (default 10)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (SIPp error logs and statistics, "
                             "the service's stderr) and print its path")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: rates {QUICK_RATES}, 1 second per step")
    args = parser.parse_args()
    rates = [int(r) for r in (args.rates or (QUICK_RATES if args.quick else DEFAULT_RATES))
             .split(",") if r.strip()]
    if not rates or any(r <= 0 for r in rates):
        parser.error("--rates needs positive integers")
    rates.sort()
    seconds = args.seconds_per_step or (1.0 if args.quick else 3.0)
    if shutil.which("sipp") is None:
        sys.exit("sipp (Debian package sip-tester) is not installed")

    runtime = private_runtime("sscps-")
    cores = Cores.plan()
    service: subprocess.Popen[bytes] | None = None
    uas: subprocess.Popen[bytes] | None = None
    bus: Any = None
    agent: AutoAnswer | None = None
    print(f"SIP calls per second, UDP on loopback, {seconds:g} s per step "
          f"(at most {MAX_CALLS_PER_STEP} calls), {args.pause_ms} ms between ACK and BYE")
    print(f"  {cores.describe()}")
    print(f"  {'ramp':9} {'rate':>6} {'calls':>6} {'ok':>6} {'failed':>6} {'exit':>5} "
          f"{'achieved':>9} {'answer ms':>9}")
    try:
        cores.pin(os.getpid(), cores.rest)  # the agent and the ramp driver stay off the tested core

        # baseline: SIPp UAS
        uas_port = free_port()
        uas = subprocess.Popen(
            sipp_base(SCENARIOS / "uas_answer.xml", uas_port, runtime, "uas"),
            cwd=runtime, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        cores.pin(uas.pid, cores.tested)
        wait_ready(uas, lambda: udp_bound(uas_port))
        baseline = ramp(rates, seconds, args.pause_ms, uas_port, runtime, "sipp-uas", cores)
        stop(uas)

        # ours: the signalling service with an auto-answer agent
        from sipsimple.bus.client import BusClient
        from sipsimple.notification import NotificationCenter

        sip_port = free_port()
        service = start_signalling(runtime, sip_port)
        cores.pin(service.pid, cores.tested)
        bus = BusClient(services=["signalling"])
        bus.start()
        wait_ready(service, lambda: bus.ping("signalling", timeout=0.5))
        wait_ready(service, lambda: udp_bound(sip_port))
        bus.call("signalling", "claim_account", aor=f"sip:{ACCOUNT}@127.0.0.1")
        agent = AutoAnswer(bus)
        NotificationCenter().add_observer(agent, name="signalling.session_incoming")

        def service_alive() -> None:
            if service is not None and service.poll() is not None:
                raise RuntimeError(f"the signalling service exited with {service.returncode}")

        ours = ramp(rates, seconds, args.pause_ms, sip_port, runtime, "signalling", cores,
                    before_step=service_alive)
        NotificationCenter().discard_observer(agent, name="signalling.session_incoming")
        print_signalling_log(runtime)
    finally:
        if bus is not None:
            with contextlib.suppress(Exception):
                bus.stop(goodbye=False)
        stop(uas)
        stop(service)
        remove_runtime(runtime, args.keep)

    ours_best, base_best = best(ours), best(baseline)
    ratio = f"{ours_best / base_best:.2f}x" if base_best else "n/a"
    print("highest rate with no failed calls")
    print(f"  sipp UAS (baseline)   {verdict(baseline, rates)}")
    print(f"  signalling service    {verdict(ours, rates)}")
    print(f"  ratio {ratio} of the SIPp UAS (lower bound for the baseline if it passed every "
          "step)")
    if agent is not None:
        print(f"  agent: {agent.incoming} incoming sessions, {agent.accept_errors} accept "
              f"errors{(' (last: ' + agent.last_error + ')') if agent.last_error else ''}")
    print(f"  target: at least {TARGET_CPS} calls per second on one core "
          f"({'met' if ours_best >= TARGET_CPS else 'NOT met'})")


if __name__ == "__main__":
    main()
