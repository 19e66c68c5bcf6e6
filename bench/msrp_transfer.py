"""Benchmark: a file between two local accounts (FileTransferStream) over TCP and TLS,
against a raw socket copy of the same bytes.

    python bench/msrp_transfer.py [--size 1G] [--rounds 1] [--transports tcp,tls] [--dir D]
                                  [--keep]

What is timed, per transport (``tcp``: msrp, ``tls``: msrps with a test CA):

- **msrp**: as a user would: alice and bob, two accounts of one
  AccountManager/SessionManager in the bench process, over a signalling and an
  msrp service started by the bench (private runtime directory, loopback).
  Alice calls bob with a ChatStream and a FileTransferStream offering a file of
  random bytes (its selector, size and SHA-1, hashed by the service before:
  timed apart); bob accepts at once and receives into
  ``file_transfer.directory``. Timed from ``Session.connect()`` to bob's
  ``FileTransferStreamDidFinish`` (the file written, size and SHA-1 checked,
  synced and linked under its final name). Also the msrp service's CPU over
  that time (``/proc/<pid>/stat``; both ends of the transfer are in it, as for
  any two local accounts) and its peak resident memory.
- **chat**: once bob has half of the file (his ``FileTransferStreamGotChunk``),
  alice sends a chat message; timed from ``send_message`` to bob's
  ``ChatStreamGotMessage`` (target: within 100 ms while the file goes).
- **raw (baseline)**: the same file read and sent over a loopback socket by
  one thread, received and written to a file by another, 64 KiB at a time,
  synced at the end as the service syncs its file: plain TCP, and TLS with the
  same certificate as the msrp service.

The printed ratios put msrp against the raw copy of the same transport, and
msrps against raw TCP too (issue 14's target: 30% of raw TCP). Runs alternate
msrp and raw; the best of ``--rounds`` counts. The files (the source, the
received file and the raw copy: three times ``--size``) go in ``--dir``: by
default /dev/shm, in memory, so that a shared disk's moods do not drown the
transfer's own cost (fsync is free there); a disk directory measures both with
its writes. Nothing is asserted on time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _services import (
    private_runtime,
    remove_runtime,
    route_to,
    start_msrp,
    start_sessions,
    start_signalling,
    stop,
    wait_ready,
)

HERE = Path(__file__).resolve().parent
DOMAIN = "bench.test"
READ = 64 * 1024  # the raw copy's reads and writes
TARGET_RATIO = 0.30  # issue 14: at least 30% of a raw TCP copy
TARGET_CHAT = 0.100  # issue 14: a chat message within 100 ms during the transfer
WAIT = 600.0  # for one notification (a large file on a slow machine)
# The files in memory by default: the shared VM's disk took new writes at 0.6 to
# 4.8 GB/s from one run to the next, which drowned what the transfer itself costs.
DEFAULT_DIR = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())


def parse_size(text: str) -> int:
    """Bytes from ``1G``, ``256M``, ``64K`` or a plain number (powers of 1024)."""
    match = re.fullmatch(r"(\d+)([KMG]?)(?:i?B)?", text.strip(), re.IGNORECASE)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1G, 256M, 4096)")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match[2].upper()]
    return int(match[1]) * scale


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as file:
        left = size
        while left > 0:
            file.write(block[: min(left, len(block))])
            left -= len(block)


def cpu_seconds(pid: int) -> float:
    """User and system time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def test_ca(directory: Path) -> tuple[Path, Path, Path]:
    """CA file, certificate and key for 127.0.0.1, from the tests' throwaway CA.

    tests/harness/tlsca.py stands alone (it imports only cryptography): loaded
    by its path, so that the bench and the TLS tests make their CA alike.
    """
    spec = importlib.util.spec_from_file_location(
        "bench_tlsca", HERE.parent / "tests" / "harness" / "tlsca.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    ca = module.TestCA(directory)
    leaf = ca.issue("msrp", "msrp.bench.test", ips=("127.0.0.1",))
    return ca.path, leaf.cert, leaf.key


# --- baseline: a raw socket copy ---------------------------------------------------


def raw_copy(source: Path, target: Path,
             tls: tuple[ssl.SSLContext, ssl.SSLContext] | None) -> tuple[float, float]:
    """Seconds to send `source` over loopback (TLS: server and client contexts) into `target`,
    synced, and the CPU seconds this process used meanwhile (both threads)."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    failure: list[BaseException] = []

    def receive() -> None:
        try:
            conn, _ = server.accept()
            if tls is not None:
                conn = tls[0].wrap_socket(conn, server_side=True)
            buffer = bytearray(READ)
            view = memoryview(buffer)
            with conn, open(target, "wb") as out:
                while count := conn.recv_into(buffer):
                    out.write(view[:count])
                if tls is not None:
                    conn.unwrap()  # our close_notify after the sender's
                out.flush()
                os.fsync(out.fileno())  # as the msrp service syncs a received file
        except BaseException as exc:  # reported on the caller's thread
            failure.append(exc)

    receiver = threading.Thread(target=receive)
    receiver.start()
    cpu = time.process_time()
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as plain:
        conn = plain if tls is None else tls[1].wrap_socket(plain, server_hostname="127.0.0.1")
        with conn, open(source, "rb") as file:
            while piece := file.read(READ):
                conn.sendall(piece)
            if tls is not None:
                conn.unwrap()  # close_notify, then wait for the receiver's
    receiver.join()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    server.close()
    if failure:
        raise failure[0]
    if target.stat().st_size != source.stat().st_size:
        raise RuntimeError("the raw copy lost bytes")
    return elapsed, cpu


# --- msrp: two accounts through the facade ----------------------------------------


class Watcher:
    """Times the notifications the bench waits for; bob accepts every offer at once."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seen: list[tuple[float, Any]] = []

    def handle_notification(self, notification: Any) -> None:
        now = time.perf_counter()
        if notification.name == "SIPSessionNewIncoming":
            notification.sender.accept(notification.data.streams)
        with self._cond:
            self._seen.append((now, notification))
            self._cond.notify_all()

    def wait(self, match: Callable[[Any], bool], what: str, timeout: float = WAIT,
             failures: bool = True) -> tuple[float, Any]:
        """When the first notification `match` accepts was posted, and it; raises on a
        failed session or stream first, with `failures`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for when, notification in self._seen:
                    if match(notification):
                        return when, notification
                    if failures and notification.name in ("SIPSessionDidFail",
                                                          "MediaStreamDidFail"):
                        raise RuntimeError(f"{notification.name} of {notification.sender!r}: "
                                           f"{vars(notification.data)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"no {what} within {timeout:g} s")
                self._cond.wait(left)

    def clear(self) -> None:
        with self._cond:
            self._seen.clear()


NAMES = ("SIPSessionNewIncoming", "SIPSessionDidStart", "SIPSessionDidEnd", "SIPSessionDidFail",
         "MediaStreamDidFail", "FileTransferStreamGotChunk", "FileTransferStreamDidFinish",
         "ChatStreamGotMessage")


class Accounts:
    """alice and bob in this process, claimed on the signalling service."""

    def __init__(self, downloads: Path) -> None:
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.backend import MemoryBackend
        from sipsimple.configuration.settings import SIPSimpleSettings
        from sipsimple.notification import NotificationCenter

        ConfigurationManager().start(MemoryBackend())
        settings = SIPSimpleSettings()
        settings.file_transfer.directory = str(downloads)
        settings.save()
        self.alice = start_sessions(DOMAIN)["alice"]
        self.route, self.to_bob = route_to(DOMAIN)
        self.watcher = Watcher()
        for name in NAMES:
            NotificationCenter().add_observer(self.watcher, name=name)

    def transfer(self, selector: Any, transport: str, msrp_pid: int) -> dict[str, Any]:
        """One file from alice to bob, with a chat message half way; what was measured."""
        from sipsimple.session import Session
        from sipsimple.streams import ChatStream, FileTransferStream

        watcher = self.watcher
        watcher.clear()
        self.alice.msrp.transport = transport
        chat, files = ChatStream(self.alice), FileTransferStream(self.alice, selector)
        session = Session(self.alice)
        size = selector.size
        cpu = cpu_seconds(msrp_pid)
        start = time.perf_counter()
        session.connect(self.to_bob, [self.route], [chat, files])

        def half_way(n: Any) -> bool:
            return (n.name == "FileTransferStreamGotChunk"
                    and n.data.transferred_bytes * 2 >= size) or (
                n.name == "FileTransferStreamDidFinish" and n.sender is not files)

        _, incoming = watcher.wait(lambda n: n.name == "SIPSessionNewIncoming", "offer")
        answering = incoming.sender
        _, first = watcher.wait(half_way, "half of the file")
        during = first.name == "FileTransferStreamGotChunk"
        sent = time.perf_counter()
        chat.send_message("sent during the transfer")
        got, _ = watcher.wait(lambda n: n.name == "ChatStreamGotMessage", "the chat message")
        done, finished = watcher.wait(lambda n: n.name == "FileTransferStreamDidFinish"
                                      and n.sender is not files, "the file")
        elapsed = done - start
        used = cpu_seconds(msrp_pid) - cpu
        if finished.data.error is not None:
            raise RuntimeError(f"the transfer failed: {finished.data.error}")
        received = Path(finished.data.file_path)
        if received.stat().st_size != size:
            raise RuntimeError(f"{received} has {received.stat().st_size} bytes, not {size}")
        received.unlink()
        if not chat.tls == files.tls == (transport == "tls"):
            raise RuntimeError(f"the streams did not use {transport}")
        watcher.wait(lambda n: n.name == "FileTransferStreamDidFinish" and n.sender is files,
                     "the sender's end")
        session.end()  # a stream may fail as its peer closes first: both orders are fine
        for ending in (session, answering):
            watcher.wait(lambda n, s=ending: n.name == "SIPSessionDidEnd" and n.sender is s,
                         "the end of the call", failures=False)
        return {"seconds": elapsed, "cpu": used, "chat": got - sent, "during": during,
                "chat_first": got < done}

    def stop(self) -> None:
        from sipsimple.account import AccountManager
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.notification import NotificationCenter
        from sipsimple.session import SessionManager

        for name in NAMES:
            NotificationCenter().discard_observer(self.watcher, name=name)
        SessionManager().stop()
        AccountManager().stop()
        ConfigurationManager().stop()


# --- main ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--size", type=parse_size, default=1 << 30,
                        help="the file's size: 1G (default), 256M, 4M, or bytes")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each, the best counts")
    parser.add_argument("--transports", default="tcp,tls",
                        help="which to run: tcp,tls (default), tcp or tls")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR,
                        help=f"where the files go (default {DEFAULT_DIR}: memory, where it "
                             "exists; a directory on a disk adds its writes)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the runtime directory (service logs) and print its path")
    args = parser.parse_args()
    if args.size <= 0 or args.rounds <= 0:
        parser.error("--size and --rounds need positive numbers")
    transports = [name for name in ("tcp", "tls") if name in args.transports.split(",")]
    if not transports or set(args.transports.split(",")) - set(transports):
        parser.error("--transports: tcp, tls or tcp,tls")

    runtime = private_runtime("ssb-msrptransfer-")
    services: list[subprocess.Popen[bytes]] = []
    accounts: Accounts | None = None
    best: dict[str, float] = {}
    chats: dict[str, list[tuple[float, bool, bool]]] = {}
    cpu: dict[str, float] = {}
    files: Path | None = None
    try:
        from sipsimple.bus.client import get_bus, reset_bus
        from sipsimple.streams.msrp import file_selector_for

        ca_file, cert, key = test_ca(runtime)
        services.append(start_signalling(runtime))
        services.append(start_msrp(runtime, SIPSIMPLE_MSRP_TLS_CERTIFICATE=str(cert),
                                   SIPSIMPLE_MSRP_TLS_PRIVATE_KEY=str(key),
                                   SIPSIMPLE_MSRP_TLS_CA_FILE=str(ca_file)))
        bus = get_bus()
        for service, name in zip(services, ("signalling", "msrp"), strict=True):
            wait_ready(service, lambda name=name: bus.call(name, "status", timeout=1))
        msrp_pid = services[1].pid
        files = Path(tempfile.mkdtemp(prefix="ssb-msrptransfer-", dir=args.dir))
        source, downloads = files / "source.bin", files / "in"
        downloads.mkdir()
        make_file(source, args.size)
        started = time.perf_counter()
        selector = file_selector_for(str(source))
        hashed = time.perf_counter() - started
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert, key)
        client = ssl.create_default_context(cafile=str(ca_file))
        accounts = Accounts(downloads)
        for _ in range(args.rounds):
            for transport in transports:
                result = accounts.transfer(selector, transport, msrp_pid)
                if result["seconds"] < best.get(f"msrp {transport}", float("inf")):
                    best[f"msrp {transport}"] = result["seconds"]
                    cpu[transport] = result["cpu"]
                chats.setdefault(transport, []).append(
                    (result["chat"], result["during"], result["chat_first"]))
                copy = files / "copy.bin"
                seconds, used = raw_copy(source, copy,
                                         (server, client) if transport == "tls" else None)
                copy.unlink()
                if seconds < best.get(f"raw {transport}", float("inf")):
                    best[f"raw {transport}"] = seconds
                    cpu[f"raw {transport}"] = used
        memory = peak_memory(msrp_pid)
    finally:
        if accounts is not None:
            with contextlib.suppress(Exception):
                accounts.stop()
        with contextlib.suppress(Exception):
            reset_bus()
        for service in reversed(services):
            stop(service)
        remove_runtime(runtime, args.keep)
        if files is not None:
            shutil.rmtree(files, ignore_errors=True)

    megabytes = args.size / 1e6
    rate = {name: megabytes / seconds for name, seconds in best.items()}
    print(f"file: {args.size} bytes ({args.size / (1 << 20):.1f} MiB), best of {args.rounds}")
    print(f"hash: {megabytes / hashed:.0f} MB/s (the sender's SHA-1, before the transfer)")
    for transport in transports:
        used = cpu[transport]
        seconds = best[f"msrp {transport}"]
        print(f"msrp {transport}: {rate[f'msrp {transport}']:.0f} MB/s, msrp service CPU "
              f"{used:.2f} s ({used / seconds:.0%} of a core, "
              f"{megabytes / max(used, 1e-9):.0f} MB per CPU second)")
        used = cpu[f"raw {transport}"]
        print(f"raw {transport}: {rate[f'raw {transport}']:.0f} MB/s, CPU {used:.2f} s "
              f"({megabytes / max(used, 1e-9):.0f} MB per CPU second)")
    for ours, raw in (("tcp", "tcp"), ("tls", "tls"), ("tls", "tcp")):
        if ours in transports and raw in transports:
            msrp = best[f"msrp {ours}"]
            print(f"ratio msrp {ours} / raw {raw}: {best[f'raw {raw}'] / msrp:.0%}"
                  + (f" (target {TARGET_RATIO:.0%})" if ours == raw == "tcp" else ""))
    for transport, samples in chats.items():
        where = "half way through the transfer" if all(s[1] for s in samples) else \
            "after the transfer (the file was too small to catch it half way)"
        order = "before" if all(s[2] for s in samples) else "not always before"
        print(f"chat during msrp {transport}: {max(s[0] for s in samples) * 1e3:.1f} ms at "
              f"worst (target {TARGET_CHAT * 1e3:.0f} ms), sent {where}, delivered {order} "
              "the file was done")
    print(f"msrp service peak memory: {memory / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
