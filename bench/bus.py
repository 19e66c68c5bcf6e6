"""Bus benchmark: our bus against raw pyzmq with the same sockets and msgpack.

    python bench/bus.py [--requests N] [--events N]

Round trip: BusClient.call() to a real Service process (gevent, validation,
ownership tracking) versus a plain DEALER -> ROUTER echo server that decodes
and encodes the same msgpack maps. Event throughput: Service.publish() to the
NotificationCenter on the client side versus a plain PUB -> SUB loop. Both run
in this one invocation, on the same machine, over ipc:// in a private
directory; the ratios are what to compare across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import msgpack
import zmq

SERVICE = "media"  # the benchmark service borrows this name for its endpoints


# --- the two servers (each runs in its own process) -----------------------------


def run_raw_server(command: str, events: str) -> None:
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.bind(command)
    pub = context.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 100_000)  # same queue limit as the bus
    pub.bind(events)
    while True:
        identity, payload = router.recv_multipart()
        request = msgpack.unpackb(payload, raw=False)
        if request["method"] == "emit":
            for index in range(request["params"]["count"]):
                body = {
                    "name": "bench.tick",
                    "sender": "raw",
                    "data": {"index": index},
                    "timestamp": time.time(),
                }
                pub.send_multipart([b"bench.tick", msgpack.packb(body)])
        reply = {"v": 1, "id": request["id"], "result": {"instance": "raw"}}
        router.send_multipart([identity, msgpack.packb(reply)])


def run_bus_service() -> None:
    from sipsimple.bus.schema import Method, Param
    from sipsimple_services.common.service import Service, main

    class BenchService(Service):
        name = SERVICE
        methods: ClassVar[dict[str, Method]] = {"emit": Method("emit", (Param("count", (int,)),))}

        def rpc_emit(self, client: str, count: int) -> int:
            for index in range(count):
                self.publish("bench.tick", "bench", {"index": index})
            return count

    main(BenchService)


# --- measurements ---------------------------------------------------------------


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def raw_round_trips(command: str, count: int) -> list[float]:
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.connect(command)
    samples = []
    for index in range(count):
        payload = msgpack.packb(
            {"v": 1, "id": index, "client": "bench", "method": "heartbeat", "params": {}}
        )
        started = time.perf_counter()
        socket.send(payload)
        reply = msgpack.unpackb(socket.recv(), raw=False)
        samples.append(time.perf_counter() - started)
        assert reply["id"] == index
    socket.close()
    return samples


def bus_round_trips(
    client: Any, times: int, method: str = "heartbeat", **params: Any
) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        client.call(SERVICE, method, **params)
        samples.append(time.perf_counter() - started)
    return samples


def interleaved(runs: dict[str, Any], count: int, rounds: int = 10) -> dict[str, list[float]]:
    """Alternate the contenders in small rounds so that machine noise hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name] += run(count // rounds)
    return samples


def raw_events(command: str, events: str, count: int) -> float:
    context = zmq.Context.instance()
    sub = context.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVHWM, 100_000)
    sub.setsockopt(zmq.RCVTIMEO, 60_000)
    sub.connect(events)
    time.sleep(0.3)  # let the subscription reach the publisher
    dealer = context.socket(zmq.DEALER)
    dealer.connect(command)
    started = time.perf_counter()
    dealer.send(
        msgpack.packb(
            {"v": 1, "id": 1, "client": "b", "method": "emit", "params": {"count": count}}
        )
    )
    for _ in range(count):
        frames = sub.recv_multipart()
        msgpack.unpackb(frames[1], raw=False)
    elapsed = time.perf_counter() - started
    dealer.recv()
    sub.close()
    dealer.close()
    return count / elapsed


class Counter:
    def __init__(self, count: int) -> None:
        self.left = count
        self.done = threading.Event()

    def handle_notification(self, notification: Any) -> None:
        self.left -= 1
        if self.left == 0:
            self.done.set()


def bus_events(client: Any, count: int) -> float:
    from sipsimple.notification import NotificationCenter

    counter = Counter(count)
    NotificationCenter().add_observer(counter, name="bench.tick")
    time.sleep(0.3)
    started = time.perf_counter()
    client.call_async(SERVICE, "emit", {"count": count}, timeout=120)
    if not counter.done.wait(120):
        raise RuntimeError(f"only {count - counter.left} of {count} events arrived")
    elapsed = time.perf_counter() - started
    NotificationCenter().remove_observer(counter, name="bench.tick")
    return count / elapsed


def wait_for(process: subprocess.Popen[bytes], check: Any) -> None:
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            raise RuntimeError("benchmark server exited")
        try:
            check()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--role", choices=["raw-server", "bus-service"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.role == "raw-server":
        run_raw_server(os.environ["BENCH_COMMAND"], os.environ["BENCH_EVENTS"])
        return
    if args.role == "bus-service":
        run_bus_service()
        return

    runtime = Path(tempfile.mkdtemp(prefix="ssb-", dir="/tmp"))
    os.environ["SIPSIMPLE_RUNTIME_DIR"] = str(runtime / "bus")
    os.environ["SIPSIMPLE_LOG_LEVEL"] = "WARNING"
    raw_command, raw_events_ep = f"ipc://{runtime}/raw.cmd", f"ipc://{runtime}/raw.evt"
    env = {**os.environ, "BENCH_COMMAND": raw_command, "BENCH_EVENTS": raw_events_ep}
    me = [sys.executable, str(Path(__file__).resolve())]
    raw = subprocess.Popen([*me, "--role", "raw-server"], env=env)
    ours = subprocess.Popen([*me, "--role", "bus-service"], env=env)
    try:
        from sipsimple.bus.client import BusClient

        client = BusClient(services=[SERVICE])
        client.start()
        wait_for(ours, lambda: client.ping(SERVICE, timeout=0.5))
        wait_for(raw, lambda: raw_round_trips(raw_command, 1))

        warmup = max(100, args.requests // 10)
        raw_round_trips(raw_command, warmup)
        bus_round_trips(client, warmup)
        samples = interleaved(
            {
                "raw": lambda n: raw_round_trips(raw_command, n),
                "heartbeat": lambda n: bus_round_trips(client, n),
                "method": lambda n: bus_round_trips(client, n, "emit", count=0),
            },
            args.requests,
        )
        raw_rate = raw_events(raw_command, raw_events_ep, args.events)
        bus_rate = bus_events(client, args.events)
        client.stop(goodbye=False)
    finally:
        for process in (raw, ours):
            process.terminate()
            process.wait(10)
        shutil.rmtree(runtime, ignore_errors=True)

    raw_p50, raw_p99 = percentiles(samples["raw"])
    print(f"round trip over ipc, {args.requests} requests each, interleaved (microseconds)")
    print(f"  {'':34} {'p50':>8} {'p99':>8} {'p50 ratio':>10} {'p99 ratio':>10}")
    rows = [
        ("raw pyzmq (DEALER/ROUTER, msgpack)", samples["raw"]),
        ("sipsimple heartbeat", samples["heartbeat"]),
        ("sipsimple method with parameters", samples["method"]),
    ]
    for label, values in rows:
        p50, p99 = percentiles(values)
        ratios = f"{p50 / raw_p50:9.2f}x {p99 / raw_p99:9.2f}x"
        print(f"  {label:34} {p50 * 1e6:8.1f} {p99 * 1e6:8.1f} {ratios}")
    print("  target: sipsimple p50 within 1.5x of raw pyzmq")
    print(f"event throughput, {args.events} events (events per second)")
    print(f"  raw pyzmq   {raw_rate:10.0f}")
    print(f"  sipsimple   {bus_rate:10.0f}  (to the NotificationCenter)")
    print(f"  ratio {bus_rate / raw_rate:.2f}x of raw")


if __name__ == "__main__":
    main()
