"""Running SIPp (apt package sip-tester) against our services, on loopback only.

Every instance gets its own SIP port (-p), media ports (-mp: SIPp binds N
and N+2) and control port (-cp), and -nostdin; its exit code is 0 when every
call of the scenario succeeded.
"""

from __future__ import annotations

import io
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import peers

SCENARIOS = Path(__file__).parent.parent / "data" / "sipp"

needs_sipp = peers.needs("sipp (Debian package sip-tester)", shutil.which("sipp") is not None)


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _bound(port: int, kind: int) -> bool:
    """Some socket has `port` (UDP, or TCP listening), read from /proc/net so that the
    look does not itself hold the port; a bind probe where /proc is missing."""
    names = ("udp", "udp6") if kind == socket.SOCK_DGRAM else ("tcp", "tcp6")
    tables = [Path("/proc/net") / name for name in names]
    if not any(table.exists() for table in tables):
        return not _free(port, kind)
    wanted = f":{port:04X}"
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(wanted) and (kind == socket.SOCK_DGRAM or fields[3] == "0A"):
                return True
    return False


def free_ports(count: int = 1, *, kinds: tuple[int, ...] = (socket.SOCK_DGRAM,)) -> int:
    """A base port N such that N..N+count-1 are free for every socket kind asked.

    Below the kernel's ephemeral range (32768 and up on Linux) and the media
    service's RTP ports (16384-32767 by default, taken by the services of parallel
    tests), so that nothing else takes it between this probe and the peer's bind."""
    for _ in range(200):
        base = random.randrange(10000, 16384 - count)
        if all(_free(base + i, kind) for i in range(count) for kind in kinds):
            return base
    raise RuntimeError("no free ports")


def _port_taken(code: int | None, output: bytes) -> bool:
    """SIPp's exit before any call because a port it was given is bound already."""
    return code == 254 and b"Address already in use" in output


def scenario(name: str, workdir: Path, **replace: str) -> Path:
    """The scenario file, copied to `workdir` with ``@KEY@`` markers replaced."""
    text = (SCENARIOS / name).read_text()
    for key, value in replace.items():
        text = text.replace(f"@{key}@", value)
    path = workdir / name
    path.write_text(text)
    return path


@dataclass
class SIPp:
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def command(
        self, scenario_file: Path, *, remote: str | None = None, transport: str = "u1",
        service: str = "service", calls: int = 1, rate: float | None = None,
        limit: int | None = None, timeout: float = 20, port: int | None = None,
        keys: dict[str, str] | None = None, address: str = "127.0.0.1",
    ) -> list[str]:
        """SIPp's command line; ``address`` is where it binds (another than loopback
        inside a lab namespace, whose ports are all free: `port` then given)."""
        sip_port = port or free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        command = [
            "sipp", "-sf", str(scenario_file), "-i", address, "-t", transport,
            "-p", str(sip_port), "-mp", str(free_ports(4)), "-cp", str(free_ports()),
            "-nostdin", "-m", str(calls), "-timeout", f"{timeout:g}s", "-timeout_error",
            "-s", service, "-trace_err", "-error_file", str(self.workdir / "sipp_errors.log"),
        ]
        if rate is not None:
            command += ["-r", f"{rate:g}"]
        if limit is not None:
            command += ["-l", str(limit)]
        for key, value in (keys or {}).items():  # [key] in the scenario's messages
            command += ["-key", key, value]
        if remote is not None:
            command.append(remote)
        return command

    def run(self, scenario_file: Path, **options: object) -> subprocess.CompletedProcess[bytes]:
        timeout = float(options.get("timeout", 20))  # type: ignore[arg-type]
        for _attempt in range(3):
            result = subprocess.run(
                self.command(scenario_file, **options),  # type: ignore[arg-type]
                cwd=self.workdir, capture_output=True, timeout=timeout + 15,
            )
            # A port free when picked was taken before SIPp bound it (a parallel
            # test): SIPp exits 254 before any call; run again on new media and
            # control ports.
            output = result.stdout + result.stderr
            if not _port_taken(result.returncode, output):
                return result
        return result

    def start(self, scenario_file: Path, **options: object) -> subprocess.Popen[bytes]:
        """Start SIPp; returns once its SIP port is bound (or it has exited already).

        A request sent before then would meet the kernel's ICMP port-unreachable,
        which fails it at once (no retransmission reaches a late peer).
        """
        transport = str(options.get("transport", "u1"))
        kind = socket.SOCK_DGRAM if transport.startswith("u") else socket.SOCK_STREAM
        port = options.get("port")
        if port is None:
            port = options["port"] = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        for _attempt in range(3):
            process = subprocess.Popen(
                self.command(scenario_file, **options),  # type: ignore[arg-type]
                cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )
            self.processes.append(process)
            deadline = time.monotonic() + 15
            while process.poll() is None and not _bound(int(str(port)), kind):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sipp did not bind its port {port}: {self.errors()}")
                time.sleep(0.02)
            if process.returncode != 254:
                return process
            # as in run(): a media or control port taken meanwhile; new ones
            output = process.stderr.read() if process.stderr else b""
            if not _port_taken(process.returncode, output):
                process.stderr = io.BytesIO(output)  # read: the caller reads it again
                return process
            self.processes.remove(process)
        return process

    def start_uas(self, scenario_file: Path, **options: object) -> tuple[
            subprocess.Popen[bytes], int]:
        """SIPp answering with `scenario_file` on a port of its own: it and the port, once bound."""
        port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        return self.start(scenario_file, port=port, **options), port

    def errors(self) -> str:
        path = self.workdir / "sipp_errors.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)

