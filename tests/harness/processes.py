"""Fixtures that run real service processes: alone, or all under supervisord."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sipsimple import supervision
from sipsimple.bus.client import BusClient, BusError, reset_bus


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh private runtime directory (short path: ipc paths are limited to ~100 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ss-", dir="/tmp"))
    state = Path(tempfile.mkdtemp(prefix="sst-", dir="/tmp"))
    monkeypatch.setenv("SIPSIMPLE_RUNTIME_DIR", str(path))
    monkeypatch.setenv("SIPSIMPLE_STATE_DIR", str(state))
    reset_bus()  # a client left by a test without this fixture points at another directory
    yield path
    reset_bus()
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(state, ignore_errors=True)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL when the process has not ended within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_ping(service: str, timeout: float = 10.0) -> dict[str, object]:
    client = BusClient(services=[service], post_notifications=False)
    client.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return client.ping(service, timeout=0.5)
            except BusError:
                if time.monotonic() > deadline:
                    raise
    finally:
        client.stop(goodbye=False)


TRACEBACK = "Traceback (most recent call last)"


@dataclass
class _Spawned:
    """A service process whose output is kept, and copied where its stderr went
    before: to our stderr as it was when the service started (pytest's capture,
    so a failing test shows the service's log)."""

    module: str
    process: subprocess.Popen[bytes]
    tracebacks_expected: bool
    log: Path | None = None
    output: list[bytes] = field(default_factory=list)
    sink: int = field(default_factory=lambda: os.dup(2))
    reader: threading.Thread | None = None

    def start_reading(self) -> None:
        if self.log is not None:
            self.log.touch()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        copy = self.log.open("ab", buffering=0) if self.log is not None else None
        for line in self.process.stdout:
            self.output.append(line)
            with contextlib.suppress(OSError):
                os.write(self.sink, line)
                if copy is not None:
                    copy.write(line)
        if copy is not None:
            copy.close()

    def text(self) -> str:
        if self.reader is not None:
            self.reader.join(5)  # the pipe ends with the process
            if not self.reader.is_alive():
                os.close(self.sink)
                self.reader = None
        return b"".join(self.output).decode(errors="replace")


@pytest.fixture
def spawn_service(runtime: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m <module>` with the test's runtime directory; SIGTERM at teardown.

    The test fails if a service it did not stop itself exits other than cleanly
    after SIGTERM, or if a traceback shows in a service's output (a bug logged
    and survived is still a bug), unless the test asks for them with
    ``tracebacks_expected=True``.
    """
    spawned: list[_Spawned] = []

    def spawn(
        module: str, service: str, *, tracebacks_expected: bool = False,
        log: Path | None = None, netns: str | None = None, **env: str
    ) -> subprocess.Popen[bytes]:
        """``log``: a file that gets a copy of the service's output, when a test reads it;
        ``netns``: a network namespace to run it in (``ip netns exec`` execs the
        service, so the process is the service's; harness.netns makes them)."""
        prefix = ["ip", "netns", "exec", netns] if netns is not None else []
        process = subprocess.Popen(
            [*prefix, sys.executable, "-m", module],
            env={**os.environ, **env},
            cwd=Path(__file__).parent.parent,  # tests/: where harness modules live
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        spawned.append(_Spawned(module, process, tracebacks_expected, log))
        spawned[-1].start_reading()
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{module} exited with {process.returncode}:\n{spawned[-1].text()[-3000:]}"
                )
            try:
                wait_for_ping(service, timeout=0.5)
                return process
            except BusError:
                if time.monotonic() > deadline:
                    raise

    yield spawn
    stopped = [item for item in spawned if item.process.poll() is None]
    for item in stopped:
        item.process.send_signal(signal.SIGTERM)
    problems: list[str] = []
    for item in spawned:
        try:
            item.process.wait(10)
        except subprocess.TimeoutExpired:
            item.process.kill()
            item.process.wait(5)
            problems.append(f"{item.module} did not exit within 10 s of SIGTERM")
        output = item.text()
        if item in stopped and item.process.returncode != 0:
            problems.append(f"{item.module} exited with {item.process.returncode} after SIGTERM")
        if not item.tracebacks_expected and TRACEBACK in output:
            start = output.index(TRACEBACK)
            problems.append(f"a traceback in the output of {item.module}:\n"
                            f"{output[max(0, start - 300):start + 3000]}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def supervised(runtime: Path) -> Iterator[Path]:
    """All four services under supervisord, stopped at teardown."""
    supervision.start()
    yield runtime
    supervision.stop()
