"""bench/session_rate.py runs end to end: a smoke run of a few audio calls, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "session_rate.py"


def test_session_rate_quick_run_starts_every_call_and_leaks_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--rates", "4", "--seconds", "1", "--hold", "0.2"],
        capture_output=True, text=True, timeout=180, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    [row] = [words for words in lines if words and words[0] == "4"]
    assert row[1] == "4/4" and row[2] == "0", result.stdout  # started, failed
    p50, p90, p99, most = (float(word) for word in row[3:])
    assert 0 < p50 <= p90 <= p99 <= most, result.stdout
    assert any(words[:2] == ["leaks:", "none"] for words in lines), result.stdout


def test_session_rate_refuses_a_bad_rate() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--rates", "0"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert result.returncode == 2 and "--rates" in result.stderr
