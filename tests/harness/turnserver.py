"""coturn's ``turnserver`` (Debian package ``coturn``) on several addresses, on loopback or in a
namespace: the STUN server of the NAT probe and of the NAT lab.

pytest plugin module (in conftest's ``pytest_plugins``): fixture
``turnserver_rfc5780`` runs one on 127.0.0.1 and 127.0.0.2 (both on ``lo``),
so it does RFC 5780 (CHANGE-REQUEST, OTHER-ADDRESS), on free ports;
``turnserver_single`` on 127.0.0.1 only (no RFC 5780). `start_turnserver` is
what both use, and the NAT lab (`harness.netns`) runs it inside its public
namespace.

Long-term credentials ``TURN_USER``/``TURN_PASSWORD`` in realm ``TURN_REALM``;
UDP only (no TCP, TLS or DTLS listeners, no CLI), its log in the test's
directory.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import peers
from harness.processes import stop_process

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
COTURN_PEER = "coturn (Debian package coturn)"
needs_coturn = peers.needs(COTURN_PEER, Path(TURNSERVER).exists())

TURN_USER = "labuser"
TURN_PASSWORD = "lab-secret"
TURN_REALM = "lab.test"


class TurnServerError(RuntimeError):
    pass


@dataclass
class TurnServer:
    process: subprocess.Popen[bytes]
    addresses: tuple[str, ...]
    port: int  # the listening port; the alternate one is port + 1
    log: Path

    @property
    def primary(self) -> tuple[str, int]:
        return self.addresses[0], self.port

    @property
    def other(self) -> tuple[str, int] | None:
        """The OTHER-ADDRESS coturn names (only with two addresses)."""
        return (self.addresses[1], self.port + 1) if len(self.addresses) > 1 else None

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process)


def start_turnserver(addresses: Sequence[str], port: int, directory: Path, *,
                     relay_ip: str | None = None, prefix: Sequence[str] = (),
                     ready: bool = True) -> TurnServer:
    """turnserver on `addresses` (port and port + 1), run through `prefix` (e.g. ip netns exec).

    With ``ready`` it returns once every address answers a Binding request
    (asked from where the server runs: through `prefix` too).
    """
    tag = secrets.token_hex(3)
    log = directory / f"turnserver-{tag}.log"
    args = [*prefix, TURNSERVER, "-n", "--no-cli", "--no-tls", "--no-dtls", "--no-tcp",
            "--listening-port", str(port), "--alt-listening-port", str(port + 1),
            "--relay-ip", relay_ip or addresses[0], "--min-port", "49152", "--max-port", "65000",
            "--lt-cred-mech", "--user", f"{TURN_USER}:{TURN_PASSWORD}", "--realm", TURN_REALM,
            "--fingerprint", "--allow-loopback-peers",
            "--userdb", str(directory / f"turndb-{tag}"),
            "--pidfile", str(directory / f"turnserver-{tag}.pid"),
            "--log-file", str(log), "--simple-log", "--verbose"]
    for address in addresses:
        args += ["--listening-ip", address]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    server = TurnServer(process, tuple(addresses), port, log)
    if not ready:
        return server
    deadline = time.monotonic() + 20
    targets = [(address, port) for address in addresses]
    while True:
        if process.poll() is not None:
            raise TurnServerError(
                f"turnserver exited with {process.returncode}: {server.log_tail()}")
        done = subprocess.run([*prefix, sys.executable, "-c", BINDING_PROBE,
                               *(f"{host}:{p}" for host, p in targets)],
                              capture_output=True, timeout=30)
        if done.returncode == 0:
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise TurnServerError(f"turnserver does not answer: {server.log_tail()}")


# A Binding request to each HOST:PORT argument (stdlib only: it may run inside a
# namespace); exits 0 once all answered, 1 if one stays silent for 0.5 s.
BINDING_PROBE = """
import os, socket, struct, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    tid = os.urandom(12)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    s.sendto(struct.pack("!HHI", 1, 0, 0x2112A442) + tid, (host, int(port)))
    try:
        if s.recvfrom(2048)[0][8:20] != tid:
            sys.exit(1)
    except OSError:
        sys.exit(1)
"""


def free_port_pair(addresses: Sequence[str]) -> int:
    """A UDP port P with P and P + 1 free on every address (the kernel's pick, then checked)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if port >= 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for address in addresses:
                for candidate in (port, port + 1):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sockets.append(sock)
                    sock.bind((address, candidate))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise TurnServerError("no free pair of UDP ports")


def _loopback_turnserver(tmp_path: Path, addresses: Sequence[str]) -> Iterator[TurnServer]:
    if not Path(TURNSERVER).exists():
        peers.skip(COTURN_PEER)
    server = start_turnserver(addresses, free_port_pair(addresses), tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def turnserver_rfc5780(tmp_path: Path) -> Iterator[TurnServer]:
    """coturn on 127.0.0.1 and 127.0.0.2: STUN with RFC 5780, and TURN."""
    yield from _loopback_turnserver(tmp_path, ("127.0.0.1", "127.0.0.2"))


@pytest.fixture
def turnserver_single(tmp_path: Path) -> Iterator[TurnServer]:
    """coturn on 127.0.0.1 only: STUN without OTHER-ADDRESS, and TURN."""
    yield from _loopback_turnserver(tmp_path, ("127.0.0.1",))

