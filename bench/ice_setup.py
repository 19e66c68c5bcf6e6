"""What ICE adds to an audio call's setup, on loopback or across the NAT lab, against ICE off.

    python bench/ice_setup.py [--calls 40] [--warmup 3] [--rounds 4] [--stun IP:PORT]
        [--turn IP:PORT --turn-user USER --turn-password PASSWORD] [--keep]
    python bench/ice_setup.py --lab [--calls 40] [--warmup 3] [--rounds 4] [--keep]

Alice calls bob (two accounts of one AccountManager/SessionManager in this
process, no registration) over the real signalling and media services
(started here in a private runtime directory, UDP on 127.0.0.1), each call
with an `AudioStream` (PCMU, plain RTP, the media service's null devices);
bob accepts at once from an observer of `SIPSessionNewIncoming`. A sample is
the time from `Session.connect()` (the offer) until both streams posted
`MediaStreamDidStart`: with ICE (`nat_traversal.use_ice`, no STUN or TURN
server: host candidates) that is after both sides' checks completed
(`AudioStreamICENegotiationDidSucceed`, the audio on the selected pair);
without, after the offer/answer. ICE on and off alternate in rounds in the
same run, so that noise on a shared machine hits both alike.

`--stun IP:PORT` gives the ICE sides a STUN server (in a NAT lab: server-
reflexive pairs); `--turn IP:PORT --turn-user U --turn-password P` adds a
side with relayed candidates only, through that TURN server.

`--lab` (root, as the tests' NAT lab) builds the lab of network namespaces
(`tests/harness/netns.py`: two LANs behind an easy and a hard NAT, coturn on
the public side) and times calls whose two ends each run in a namespace
(their services and a process of this script, `--lab-end`, driven over a
pipe): host pairs (both in the easy LAN), server-reflexive pairs (the easy
LAN to a public host, STUN) and relayed pairs (the hard LAN to the easy one,
TURN, relayed candidates only), each case against the same call with ICE
off, alternating in rounds.

Printed: p50, p90 and mean of every side, the candidate types the caller's
ICE chose, the added time (p50 and mean), and the target (issue 17: ICE adds
under 100 ms on loopback-speed links for host and srflx pairs). A call with
ICE whose checks did not succeed, or any failed call, makes the bench exit 1;
so does a session left over. Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _services import (
    local_accounts,
    private_runtime,
    remove_runtime,
    route_to,
    start_media,
    start_sessions,
    start_signalling,
    stop,
    wait_claimed,
    wait_pinged,
)

DOMAIN = "bench.test"
CALL_TIMEOUT = 15.0
TARGET_MS = 100.0  # issue 17: what ICE may add on loopback-speed links


def plain_pcmu(account: Any) -> None:
    """Before each account is saved: PCMU without SRTP, and host candidates only
    (no STUN server, no DNS lookup) unless a case configures its own."""
    account.rtp.audio_codec_list = ("PCMU",)
    account.rtp.encryption.enabled = False
    account.nat_traversal.stun_server_list = []


class Calls:
    """One call at a time; bob accepts every call."""

    NAMES = ("SIPSessionNewIncoming", "MediaStreamDidStart", "SIPSessionDidStart",
             "SIPSessionDidFail",
             "SIPSessionDidEnd", "AudioStreamICENegotiationDidSucceed",
             "AudioStreamICENegotiationDidFail")

    def __init__(self) -> None:
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.backend import MemoryBackend
        from sipsimple.notification import NotificationCenter

        ConfigurationManager().start(MemoryBackend())
        self.accounts = start_sessions(DOMAIN, configure=plain_pcmu)
        self.route, self.to_bob = route_to(DOMAIN)
        self._cond = threading.Condition()
        self._started: list[tuple[Any, float]] = []
        self._ice: list[tuple[Any, str]] = []
        self._ended: set[Any] = set()
        self._sessions_started: set[Any] = set()
        self._failed: str | None = None
        self._answering: Any = None
        self.pairs: set[tuple[str, str]] = set()  # candidate types the caller's ICE chose
        for name in self.NAMES:
            NotificationCenter().add_observer(self, name=name)

    def handle_notification(self, notification: Any) -> None:
        now = time.perf_counter()
        if notification.name == "SIPSessionNewIncoming":
            notification.sender.accept(notification.data.streams)
        with self._cond:
            if notification.name == "SIPSessionNewIncoming":
                self._answering = notification.sender
            elif notification.name == "MediaStreamDidStart":
                self._started.append((notification.sender, now))
            elif notification.name.startswith("AudioStreamICENegotiation"):
                self._ice.append((notification.sender, notification.name))
            elif notification.name == "SIPSessionDidFail":
                data = notification.data
                self._failed = f"{data.code} {data.reason} ({data.failure_reason})"
            elif notification.name == "SIPSessionDidStart":
                self._sessions_started.add(notification.sender)
            elif notification.name == "SIPSessionDidEnd":
                self._ended.add(notification.sender)
            self._cond.notify_all()

    def _wait(self, done: Any) -> None:
        deadline = time.monotonic() + CALL_TIMEOUT
        with self._cond:
            while not done():
                if self._failed is not None:
                    raise RuntimeError(f"a call failed: {self._failed}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"a call did not get there in {CALL_TIMEOUT:g} s")
                self._cond.wait(left)

    def configure(self, side: Side) -> None:
        from sipsimple.configuration.datatypes import NetworkAddress

        for account in self.accounts.values():
            nat = account.nat_traversal
            nat.use_ice = side.ice
            nat.stun_server_list = [NetworkAddress(h, p) for h, p in side.stun]
            nat.turn_server = None
            nat.ice_relay_only = False
            if side.turn is not None:
                host, port, username, password = side.turn
                nat.turn_server = NetworkAddress(host, port)
                nat.turn_username, nat.turn_password = username, password
                nat.ice_relay_only = True
            account.save()

    def call(self, ice: bool) -> float:
        """One call: seconds from connect() until both streams started; then hung up."""
        from sipsimple.session import Session
        from sipsimple.streams.rtp.audio import AudioStream

        with self._cond:
            self._started, self._ice, self._answering = [], [], None
        session = Session(self.accounts["alice"])
        stream = AudioStream(self.accounts["alice"])
        began = time.perf_counter()
        session.connect(self.to_bob, [self.route], [stream])
        self._wait(lambda: len(self._started) >= 2)
        with self._cond:
            took = max(at for _, at in self._started) - began
            outcomes = [name for _, name in self._ice]
            answering = self._answering
        if ice and outcomes.count("AudioStreamICENegotiationDidSucceed") != 2:
            raise RuntimeError(f"ICE did not succeed on both sides: {outcomes}")
        self.pairs.add((str(stream.local_rtp_candidate_type),
                        str(stream.remote_rtp_candidate_type)))
        if not ice and outcomes:
            raise RuntimeError(f"ICE ran in a call without it: {outcomes}")
        # not timed: both sessions started (bob's after the ACK) before the BYE
        self._wait(lambda: {session, answering} <= self._sessions_started)
        session.end()
        self._wait(lambda: session in self._ended and answering in self._ended)
        return took

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


@dataclass(frozen=True)
class Side:
    label: str
    ice: bool
    stun: tuple[tuple[str, int], ...] = ()
    turn: tuple[str, int, str, str] | None = None  # host, port, username, password


def _endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not IP:PORT")
    return host.strip("[]"), int(port)


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return statistics.median(ordered) * 1e3, p90 * 1e3, statistics.fmean(ordered) * 1e3


# --- across the NAT lab (--lab) ----------------------------------------------------------
#
# Each end of a lab call is a process of this script (`--lab-end NAME`) inside its
# namespace, beside that end's services (a `LabStack`): the facade picks its SDP
# address with a socket of its own, so it must see the namespace's network. The
# parent drives both ends with one JSON line per request on their stdin and reads
# one JSON line back; times are `time.monotonic()`, one clock for every process.

LAB_DOMAIN = "lab.test"
LAB_SIP_PORT = 5060


class LabEnd:
    """One account of a lab call: `call` as the caller, or accepting every call."""

    NAMES = Calls.NAMES

    def __init__(self, name: str) -> None:
        from sipsimple.account import AccountManager
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.backend import MemoryBackend
        from sipsimple.notification import NotificationCenter
        from sipsimple.session import SessionManager

        ConfigurationManager().start(MemoryBackend())
        self.account = local_accounts(LAB_DOMAIN, (name,), plain_pcmu)[name]
        AccountManager().start()
        SessionManager().start()
        wait_claimed([self.account], 20)
        self._cond = threading.Condition()
        self.session: Any = None
        self.stream: Any = None
        self.started: float | None = None
        self.ice: list[str] = []
        self.ended = self.session_started = False
        self.failed: str | None = None
        for notification_name in self.NAMES:
            NotificationCenter().add_observer(self, name=notification_name)

    def handle_notification(self, notification: Any) -> None:
        now = time.monotonic()
        name, sender = notification.name, notification.sender
        if name == "SIPSessionNewIncoming":
            with self._cond:
                self._new_call(sender, notification.data.streams[0])
            sender.accept(notification.data.streams)
            return
        with self._cond:
            if sender is not self.session and sender is not self.stream:
                return  # a late word of an earlier call
            if name == "MediaStreamDidStart":
                self.started = now
            elif name.startswith("AudioStreamICENegotiation"):
                self.ice.append(name.removeprefix("AudioStreamICENegotiation"))
            elif name == "SIPSessionDidFail":
                data = notification.data
                self.failed = f"{data.code} {data.reason} ({data.failure_reason})"
            elif name == "SIPSessionDidStart":
                self.session_started = True
            elif name == "SIPSessionDidEnd":
                self.ended = True
            self._cond.notify_all()

    def _wait(self, done: Any) -> None:
        deadline = time.monotonic() + CALL_TIMEOUT
        with self._cond:
            while not done():
                if self.failed is not None:
                    raise RuntimeError(f"the call failed: {self.failed}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"the call did not get there in {CALL_TIMEOUT:g} s")
                self._cond.wait(left)

    def configure(self, ice: bool, stun: list[list[Any]], turn: list[Any] | None) -> dict[str, Any]:
        from sipsimple.configuration.datatypes import NetworkAddress

        nat = self.account.nat_traversal
        nat.use_ice = ice
        nat.stun_server_list = [NetworkAddress(h, p) for h, p in stun]
        nat.turn_server, nat.ice_relay_only = None, False
        if turn is not None:
            host, port, username, password = turn
            nat.turn_server = NetworkAddress(host, port)
            nat.turn_username, nat.turn_password = username, password
            nat.ice_relay_only = True
        self.account.save()
        return {}

    def _new_call(self, session: Any, stream: Any) -> None:
        self.session, self.stream, self.started = session, stream, None
        self.ice, self.ended, self.session_started, self.failed = [], False, False, None

    def outcome(self) -> dict[str, Any]:
        stream = self.stream
        return {"started": self.started, "ice": list(self.ice),
                "types": [str(stream.local_rtp_candidate_type),
                          str(stream.remote_rtp_candidate_type)]}

    def call(self, host: str, port: int) -> dict[str, Any]:
        from sipsimple.core import SIPURI, Route, ToHeader
        from sipsimple.session import Session
        from sipsimple.streams.rtp.audio import AudioStream

        with self._cond:
            self._new_call(Session(self.account), AudioStream(self.account))
        began = time.monotonic()
        self.session.connect(ToHeader(SIPURI(user="bob", host=LAB_DOMAIN)),
                             [Route(host, port, "udp")], [self.stream])
        self._wait(lambda: self.started is not None)
        return {"began": began, **self.outcome()}

    def wait_started(self) -> dict[str, Any]:
        self._wait(lambda: self.started is not None and self.session_started)
        return self.outcome()

    def end(self) -> dict[str, Any]:
        self._wait(lambda: self.session_started)
        self.session.end()
        self._wait(lambda: self.ended)
        return {}

    def wait_ended(self) -> dict[str, Any]:
        self._wait(lambda: self.ended)
        return {}

    def leaks(self) -> dict[str, Any]:
        from sipsimple.session import SessionManager

        return {"sessions": len(SessionManager().sessions)}


def lab_end(name: str) -> int:
    """`--lab-end NAME`: one end, driven on stdin (a JSON request a line)."""
    import json

    end = LabEnd(name)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        what = request.pop("do")
        if what == "quit":
            break
        try:
            answer = getattr(end, what)(**request)
        except RuntimeError as exc:
            answer = {"error": str(exc)}
        print(json.dumps(answer), flush=True)
    from sipsimple.account import AccountManager
    from sipsimple.session import SessionManager

    SessionManager().stop()
    AccountManager().stop()
    return 0


class Driven:
    """A `--lab-end` process seen from the parent."""

    def __init__(self, stack: Any, name: str) -> None:
        self.name = name
        command = stack.host.command([sys.executable, str(Path(__file__).resolve()),
                                      "--lab-end", name])
        self.process = subprocess.Popen(command, env=stack.env(SIPSIMPLE_LOG_LEVEL="WARNING"),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self._read()

    def _read(self) -> dict[str, Any]:
        import json

        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}'s end exited ({self.process.wait(10)})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return answer

    def ask(self, what: str, **request: Any) -> dict[str, Any]:
        import json

        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": what, **request}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.ask("quit")
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@dataclass(frozen=True)
class LabCase:
    label: str  # the pair ICE should choose
    caller_site: str  # "easy", "hard" or "public"
    callee_site: str
    callee_port: int
    relay: bool = False  # TURN, relayed candidates only, on both ends (else STUN)
    sip_path: bool = False  # SIP routed between the LANs (NatLab.open_sip_path)


LAB_CASES = (
    LabCase("host", "easy", "easy", LAB_SIP_PORT + 2),
    LabCase("srflx", "easy", "public", LAB_SIP_PORT),
    LabCase("relay", "hard", "easy", LAB_SIP_PORT, relay=True, sip_path=True),
)


def lab_call(caller: Driven, callee: Driven, address: tuple[str, int], ice: bool
             ) -> tuple[float, tuple[str, str]]:
    """One call across the lab: seconds from the offer until both streams started."""
    placed = caller.ask("call", host=address[0], port=address[1])
    answered = callee.ask("wait_started")
    for side, outcome in (("caller", placed), ("callee", answered)):
        if ice and outcome["ice"][-1:] != ["DidSucceed"]:
            raise RuntimeError(f"ICE did not succeed for the {side}: {outcome['ice']}")
        if not ice and outcome["ice"]:
            raise RuntimeError(f"ICE ran in a call without it ({side}): {outcome['ice']}")
    caller.ask("end")
    callee.ask("wait_ended")
    took = max(placed["started"], answered["started"]) - placed["began"]
    return took, (placed["types"][0], placed["types"][1])


def run_lab(args: argparse.Namespace) -> int:
    """`--lab`: host, srflx and relay pairs across the NAT lab, each against ICE off."""
    # The lab is the tests' (tests/harness/netns.py): a second copy to keep in step
    # would be worse than a bench reaching into the tests tree for it.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from harness.netns import STUN_PRIMARY, NatLab, lab_available
    from harness.turnserver import TURN_PASSWORD, TURN_USER

    if not lab_available():
        print("error: the NAT lab needs root, ip (iproute2) and nft")
        return 1
    directory = Path(tempfile.mkdtemp(prefix="ssicelab-", dir="/tmp"))
    lab = NatLab(directory)
    failed = False
    print("audio call setup across the NAT lab, offer -> both MediaStreamDidStart: "
          "ICE against ICE off", flush=True)
    results: list[tuple[LabCase, dict[bool, list[float]], set[tuple[str, str]]]] = []
    try:
        lab.build()
        lab.start_turn()
        stun = [list(STUN_PRIMARY)]
        turn = [*STUN_PRIMARY, TURN_USER, TURN_PASSWORD]
        for case in LAB_CASES:
            if case.sip_path:
                lab.open_sip_path(LAB_SIP_PORT)
            ends: list[Driven] = []
            try:
                hosts = []
                for site, name, port in ((case.caller_site, "alice", LAB_SIP_PORT),
                                         (case.callee_site, "bob", case.callee_port)):
                    host = lab.public if site == "public" else lab.hosts[site]
                    assert host is not None
                    stack = lab.stack(host)
                    stack.start(SIPSIMPLE_SIP_UDP_PORT=str(port), SIPSIMPLE_SIP_TRANSPORTS="udp")
                    hosts.append(host)
                    ends.append(Driven(stack, name))
                caller, callee = ends
                address = (hosts[1].address, case.callee_port)
                samples: dict[bool, list[float]] = {False: [], True: []}
                chosen: set[tuple[str, str]] = set()

                def configure(ice: bool, case: LabCase = case, ends: list[Driven] = ends
                              ) -> None:
                    for end in ends:
                        end.ask("configure", ice=ice, stun=stun,
                                turn=turn if case.relay and ice else None)

                for ice in (False, True):
                    configure(ice)
                    for _ in range(args.warmup):
                        lab_call(caller, callee, address, ice)
                per_round = [args.calls // args.rounds + (r < args.calls % args.rounds)
                             for r in range(args.rounds)]
                for count in per_round:
                    for ice in (False, True):
                        configure(ice)
                        for _ in range(count):
                            took, types = lab_call(caller, callee, address, ice)
                            samples[ice].append(took)
                            if ice:
                                chosen.add(types)
                left = sum(end.ask("leaks")["sessions"] for end in ends)
                if left:
                    print(f"leaks: {left} session(s) left after the {case.label} calls")
                    failed = True
                results.append((case, samples, chosen))
            finally:
                for end in ends:
                    end.close()
                for stack in lab.stacks:
                    stack.stop()
                lab.stacks.clear()
        print(f"  {'':18} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}   ({args.calls} calls each)")
        for case, samples, chosen in results:
            pairs = ", ".join(sorted(f"{local}/{remote}" for local, remote in chosen))
            for ice in (False, True):
                p50, p90, mean = summary(samples[ice])
                label = f"{case.label}: ICE {'on' if ice else 'off'}"
                note = f"   pairs (local/remote): {pairs}" if ice else ""
                print(f"  {label:18} {p50:8.1f} {p90:8.1f} {mean:8.1f}{note}")
        for case, samples, _ in results:
            (off_p50, _, off_mean), (on_p50, _, on_mean) = (summary(samples[False]),
                                                             summary(samples[True]))
            print(f"added by ICE ({case.label} pairs): p50 {on_p50 - off_p50:.1f} ms, "
                  f"mean {on_mean - off_mean:.1f} ms")
        for case, samples, _ in results:
            if case.relay:
                continue
            added = summary(samples[True])[0] - summary(samples[False])[0]
            print(f"target ({case.label}): ICE adds under {TARGET_MS:g} ms (issue 17): "
                  f"{'met' if added < TARGET_MS else 'NOT met'} at p50")
        if not failed:
            print("leaks: none")
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}")
        failed = True
    finally:
        lab.close()
        if args.keep or failed:
            print(f"  lab directory (coturn's log) kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=40, help="calls per side (default 40)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="calls per side not counted (default 3)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternations of the two sides (default 4)")
    parser.add_argument("--stun", type=_endpoint, action="append", default=[],
                        help="IP:PORT of a STUN server for the ICE sides (in a NAT lab: "
                             "server-reflexive pairs)")
    parser.add_argument("--turn", type=_endpoint,
                        help="IP:PORT of a TURN server: adds a side with relayed candidates "
                             "only (with --turn-user and --turn-password)")
    parser.add_argument("--turn-user", default="")
    parser.add_argument("--turn-password", default="")
    parser.add_argument("--keep", action="store_true",
                        help="keep the working directory (service logs) and print its path")
    parser.add_argument("--lab", action="store_true",
                        help="across the NAT lab of network namespaces (root): host, srflx "
                             "and relay pairs, each against ICE off")
    parser.add_argument("--lab-end", help=argparse.SUPPRESS)  # one end of a lab call
    args = parser.parse_args()
    if args.lab_end:
        return lab_end(args.lab_end)
    if args.calls < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--calls and --rounds need at least 1, --warmup at least 0")
    if args.lab:
        return run_lab(args)

    runtime = private_runtime("ssice-")
    services: list[subprocess.Popen[bytes]] = []
    calls: Calls | None = None
    failed = False
    print("audio call setup, Session.connect() -> both MediaStreamDidStart: ICE against "
          "ICE off", flush=True)
    try:
        from sipsimple.session import SessionManager

        services = [start_signalling(runtime), start_media(runtime)]
        wait_pinged(services, ("signalling", "media"))
        calls = Calls()
        stun = tuple(args.stun)
        sides = [Side("ICE off", False), Side("ICE on" if stun else "ICE on, host pairs", True,
                                              stun)]
        if args.turn is not None:
            turn = (*args.turn, args.turn_user, args.turn_password)
            sides.append(Side("ICE on, relay only", True, stun, turn))
        samples: dict[str, list[float]] = {side.label: [] for side in sides}
        chosen: dict[str, set[tuple[str, str]]] = {}
        for side in sides:
            calls.configure(side)
            for _ in range(args.warmup):
                calls.call(side.ice)
        per_round = [args.calls // args.rounds + (r < args.calls % args.rounds)
                     for r in range(args.rounds)]
        for count in per_round:
            for side in sides:
                calls.configure(side)
                calls.pairs = set()
                samples[side.label] += [calls.call(side.ice) for _ in range(count)]
                chosen.setdefault(side.label, set()).update(calls.pairs)
        off = summary(samples["ICE off"])
        print(f"  {'':18} {'p50 ms':>8} {'p90 ms':>8} {'mean ms':>8}   ({args.calls} calls each)")
        for side in sides:
            p50, p90, mean = summary(samples[side.label])
            pairs = ", ".join(sorted(f"{local}/{remote}" for local, remote in chosen[side.label]))
            note = f"   pairs (local/remote): {pairs}" if side.ice else ""
            print(f"  {side.label:18} {p50:8.1f} {p90:8.1f} {mean:8.1f}{note}")
        for side in sides[1:]:
            p50, _, mean = summary(samples[side.label])
            print(f"added by ICE ({side.label}): p50 {p50 - off[0]:.1f} ms, "
                  f"mean {mean - off[2]:.1f} ms")
        added = summary(samples[sides[1].label])[0] - off[0]
        print(f"target: ICE adds under {TARGET_MS:g} ms (issue 17) for host and srflx pairs: "
              f"{'met' if added < TARGET_MS else 'NOT met'} at p50")
        left = len(SessionManager().sessions)
        if left:
            print(f"leaks: {left} session(s) left")
            failed = True
        else:
            print("leaks: none")
    except RuntimeError as exc:
        print(f"error: {exc}")
        failed = True
    finally:
        if calls is not None:
            calls.stop()
        for service in services:
            stop(service)
        remove_runtime(runtime, args.keep or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
