"""`sipsimple services ...` as a user runs it: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def sipsimple(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("sipsimple")
    assert executable, "the sipsimple console script is not installed"
    return subprocess.run([executable, *args], capture_output=True, text=True, timeout=60)


def test_start_status_stop(runtime: Path) -> None:
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
        assert [r["service"] for r in rows] == ["dns", "media", "msrp", "signalling"]
        assert all(r["state"] == "RUNNING" and r["answers"] for r in rows)
        table = sipsimple("services", "status")
        assert table.stdout.count("RUNNING") == 4
    finally:
        done = sipsimple("services", "stop")
    assert done.returncode == 0 and "stopped" in done.stdout


def test_errors_are_one_line_without_traceback(runtime: Path) -> None:
    bad = sipsimple("services", "start", "--timeout", "not-a-number")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
