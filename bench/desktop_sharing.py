"""Benchmark: full-screen raw RFB updates through the desktop-sharing chain, against direct.

    python bench/desktop_sharing.py [--seconds 3] [--rounds 3] [--width 1920 --height 1080]
                                    [--server x11vnc|synthetic] [--services 2] [--relays]
                                    [--keep]

One VNC server, one RFB client (`RFBClient` below: the same code both times,
raw encoding only, asking for the whole screen non-incrementally and waiting
for each update before the next request, as a viewer does):

- **direct**: the client connected to the VNC server.
- **chain**: the client connected to the address of a viewer splice of the
  msrp service (`splice_listen`), whose session is connected over MSRP on
  loopback to a second session spliced to the VNC server (`splice_session`
  mode server): VNC server -> TCP -> msrp service (MSRP SENDs) -> TCP ->
  msrp service -> TCP -> client; what ExternalVNCServerHandler and
  ExternalVNCViewerHandler do in a call (the SIP signalling is not in the data
  path, so the bench makes the two sessions itself). ``--services 2`` (the
  default) gives each side its own msrp service, as the sharer's and the
  viewer's machines have in a call (the viewer's runs under a helper process
  of the bench, with a runtime directory of its own); ``--services 1`` puts
  both sessions in one service, as for two accounts of one user.

The server: ``x11vnc`` on an ``Xvfb`` display of that size (the default when
both are installed), or ``synthetic``, a process of this bench that answers
each request with a frame of random pixels kept in memory (the chain's cost
alone, without x11vnc's). Printed: frames and megabytes per second of each,
and the ratio chain / direct (issue 15's target: at least 50%). Nothing is
asserted on time.

``--relays`` measures a third connection in the same rounds: the client through
two processes of this bench that only copy bytes both ways (1 MiB `recv_into`
and `sendall`, no MSRP, no framing), the ceiling of any chain with two
relaying processes in the path on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _services import private_runtime, remove_runtime, stop, wait_ready

VERSION = b"RFB 003.008\n"


class RFBClient:
    """RFB 3.8, security None, raw: full-screen updates read into one buffer."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.read(12)[:8] != b"RFB 003.":
            raise RuntimeError("not an RFB server")
        self.sock.sendall(VERSION)
        count = self.read(1)[0]
        if 1 not in self.read(count):
            raise RuntimeError("the server wants authentication")
        self.sock.sendall(b"\x01")
        if self.read(4) != b"\0\0\0\0":
            raise RuntimeError("security handshake failed")
        self.sock.sendall(b"\x01")
        self.width, self.height = struct.unpack(">HH", self.read(4))
        bits = self.read(16)[0]
        if bits != 32:
            raise RuntimeError(f"the server sends {bits} bits a pixel, not 32")
        self.read(struct.unpack(">I", self.read(4))[0])
        self.sock.sendall(b"\x02\x00\x00\x01" + struct.pack(">i", 0))  # raw only
        self.frame = bytearray(self.width * self.height * 4)

    def read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = self.sock.recv(size - len(data))
            if not piece:
                raise EOFError("the server closed the connection")
            data += piece
        return data

    def read_into(self, view: memoryview) -> None:
        while view:
            count = self.sock.recv_into(view)
            if not count:
                raise EOFError("the server closed the connection")
            view = view[count:]

    def update(self) -> int:
        """One full-screen update; the bytes it took."""
        self.sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, self.width, self.height))
        total = 0
        while True:
            kind = self.read(1)[0]
            if kind == 0:
                break
            if kind == 3:  # server cut text
                self.read(struct.unpack(">3xI", self.read(7))[0])
            elif kind != 2:  # 2: bell
                raise RuntimeError(f"unexpected server message {kind}")
        (count,) = struct.unpack(">xH", self.read(3))
        view = memoryview(self.frame)
        for _ in range(count):
            _x, y, w, h, encoding = struct.unpack(">HHHHi", self.read(12))
            total += 12
            if encoding != 0:
                continue  # a pseudo-encoding (no pixels)
            size = w * h * 4
            if w == self.width:
                self.read_into(view[y * w * 4:y * w * 4 + size])
            else:
                self.read_into(memoryview(bytearray(size)))
            total += size
        return total + 4

    def close(self) -> None:
        self.sock.close()


def measure(client: RFBClient, seconds: float) -> tuple[int, int, float]:
    """Frames, bytes and seconds of updates for about `seconds` (after one to warm up)."""
    client.update()
    frames = size = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        size += client.update()
        frames += 1
    return frames, size, elapsed


SYNTHETIC = r'''
import os, socket, struct, sys
width, height = int(sys.argv[1]), int(sys.argv[2])
pixels = os.urandom(width * height * 4)
header = struct.pack(">BxH", 0, 1) + struct.pack(">HHHHi", 0, 0, width, height, 0)
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)

def read(conn, size):
    data = b""
    while len(data) < size:
        piece = conn.recv(size - len(data))
        if not piece:
            raise EOFError
        data += piece
    return data

def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        conn.sendall(b"RFB 003.008\n"); read(conn, 12)
        conn.sendall(b"\x01\x01"); read(conn, 1); conn.sendall(b"\0\0\0\0"); read(conn, 1)
        conn.sendall(struct.pack(">HHBBBBHHHBBB3xI", width, height, 32, 24, 0, 1, 255, 255,
                                 255, 16, 8, 0, 5) + b"bench")
        while True:
            kind = read(conn, 1)[0]
            if kind == 0: read(conn, 19)
            elif kind == 2: read(conn, 4 * struct.unpack(">xH", read(conn, 3))[0])
            elif kind == 3: read(conn, 9); conn.sendall(header); conn.sendall(pixels)
            elif kind == 4: read(conn, 7)
            elif kind == 5: read(conn, 5)
            else: break
    except (EOFError, OSError):
        pass
    conn.close()

import threading
while True:
    threading.Thread(target=serve, args=(server.accept()[0],), daemon=True).start()
'''


RELAY = r'''
import socket, sys, threading
target = (sys.argv[1], int(sys.argv[2]))
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
inward, _ = server.accept()
outward = socket.create_connection(target)

def copy(source, sink):
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    try:
        while count := source.recv_into(buffer):
            sink.sendall(view[:count])
    except OSError:
        pass
    for sock in (source, sink):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

for sock in (inward, outward):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
threading.Thread(target=copy, args=(outward, inward), daemon=True).start()
copy(inward, outward)
'''


@contextlib.contextmanager
def plain_relays(server: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """The address of two relays in a row to `server` (each connects on once accepted)."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        address = server
        for _ in range(2):
            process = subprocess.Popen([sys.executable, "-c", RELAY, *map(str, address)],
                                       stdout=subprocess.PIPE)
            processes.append(process)
            assert process.stdout is not None
            address = ("127.0.0.1", int(process.stdout.readline()))
        yield address
    finally:
        for process in processes:
            process.kill()
            process.wait()


@contextlib.contextmanager
def synthetic_server(width: int, height: int) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen([sys.executable, "-c", SYNTHETIC, str(width), str(height)],
                               stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        yield "127.0.0.1", int(process.stdout.readline())
    finally:
        process.kill()
        process.wait()


@contextlib.contextmanager
def x11vnc_server(width: int, height: int) -> Iterator[tuple[str, int]]:
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                             f"{width}x{height}x24", "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    vnc = None
    try:
        with os.fdopen(read) as numbers:
            display = ":" + numbers.readline().strip()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # no polling delay, no deferred updates: x11vnc sends a requested frame at once
        vnc = subprocess.Popen(["x11vnc", "-display", display, "-rfbport", str(port),
                                "-localhost", "-nopw", "-forever", "-shared", "-quiet",
                                "-noipv6", "-nocursor", "-defer", "0", "-wait", "5",
                                "-noxdamage"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or vnc.poll() is not None:
                    raise RuntimeError("x11vnc did not start") from None
                time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        for process in (vnc, xvfb):
            stop(process)


@contextlib.contextmanager
def chain(bus: object, server: tuple[str, int]) -> Iterator[tuple[str, int]]:
    """The viewer's address of two spliced sessions of the msrp service."""
    call = bus.call  # type: ignore[attr-defined]
    listening = call("msrp", "splice_listen", address="127.0.0.1")
    a = call("msrp", "create_session", address="127.0.0.1")
    b = call("msrp", "create_session", address="127.0.0.1")
    call("msrp", "splice_session", session_id=a["session_id"], mode="viewer",
         listener_id=listening["listener_id"], connect_timeout=30)
    call("msrp", "splice_session", session_id=b["session_id"], mode="server", host=server[0],
         port=server[1], connect_timeout=30)
    types = ["application/x-rfb"]
    call("msrp", "start_session", session_id=b["session_id"], remote_path=[a["path"]],
         active=False, accept_types=types)
    call("msrp", "start_session", session_id=a["session_id"], remote_path=[b["path"]],
         active=True, accept_types=types)
    try:
        yield listening["address"], listening["port"]
    finally:
        for session in (a, b):
            with contextlib.suppress(Exception):
                call("msrp", "end_session", session_id=session["session_id"])


@contextlib.contextmanager
def msrp_service(prefix: str, keep: bool) -> Iterator[tuple[object, Path]]:
    """An msrp service of a private runtime directory, and the bus to it."""
    runtime = private_runtime(prefix)
    service = None
    try:
        from sipsimple.bus.client import get_bus

        with open(runtime / "msrp.log", "wb") as log:
            service = subprocess.Popen([sys.executable, "-m", "sipsimple_services.msrp"],
                                       cwd=runtime, stdout=subprocess.DEVNULL, stderr=log)
        bus = get_bus()
        wait_ready(service, lambda: bus.call("msrp", "status", timeout=1))
        yield bus, runtime
    finally:
        stop(service)
        remove_runtime(runtime, keep)


def viewer_side(server_path: str, keep: bool) -> None:
    """The helper (``--viewer-side PATH``): the viewer's msrp service and spliced session,
    connecting to the server side's session at PATH; prints the viewer's address and
    our path (JSON), runs until stdin closes."""
    with msrp_service("ssb-desktop-viewer-", keep) as (bus, _):
        call = bus.call  # type: ignore[attr-defined]
        listening = call("msrp", "splice_listen", address="127.0.0.1")
        a = call("msrp", "create_session", address="127.0.0.1")
        call("msrp", "splice_session", session_id=a["session_id"], mode="viewer",
             listener_id=listening["listener_id"], connect_timeout=60)
        call("msrp", "start_session", session_id=a["session_id"], remote_path=[server_path],
             active=True, accept_types=["application/x-rfb"])
        print(json.dumps({"path": a["path"], "address": listening["address"],
                          "port": listening["port"]}), flush=True)
        sys.stdin.read()


@contextlib.contextmanager
def chain_apart(bus: object, server: tuple[str, int], keep: bool
                ) -> Iterator[tuple[str, int]]:
    """The viewer's address of a session of our service spliced to `server`, connected
    over MSRP to a spliced session of another msrp service (the helper's)."""
    call = bus.call  # type: ignore[attr-defined]
    b = call("msrp", "create_session", address="127.0.0.1")
    call("msrp", "splice_session", session_id=b["session_id"], mode="server", host=server[0],
         port=server[1], connect_timeout=60)
    env = {k: v for k, v in os.environ.items()
           if k not in ("SIPSIMPLE_RUNTIME_DIR", "SIPSIMPLE_STATE_DIR")}
    helper = subprocess.Popen(
        [sys.executable, __file__, "--viewer-side", b["path"], *(["--keep"] if keep else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=Path(__file__).parent)
    try:
        assert helper.stdout is not None
        line = helper.stdout.readline()
        if not line:
            raise RuntimeError("the viewer side's helper did not start")
        viewer = json.loads(line)
        call("msrp", "start_session", session_id=b["session_id"], remote_path=[viewer["path"]],
             active=False, accept_types=["application/x-rfb"])
        yield viewer["address"], viewer["port"]
    finally:
        with contextlib.suppress(Exception):
            call("msrp", "end_session", session_id=b["session_id"])
        if helper.stdin is not None:
            helper.stdin.close()
        try:
            helper.wait(30)
        except subprocess.TimeoutExpired:
            helper.kill()
            helper.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="of each measurement")
    parser.add_argument("--rounds", type=int, default=3,
                        help="direct and chain measured alternately this often; the best of each")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    have_x = shutil.which("Xvfb") is not None and shutil.which("x11vnc") is not None
    parser.add_argument("--server", choices=("x11vnc", "synthetic"),
                        default="x11vnc" if have_x else "synthetic")
    parser.add_argument("--services", type=int, choices=(1, 2), default=2,
                        help="msrp services: one per side (2), or one for both (1)")
    parser.add_argument("--relays", action="store_true",
                        help="also through two plain byte-copying relays (no MSRP)")
    parser.add_argument("--keep", action="store_true", help="keep the runtime directory")
    parser.add_argument("--viewer-side", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.viewer_side is not None:
        viewer_side(args.viewer_side, args.keep)
        return
    with msrp_service("ssb-desktop-", args.keep) as (bus, _):
        start = x11vnc_server if args.server == "x11vnc" else synthetic_server
        with start(args.width, args.height) as server:
            through = chain(bus, server) if args.services == 1 else \
                chain_apart(bus, server, args.keep)
            best: dict[str, tuple[int, int, float]] = {}
            with through as viewer, contextlib.ExitStack() as stack:
                # one connection each (the viewer splice takes one viewer), all open
                clients = {"direct": RFBClient(server), "chain": RFBClient(viewer)}
                if args.relays:
                    clients["relays"] = RFBClient(stack.enter_context(plain_relays(server)))
                try:
                    for _ in range(args.rounds):  # alternating: noise hits both alike
                        for name, client in clients.items():
                            run = measure(client, args.seconds)
                            if name not in best or \
                                    run[0] / run[2] > best[name][0] / best[name][2]:
                                best[name] = run
                finally:
                    for client in clients.values():
                        client.close()
        print(f"screen: {args.width}x{args.height}, raw, 32 bits a pixel; "
              f"server: {args.server}; msrp services: {args.services}; "
              f"load average {os.getloadavg()[0]:.1f}")
        rates = {}
        for name, (frames, size, elapsed) in best.items():
            rates[name] = frames / elapsed
            print(f"{name}: {frames / elapsed:.1f} frames/s, {size / elapsed / 1e6:.0f} MB/s "
                  f"({frames} frames in {elapsed:.1f} s)")
        print(f"ratio chain / direct: {rates['chain'] / rates['direct']:.0%}")
        if "relays" in rates:
            print(f"ratio relays / direct: {rates['relays'] / rates['direct']:.0%}")
            print(f"ratio chain / relays: {rates['chain'] / rates['relays']:.0%}")


if __name__ == "__main__":
    main()
