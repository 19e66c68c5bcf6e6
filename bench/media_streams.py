"""Media benchmark: N concurrent RTP streams through the media service on loopback.

    python bench/media_streams.py [--streams 200] [--codec PCMU|PCMA|G722|opus]
                                  [--no-srtp] [--seconds 10] [--warmup 2]

The bench starts a media service in a private runtime directory and makes
N streams in pairs inside it, each pair sending to each other on 127.0.0.1
(so every stream sends and receives 50 packets a second, and the service
does both ends of every call). Load per pair, as in a call: a tone is
played into stream A (resampled, encoded, SRTP-protected, sent); stream B
decodes what it receives and echoes it back (decoded, resampled, encoded
again); A's received echo is checked and counted but, as for a call heard
only by the null device, not decoded.

Measured over `--seconds` after `--warmup`: the service's CPU time
(/proc/<pid>/stat) per stream, the share of clock ticks that ran late
(started more than 10 ms after their time: every stream's frame is sent
late then), the average work of a tick against the 20 ms frame, and the
share of frames lost or late at the receivers (RTP loss, packets too late
for the jitter buffer, frames concealed). Both shares are printed against
the target: a late tick delays packets, which the receivers' jitter
buffers may still absorb. Past saturation the clock skips the ticks it
cannot make (counted) and the bus is still served: the bench pings the
service every 50 ms through the window and prints the reply times. The
floor, measured in the same run, is a bare Python loop sending and
receiving the same datagrams (the G.711+SRTP packet size) on two loopback
UDP sockets: the per-packet cost of Python and the kernel, which no engine
written in Python can go below. Printed: streams per core for both and the
ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _services import stop, wait_ready

CODECS = {  # name: (payload type, clock rate, sample rate, telephone-event clock)
    "PCMU": (0, 8000, 8000, 8000),
    "PCMA": (8, 8000, 8000, 8000),
    "G722": (9, 8000, 16000, 8000),
    "opus": (96, 48000, 48000, 48000),
}
PACKETS_PER_SECOND = 50
FRAME_SECONDS = 0.02
LATE_TICK_MS = 10  # the service's definition of a late tick (half a frame)


def media(peer: dict[str, Any], codec: str, srtp: dict[str, Any] | None) -> dict[str, Any]:
    pt, clock, rate, event_clock = CODECS[codec]
    return {
        "codec": codec, "payload_type": pt, "local_payload_type": pt, "clock_rate": clock,
        "sample_rate": rate, "telephone_event_payload_type": 101,
        "local_telephone_event_payload_type": 101, "telephone_event_clock_rate": event_clock,
        "ptime": 20, "direction": "sendrecv", "remote_address": "127.0.0.1",
        "remote_port": peer["rtp_port"], "remote_rtcp_address": "127.0.0.1",
        "remote_rtcp_port": peer["rtcp_port"], "rtcp_mux": False, "srtp": srtp,
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_floor(packet_size: int, packets: int = 100_000) -> float:
    """CPU seconds per packet sent and received by a bare Python loop."""
    import socket

    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    b.setblocking(False)
    target = b.getsockname()
    data = os.urandom(packet_size)
    start = time.process_time()
    for _ in range(packets):
        a.sendto(data, target)
        b.recvfrom(2048)
    elapsed = time.process_time() - start
    a.close()
    b.close()
    return elapsed / packets


def run(args: argparse.Namespace) -> int:
    runtime = Path(tempfile.mkdtemp(prefix="ssb-", dir="/tmp"))
    env = {**os.environ, "SIPSIMPLE_RUNTIME_DIR": str(runtime), "SIPSIMPLE_LOG_LEVEL": "WARNING"}
    os.environ.update(SIPSIMPLE_RUNTIME_DIR=str(runtime))
    from sipsimple.bus.client import BusClient

    process = subprocess.Popen([sys.executable, "-m", "sipsimple_services.media"], env=env)
    bus = BusClient(services=["media"], post_notifications=False)
    bus.start()
    try:
        wait_ready(process, lambda: bus.call("media", "ping", timeout=0.5))
        bus.call("media", "configure", port_range=[20000, 40000])
        pairs = max(1, args.streams // 2)
        tone = bus.call("media", "create_port", kind="tone",
                        params={"frequencies": [1000], "volume": 40})["port_id"]
        streams: list[dict[str, Any]] = []
        for _ in range(pairs):
            a = bus.call("media", "create_stream", address="127.0.0.1")
            b = bus.call("media", "create_stream", address="127.0.0.1")
            ka, kb = os.urandom(30), os.urandom(30)
            suite = "AES_CM_128_HMAC_SHA1_80"
            sa = None if args.no_srtp else {"suite": suite, "tag": 1, "local_key": ka,
                                            "remote_key": kb}
            sb = None if args.no_srtp else {"suite": suite, "tag": 1, "local_key": kb,
                                            "remote_key": ka}
            bus.call("media", "start_stream", stream_id=a["stream_id"],
                     media=media(b, args.codec, sa))
            bus.call("media", "start_stream", stream_id=b["stream_id"],
                     media=media(a, args.codec, sb))
            bus.call("media", "connect_ports", source=tone, sink=a["stream_id"])
            bus.call("media", "connect_ports", source=b["stream_id"], sink=b["stream_id"])
            streams += [a, b]
        time.sleep(args.warmup)

        def totals() -> dict[str, Any]:
            result = {"received": 0, "lost": 0, "late": 0, "concealed": 0}
            for stream in streams:
                stats = bus.call("media", "stream_stats", stream_id=stream["stream_id"])
                result["received"] += stats["packets_received"]
                result["lost"] += max(0, stats["lost"])
                result["late"] += stats["late"]
                result["concealed"] += stats["concealed"]
            return result

        def clock() -> dict[str, int]:
            stats = bus.call("media", "stream_stats", stream_id=streams[0]["stream_id"])
            return dict(stats["clock"])

        pings: list[float] = []
        pinging = threading.Event()

        def ping() -> None:  # what a facade's heartbeats see of the service
            while pinging.is_set():
                sent = time.monotonic()
                bus.call("media", "ping", timeout=30)
                pings.append(time.monotonic() - sent)
                time.sleep(0.05)

        # Loss counters are read around the window; the CPU time and the clock
        # right at its edges (reading every stream's counters takes a while).
        before = totals()
        clock_before, cpu_before, wall_before = clock(), cpu_seconds(process.pid), time.monotonic()
        pinging.set()
        pinger = threading.Thread(target=ping, daemon=True)
        pinger.start()
        time.sleep(args.seconds)
        pinging.clear()
        cpu_after, wall_after, clock_after = cpu_seconds(process.pid), time.monotonic(), clock()
        pinger.join()
        after = totals()
        wall = wall_after - wall_before
        cpu = (cpu_after - cpu_before) / wall  # cores used
        ticks = clock_after["ticks"] - clock_before["ticks"]
        late_ticks = clock_after["late"] - clock_before["late"]
        skipped = clock_after["skipped"] - clock_before["skipped"]
        busy = clock_after.get("busy", 0.0) - clock_before.get("busy", 0.0)
        received = after["received"] - before["received"]
        bad = sum(after[k] - before[k] for k in ("lost", "late", "concealed"))
        n = len(streams)
        per_stream = cpu / n
        packet_size = {"PCMU": 172, "PCMA": 172, "G722": 172, "opus": 92}[args.codec]
        packet_size += 0 if args.no_srtp else 10
        floor = udp_floor(packet_size)
        floor_per_stream = floor * PACKETS_PER_SECOND  # one send + one receive per packet
        print(f"streams: {n} ({pairs} pairs), codec {args.codec}, "
              f"{'RTP' if args.no_srtp else 'SRTP'}, {args.seconds:.0f} s measured")
        print(f"service CPU: {cpu * 100:.1f}% of a core, {per_stream * 1e3:.3f} ms/s per stream")
        late_share = 100 * late_ticks / max(1, ticks)
        bad_share = 100 * bad / max(1, received)
        print(f"late ticks: {late_ticks}/{ticks} ({late_share:.2f}%) started more than "
              f"{LATE_TICK_MS} ms after their time: every stream's frame of that tick was "
              f"sent that late")
        print(f"skipped ticks: {skipped}/{ticks + skipped} frames "
              f"({100 * skipped / max(1, ticks + skipped):.2f}%) neither sent nor played: "
              f"the clock could not make them")
        pings.sort()
        print(f"bus under load: ping answered in {1e3 * pings[len(pings) // 2]:.1f} ms median, "
              f"{1e3 * pings[len(pings) * 99 // 100]:.1f} ms p99, {1e3 * pings[-1]:.1f} ms max "
              f"({len(pings)} pings)")
        print(f"tick work: {1e3 * busy / max(1, ticks):.2f} ms per tick on average, "
              f"{100 * busy / max(1e-9, ticks * FRAME_SECONDS):.0f}% of the 20 ms frame "
              f"(the receiving in between not counted)")
        print(f"frames lost, late or concealed at the receivers: {bad}/{received} "
              f"({bad_share:.3f}%; late: arrived after their turn in the jitter buffer)")
        print(f"streams per core: {1 / per_stream:.0f} (floor: bare Python UDP send+receive, "
              f"{floor * 1e6:.2f} us/packet -> {1 / floor_per_stream:.0f})")
        print(f"ratio to the floor: {per_stream / floor_per_stream:.1f}x")
        # Issue 5: at least 200 streams on one core with under 0.5% of frames late.
        # Both readings of "late" are given: frames sent late (late ticks) and
        # frames late or lost at the receiver.
        print(f"target (200 streams/core, <0.5% late): streams/core "
              f"{'met' if 1 / per_stream >= 200 else 'NOT met'}; late ticks {late_share:.2f}% "
              f"{'met' if late_share < 0.5 else 'NOT met'}; receivers {bad_share:.3f}% "
              f"{'met' if bad_share < 0.5 else 'NOT met'}")
        for stream in streams:
            bus.call("media", "end_stream", stream_id=stream["stream_id"])
        return 0
    finally:
        bus.stop()
        stop(process)
        shutil.rmtree(runtime, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--codec", choices=sorted(CODECS), default="PCMU")
    parser.add_argument("--no-srtp", action="store_true")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    return run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
