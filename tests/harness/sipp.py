"""Running SIPp (apt package sip-tester) against our services, on loopback only.

Every instance gets its own SIP port (-p), media ports (-mp: SIPp binds N
and N+2) and control port (-cp), and -nostdin; its exit code is 0 when every
call of the scenario succeeded.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).parent.parent / "data" / "sipp"

needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp (sip-tester) missing")


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1, *, kinds: tuple[int, ...] = (socket.SOCK_DGRAM,)) -> int:
    """A base port N such that N..N+count-1 are free for every socket kind asked."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - count)
        if all(_free(base + i, kind) for i in range(count) for kind in kinds):
            return base
    raise RuntimeError("no free ports")


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
    ) -> list[str]:
        sip_port = port or free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        command = [
            "sipp", "-sf", str(scenario_file), "-i", "127.0.0.1", "-t", transport,
            "-p", str(sip_port), "-mp", str(free_ports(4)), "-cp", str(free_ports()),
            "-nostdin", "-m", str(calls), "-timeout", f"{timeout:g}s", "-timeout_error",
            "-s", service, "-trace_err", "-error_file", str(self.workdir / "sipp_errors.log"),
        ]
        if rate is not None:
            command += ["-r", f"{rate:g}"]
        if limit is not None:
            command += ["-l", str(limit)]
        if remote is not None:
            command.append(remote)
        return command

    def run(self, scenario_file: Path, **options: object) -> subprocess.CompletedProcess[bytes]:
        timeout = float(options.get("timeout", 20))  # type: ignore[arg-type]
        return subprocess.run(
            self.command(scenario_file, **options),  # type: ignore[arg-type]
            cwd=self.workdir, capture_output=True, timeout=timeout + 15,
        )

    def start(self, scenario_file: Path, **options: object) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            self.command(scenario_file, **options),  # type: ignore[arg-type]
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def start_uas(self, scenario_file: Path, **options: object) -> tuple[
            subprocess.Popen[bytes], int]:
        """SIPp answering with `scenario_file`; returns it and its SIP port once bound."""
        port = free_ports(kinds=(socket.SOCK_DGRAM, socket.SOCK_STREAM))
        process = self.start(scenario_file, port=port, **options)
        deadline = time.monotonic() + 10
        while True:  # bound by SIPp once we cannot bind it
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    return process, port
            assert process.poll() is None, self.errors()
            assert time.monotonic() < deadline, "sipp did not bind its port"
            time.sleep(0.05)

    def errors(self) -> str:
        path = self.workdir / "sipp_errors.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)

