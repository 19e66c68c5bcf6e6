"""coturn (Debian package `coturn`) on loopback: a STUN and TURN server for the ICE tests.

`turnserver` runs in the foreground without a config file, listening on a
free UDP port of 127.0.0.1, relaying from 127.0.0.1 (loopback peers
allowed: both calling accounts are on this machine), with long-term
credentials for one user. The fixture waits until a STUN binding request is
answered and stops the process by its PID. The NAT probe's and the NAT lab's
server, on several addresses, is `harness.turnserver`'s.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import peers
from .processes import stop_process
from .sipp import free_ports
from .turnserver import COTURN_PEER, TURNSERVER
from .turnserver import needs_coturn as needs_coturn

USERNAME = "alice"
PASSWORD = "s3cret-turn"
REALM = "sipsimple.test"


@dataclass(frozen=True)
class Coturn:
    host: str
    port: int
    username: str
    password: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _answers_stun(address: tuple[str, int]) -> bool:
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(request, address)
        try:
            data = sock.recv(2048)
        except OSError:
            return False
    return data[:2] == b"\x01\x01" and data[8:20] == request[8:20]


@contextlib.contextmanager
def run_coturn(host: str = "127.0.0.1") -> Iterator[Coturn]:
    if not Path(TURNSERVER).exists():
        peers.skip(COTURN_PEER)
    workdir = Path(tempfile.mkdtemp(prefix="coturn-"))
    port = free_ports(1, kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
    relay_low = random.randrange(61000, 64000, 100)  # above the kernel's ephemeral ports
    log = workdir / "turnserver.log"
    command = [
        TURNSERVER, "-n", f"--listening-ip={host}", f"--listening-port={port}",
        f"--relay-ip={host}", f"--min-port={relay_low}", f"--max-port={relay_low + 99}",
        "--no-tls", "--no-dtls", "--no-tcp-relay", "--lt-cred-mech",
        f"--user={USERNAME}:{PASSWORD}", f"--realm={REALM}", "--allow-loopback-peers",
        "--no-cli", "--no-rfc5780", f"--pidfile={workdir / 'turnserver.pid'}",
        f"--userdb={workdir / 'turndb'}", "--log-file=stdout", "--simple-log",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = Coturn(host, port, USERNAME, PASSWORD, process, log)
    try:
        deadline = time.monotonic() + 10
        while not _answers_stun((host, port)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start:\n{server.output()[-3000:]}")
        yield server
    finally:
        stop_process(process, 5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def coturn() -> Iterator[Coturn]:
    with run_coturn() as server:
        yield server
