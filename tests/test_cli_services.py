"""`sipsimple services ...` as a user runs it: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from harness.cli import run_console_script

pytestmark = pytest.mark.integration


sipsimple = run_console_script


def test_start_status_stop(runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPSIMPLE_MEDIA_WORKERS", "2")
    stopped = sipsimple("services", "status", "--json")
    assert stopped.returncode == 0
    assert {row["state"] for row in json.loads(stopped.stdout)} == {"STOPPED"}
    try:
        started = sipsimple("services", "start")
        assert started.returncode == 0, started.stderr
        again = sipsimple("services", "start")
        assert again.returncode == 0, again.stderr
        status = sipsimple("services", "status", "--json")
        rows = json.loads(status.stdout)
        assert [r["service"] for r in rows] == ["dns", "media", "media-1", "msrp", "signalling"]
        assert all(r["state"] == "RUNNING" and r["answers"] for r in rows)
        table = sipsimple("services", "status")
        assert table.stdout.count("RUNNING") == 5
    finally:
        done = sipsimple("services", "stop")
    assert done.returncode == 0 and "stopped" in done.stdout


def test_a_failure_is_one_line_without_traceback(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Services that cannot run (their interpreter exits at once): a real failure
    # from the supervision layer, reported as one line naming the services.
    monkeypatch.setenv("SIPSIMPLE_PYTHON", "/bin/false")
    try:
        failed = sipsimple("services", "start", "--timeout", "3")
    finally:
        monkeypatch.delenv("SIPSIMPLE_PYTHON")
        sipsimple("services", "stop")
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: service(s) did not come up")
    assert "dns" in lines[0] and "signalling" in lines[0]


def test_concurrent_starts_both_succeed(runtime: Path) -> None:
    executable = shutil.which("sipsimple")
    assert executable
    try:
        starters = [
            subprocess.Popen([executable, "services", "start"], stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        for starter in starters:
            _, err = starter.communicate(timeout=60)
            assert starter.returncode == 0, err
    finally:
        sipsimple("services", "stop")
