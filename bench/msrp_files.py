"""Benchmark: one file through the msrp service (RFC 5547), against a raw TCP file copy.

    python bench/msrp_files.py [--megabytes 1024] [--rounds 1] [--keep]

What is timed:

- **msrp**: two sessions of one msrp service started by the bench (private
  runtime directory) connected over loopback; `send_file` of a file of random
  bytes to the moment it appears under its final name in the receiving
  directory (written to a `.partial`, size and SHA-1 checked, linked: the
  whole RFC 5547 path). The sender's hash (`hash_file`) is timed apart.
- **tcp (baseline)**: the same file read and sent over a loopback TCP
  connection by one thread, received and written to a file by another,
  64 KiB at a time: the raw copy issue 14 sets the transfer against (>= 30%).

Also printed: the service's peak resident memory (VmHWM), both sessions being
in that one process: it stays far below the file's size (bounded memory).
The file lives in /tmp (twice, and once more for the baseline): mind the
space for large runs. Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _services import private_runtime, remove_runtime, stop, wait_ready

READ = 64 * 1024


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as file:
        left = size
        while left > 0:
            file.write(block[: min(left, len(block))])
            left -= len(block)


def tcp_copy(source: Path, target: Path) -> float:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def receive() -> None:
        conn, _ = server.accept()
        buffer = bytearray(READ)
        view = memoryview(buffer)
        with conn, open(target, "wb") as out:
            while count := conn.recv_into(buffer):
                out.write(view[:count])

    receiver = threading.Thread(target=receive)
    receiver.start()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn, open(source, "rb") as file:
        while piece := file.read(READ):
            conn.sendall(piece)
    receiver.join()
    elapsed = time.perf_counter() - start
    server.close()
    return elapsed


def msrp_transfer(bus: object, source: Path, target: Path) -> tuple[float, float]:
    call = bus.call  # type: ignore[attr-defined]
    # the service reads and writes files only in the directories its client names
    call("msrp", "configure", directories=[str(source.parent), str(target)])
    start = time.perf_counter()
    selector = call("msrp", "hash_file", path=str(source), timeout=3600)
    hashed = time.perf_counter() - start
    a = call("msrp", "create_session", address="127.0.0.1")
    b = call("msrp", "create_session", address="127.0.0.1")
    call("msrp", "receive_file", session_id=b["session_id"], directory=str(target),
         name=selector["name"], size=selector["size"], hash=selector["hash"])
    call("msrp", "start_session", session_id=b["session_id"], remote_path=[a["path"]],
         active=False)
    call("msrp", "start_session", session_id=a["session_id"], remote_path=[b["path"]],
         active=True)
    final = target / selector["name"]
    start = time.perf_counter()
    call("msrp", "send_file", session_id=a["session_id"], path=str(source))
    while not final.exists():  # linked only once size and SHA-1 are checked
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    for session in (a, b):  # ending one may end the other (its peer went away)
        with contextlib.suppress(Exception):
            call("msrp", "end_session", session_id=session["session_id"])
    final.unlink()
    return hashed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the runtime directory")
    args = parser.parse_args()
    runtime = private_runtime("ssb-msrpfiles-")
    service = None
    try:
        from sipsimple.bus.client import get_bus

        with open(runtime / "msrp.log", "wb") as log:
            service = subprocess.Popen([sys.executable, "-m", "sipsimple_services.msrp"],
                                       cwd=runtime, stdout=subprocess.DEVNULL, stderr=log)
        bus = get_bus()
        wait_ready(service, lambda: bus.call("msrp", "status", timeout=1))
        size = args.megabytes * 1024 * 1024
        source, target = runtime / "source.bin", runtime / "in"
        target.mkdir()
        make_file(source, size)
        msrp_best = tcp_best = hash_best = float("inf")
        for _ in range(args.rounds):
            hashed, elapsed = msrp_transfer(bus, source, target)
            hash_best, msrp_best = min(hash_best, hashed), min(msrp_best, elapsed)
            copy = runtime / "copy.bin"
            tcp_best = min(tcp_best, tcp_copy(source, copy))
            copy.unlink()
        megabytes = size / 1e6
        print(f"file: {args.megabytes} MiB")
        print(f"hash: {megabytes / hash_best:.0f} MB/s")
        print(f"msrp: {megabytes / msrp_best:.0f} MB/s")
        print(f"tcp: {megabytes / tcp_best:.0f} MB/s")
        print(f"ratio msrp / tcp: {tcp_best / msrp_best:.0%}")
        print(f"service peak memory: {peak_memory(service.pid) / 1e6:.0f} MB")
    finally:
        stop(service)
        remove_runtime(runtime, args.keep)


if __name__ == "__main__":
    main()
