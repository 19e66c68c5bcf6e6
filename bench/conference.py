"""Conference benchmark: N participants in one hosted room's mix, G.711, in the media service.

    python bench/conference.py [--participants 10,25,50,75,100,150,200] [--seconds 10]
                               [--warmup 2] [--codec PCMU|PCMA] [--keep-going] [--nice N]
                               [--realtime]

For each N in turn the bench makes N streams in a media service of its own
(private runtime directory) and mixes them as a `ConferenceRoom` does: the
room's own `ConferenceBridge` connects every participant to all the others
(each hears the N-1 others, not itself). The participants are N UDP sockets
of a load thread in the bench process, each sending a G.711 packet of its
own tone every 20 ms (as a phone's RTP, 50 packets a second) and draining
what the room sends back; the signalling of the calls is not part of it
(`bench/sip_cps.py` and `bench/session_setup.py` measure that).

Measured over `--seconds` after `--warmup`, per N: the service's CPU time
(/proc/<pid>/stat) per participant, the share of clock ticks that ran late
(started more than 10 ms after their time: every participant's frame of
that tick went out that late), the clock's skipped frames, the average tick
work against the 20 ms frame, and what the participants received (packets
per participant per second, and whether participant 0 hears the others'
tones and not its own). The ramp stops at the first N whose late ticks pass
0.5% (unless --keep-going). Printed at the end: participants per core (from
the CPU per participant of the largest N on time) and the target (issue 16:
at least 50 participants in one room on one core with under 0.5% late ticks).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _services import private_runtime, remove_runtime, start_media, stop, wait_ready

CODECS = {"PCMU": 0, "PCMA": 8}
RATE = 8000
FRAME = 160  # samples per 20 ms at 8 kHz
LATE_TICK_MS = 10
TARGET_PARTICIPANTS = 50
TARGET_LATE_SHARE = 0.5  # percent


def media_params(port: dict[str, Any], remote: tuple[str, int], codec: str) -> dict[str, Any]:
    pt = CODECS[codec]
    return {
        "codec": codec, "payload_type": pt, "local_payload_type": pt, "clock_rate": RATE,
        "sample_rate": RATE, "telephone_event_payload_type": 101,
        "local_telephone_event_payload_type": 101, "telephone_event_clock_rate": RATE,
        "ptime": 20, "direction": "sendrecv", "remote_address": remote[0],
        "remote_port": remote[1], "remote_rtcp_address": remote[0],
        "remote_rtcp_port": remote[1] + 1, "rtcp_mux": False, "srtp": None,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tone_frequency(index: int) -> float:
    """Participant `index`'s tone: distinct, on FFT bins of a 1 s window, 300-3300 Hz."""
    return float(300 + (index * 37) % 3000)


def encoded_tone(index: int, count: int, codec: str) -> list[bytes]:
    """One second of the participant's tone as 50 G.711 payloads (a loop); quiet enough
    that the sum of all the others does not clip (clipping would spread every tone)."""
    from sipsimple_services.media.codecs import create_codec

    encoder = create_codec(codec)
    t = np.arange(RATE) / RATE
    amplitude = min(0.3, 0.8 / count) * 32767
    pcm = (amplitude * np.sin(2 * np.pi * tone_frequency(index) * t)).astype("<i2")
    return [encoder.encode(pcm[i * FRAME:(i + 1) * FRAME].tobytes()) for i in range(50)]


class Participants:
    """N phones' RTP: a packet every 20 ms from each socket, and what comes back drained."""

    def __init__(self, count: int, codec: str) -> None:
        self.codec = codec
        self.sockets = []
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            self.sockets.append(sock)
        self.payloads = [encoded_tone(i, count, codec) for i in range(count)]
        self.targets: list[tuple[str, int]] = []
        self.received = [0] * count
        self.heard: list[bytes] = []  # participant 0's payloads, for the tone check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def addresses(self) -> list[tuple[str, int]]:
        return [sock.getsockname() for sock in self.sockets]

    def start(self, targets: list[tuple[str, int]]) -> None:
        self.targets = targets
        self._thread.start()

    def _run(self) -> None:
        pt = CODECS[self.codec]
        ssrcs = [0x1000 + i for i in range(len(self.sockets))]
        start = time.monotonic()
        frame = 0
        while not self._stop.is_set():
            for i, sock in enumerate(self.sockets):
                header = struct.pack("!BBHII", 0x80, pt, frame & 0xFFFF, (frame * FRAME)
                                     & 0xFFFFFFFF, ssrcs[i])
                with contextlib.suppress(OSError):  # a full buffer loses the packet
                    sock.sendto(header + self.payloads[i][frame % 50], self.targets[i])
                while True:
                    try:
                        data = sock.recv(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    if len(data) >= 12 and data[1] & 0x7F == pt:
                        self.received[i] += 1
                        if i == 0:
                            self.heard.append(data[12:])
                            del self.heard[:-250]  # the last 5 s
            frame += 1
            delay = start + frame * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def hears(heard: list[bytes], codec: str, count: int) -> tuple[bool, bool]:
    """(participant 0 hears every other tone, participant 0 does not hear its own)."""
    from sipsimple_services.media.codecs import create_codec

    decoder = create_codec(codec)
    pcm = np.frombuffer(b"".join(decoder.decode(p) for p in heard[-50 * 4:]), dtype="<i2")
    if len(pcm) < RATE // 4:
        return False, False
    part = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
    frequencies = np.fft.rfftfreq(len(part), 1 / RATE)
    width = max(2.0, 2 * RATE / len(part))  # two bins, however short the recording

    def level(frequency: float) -> float:
        return float(spectrum[np.abs(frequencies - frequency) < width].max())

    others = sorted(level(tone_frequency(i)) for i in range(1, count))
    own = level(tone_frequency(0))
    if not others:
        return False, False
    # every other tone stands out of the noise (a tenth of the median tone), and the
    # participant's own is below that
    threshold = others[len(others) // 2] / 10
    return others[0] > threshold, own < threshold


def mixer_work(count: int, ticks: int = 100) -> tuple[float, float]:
    """CPU seconds per tick of the media service's Mixer alone for a room of `count`
    (every port a 48 kHz frame each tick): (mix-minus, each sink summed on its own)."""
    from sipsimple_services.media import mixer as mixing

    rng = np.random.default_rng(count)
    frames = [rng.integers(-800, 800, mixing.FRAME_SAMPLES).astype(np.int16)
              for _ in range(count)]

    class Talker(mixing.Port):
        def __init__(self, index: int) -> None:
            super().__init__(f"p{index}")
            self.frame = frames[index]

        def pull(self, needed: bool) -> Any:
            return self.frame

    room = mixing.Mixer("bench")
    for index in range(count):
        room.add(Talker(index))
    for source in room.ports:
        for sink in room.ports:
            if source != sink:
                room.connect(source, sink)
    results = []
    saved = mixing.MIX_MINUS_SOURCES
    try:
        for threshold in (saved, count + 1):  # the second never mixes minus
            mixing.MIX_MINUS_SOURCES = threshold
            room.tick()
            start = time.process_time()
            for _ in range(ticks):
                room.tick()
            results.append((time.process_time() - start) / ticks)
    finally:
        mixing.MIX_MINUS_SOURCES = saved
    return results[0], results[1]


class Port:
    """What ConferenceBridge needs of a port: the service's id."""

    def __init__(self, port_id: str) -> None:
        self.port_id = port_id


def measure(count: int, args: argparse.Namespace, process: Any) -> dict[str, float]:
    from sipsimple.audio import AudioMixer, media_call
    from sipsimple.conference.mixing import ConferenceBridge

    participants = Participants(count, args.codec)
    streams: list[dict[str, Any]] = []
    try:
        for _ in range(count):
            streams.append(media_call("create_stream", address="127.0.0.1"))
        for stream, address in zip(streams, participants.addresses(), strict=True):
            media_call("start_stream", stream_id=stream["stream_id"],
                       media=media_params(stream, address, args.codec))
        # send at once: each stream learns its peer's address in its first 5 s
        participants.start([("127.0.0.1", s["rtp_port"]) for s in streams])
        bridge = ConferenceBridge(AudioMixer("voice"))
        for stream in streams:
            bridge.add(Port(stream["stream_id"]))  # type: ignore[arg-type]
        time.sleep(args.warmup)

        def clock() -> dict[str, Any]:
            return dict(media_call("stream_stats", stream_id=streams[0]["stream_id"])["clock"])

        received_before = sum(participants.received)
        clock_before, cpu_before, wall_before = clock(), cpu_seconds(process.pid), time.monotonic()
        time.sleep(args.seconds)
        cpu_after, wall_after, clock_after = cpu_seconds(process.pid), time.monotonic(), clock()
        received = sum(participants.received) - received_before
        wall = wall_after - wall_before
        ticks = clock_after["ticks"] - clock_before["ticks"]
        late = clock_after["late"] - clock_before["late"]
        skipped = clock_after["skipped"] - clock_before["skipped"]
        busy = clock_after["busy"] - clock_before["busy"]
        cpu = (cpu_after - cpu_before) / wall
        others, not_own = hears(participants.heard, args.codec, count)
        return {
            "participants": count, "cpu": cpu, "per_participant": cpu / count,
            "late_share": 100 * late / max(1, ticks), "late": late, "ticks": ticks,
            "skipped": skipped, "tick_ms": 1e3 * busy / max(1, ticks),
            "packets": received / wall / count, "others": others, "not_own": not_own,
        }
    finally:
        participants.stop()
        for stream in streams:
            try:
                media_call("end_stream", stream_id=stream["stream_id"])
            except Exception as exc:  # the service is stopped after anyway
                print(f"  ending a stream: {exc}")


def run(args: argparse.Namespace) -> int:
    runtime = private_runtime("ssb-conf-")
    process = start_media(runtime)
    try:
        if args.nice is not None:
            # on a shared machine: the service's own capacity, not its neighbours' load
            os.setpriority(os.PRIO_PROCESS, process.pid, args.nice)
        if args.realtime:
            # the service's main thread (its clock) runs whenever it is ready: what one
            # core can do for it, whatever else the machine runs (root only)
            os.sched_setscheduler(process.pid, os.SCHED_FIFO, os.sched_param(10))
        from sipsimple.bus.client import get_bus

        bus = get_bus()
        wait_ready(process, lambda: bus.call("media", "ping", timeout=0.5))
        bus.call("media", "configure", port_range=[20000, 40000])
        print(f"conference: participants in one room's mix, {args.codec}, "
              f"{args.seconds:g} s measured per step after {args.warmup:g} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
              + (f", the service at nice {args.nice}" if args.nice is not None else "")
              + (", the service's clock real-time (SCHED_FIFO)" if args.realtime else ""))
        print(f"{'N':>4} {'CPU %':>7} {'ms/s per N':>10} {'late ticks':>16} {'skipped':>8} "
              f"{'tick ms':>8} {'pkts/s':>7} {'hears':>6}")
        results = []
        for count in args.participants:
            result = measure(count, args, process)
            results.append(result)
            hears_ok = "yes" if result["others"] and result["not_own"] else "NO"
            print(f"{count:>4} {100 * result['cpu']:>7.1f} "
                  f"{1e3 * result['per_participant']:>10.3f} "
                  f"{result['late']:>5.0f}/{result['ticks']:<5.0f}{result['late_share']:>5.2f}% "
                  f"{result['skipped']:>8.0f} {result['tick_ms']:>8.2f} "
                  f"{result['packets']:>7.1f} {hears_ok:>6}", flush=True)
            if result["late_share"] >= TARGET_LATE_SHARE and not args.keep_going:
                print(f"ticks go late from {count} participants on: the ramp stops")
                break
        print("mixer alone (this process, CPU per tick of a room's mix; baseline: every "
              "sink summed on its own):")
        for count in args.participants:
            minus, naive = mixer_work(count)
            print(f"{count:>4} participants: {1e3 * minus:.2f} ms per tick with mix-minus, "
                  f"{1e3 * naive:.2f} ms summed per sink ({naive / minus:.1f}x)")
        on_time = [r for r in results if r["late_share"] < TARGET_LATE_SHARE]
        best = max(on_time, key=lambda r: r["participants"]) if on_time else None
        if best is None:
            print("participants per core: none on time (every step had late ticks)")
            print(f"target ({TARGET_PARTICIPANTS} participants on one core, "
                  f"<{TARGET_LATE_SHARE}% late ticks): NOT met")
            return 0
        per_core = 1 / best["per_participant"]
        print(f"participants per core: {per_core:.0f} (from {best['participants']:.0f} "
              f"participants: {1e3 * best['per_participant']:.3f} ms of CPU per second each)")
        met = best["participants"] >= TARGET_PARTICIPANTS and per_core >= TARGET_PARTICIPANTS
        print(f"target ({TARGET_PARTICIPANTS} participants on one core, "
              f"<{TARGET_LATE_SHARE}% late ticks): "
              f"{'met' if met else 'NOT met'} ({best['participants']:.0f} on time at "
              f"{100 * best['cpu']:.0f}% of a core)")
        return 0
    finally:
        from sipsimple.bus.client import reset_bus

        reset_bus()
        stop(process)
        remove_runtime(runtime, args.keep)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", default="10,25,50,75,100,150,200",
                        type=lambda text: [int(n) for n in text.split(",")])
    parser.add_argument("--codec", choices=sorted(CODECS), default="PCMU")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--keep-going", action="store_true",
                        help="measure every step, even after ticks went late")
    parser.add_argument("--keep", action="store_true", help="keep the services' logs")
    parser.add_argument("--nice", type=int, metavar="N",
                        help="run the media service at this niceness (negative needs root): "
                             "on a shared machine, its capacity rather than the neighbours'")
    parser.add_argument("--realtime", action="store_true",
                        help="run the service's main thread SCHED_FIFO (root): on a shared "
                             "machine, whether one core keeps up regardless of the others")
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
