"""Fixtures that run real service processes: alone, or all under supervisord."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


@pytest.fixture
def spawn_service(runtime: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `python -m <module>` with the test's runtime directory; SIGTERM at teardown."""
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(module: str, service: str, *, log: Path | None = None,
              **env: str) -> subprocess.Popen[bytes]:
        """``log``: a file for the service's stderr (its log lines), when a test reads them."""
        output = log.open("ab") if log is not None else None
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env},
            cwd=Path(__file__).parent.parent,  # tests/: where harness modules live
            stderr=output,
        )
        if output is not None:
            output.close()  # the child has its own descriptor
        processes.append(process)
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{module} exited with {process.returncode}")
            try:
                wait_for_ping(service, timeout=0.5)
                return process
            except BusError:
                if time.monotonic() > deadline:
                    raise

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def supervised(runtime: Path) -> Iterator[Path]:
    """All four services under supervisord, stopped at teardown."""
    supervision.start()
    yield runtime
    supervision.stop()
