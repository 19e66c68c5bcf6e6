"""bench/facade_load.py runs end to end: a smoke run with one and two media workers, no
timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "facade_load.py"


def test_facade_load_quick_run_with_one_and_two_workers() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--workers", "1,2", "--rates", "4", "--seconds", "1",
         "--hold", "1", "--concurrent", "3", "--opus", "2", "--window", "1"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = [line.split() for line in result.stdout.splitlines()]
    rates = [words for words in lines if words and words[0] == "4"]
    assert len(rates) == 2, output  # one rate step per run
    for row in rates:
        assert row[1] == "4/4" and row[2] == "0", output  # started, failed (RTP both ways)
        p50, p99 = float(row[4]), float(row[5])
        assert 0 < p50 <= p99, output
    # the second run's setup step shows both workers' CPU and RSS
    assert "media-1" in result.stdout.split("== 2 media worker(s)")[1], output
    concurrent = [line for line in result.stdout.splitlines() if "3 calls (6 streams)" in line]
    assert len(concurrent) == 2 and all(" 0 failed" in line for line in concurrent), output
    opus = [line for line in result.stdout.splitlines() if "2 calls (4 streams)" in line]
    assert len(opus) == 2 and all(" 0 failed" in line for line in opus), output
    assert "opus scaling 1 -> 2 workers:" in result.stdout, output
    assert any(words[:2] == ["leaks:", "none"] for words in lines), output


def test_facade_load_refuses_bad_arguments() -> None:
    for args in (["--rates", "0"], ["--workers", "x"], ["--concurrent", "0"]):
        result = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True,
                                text=True, timeout=60, env=dict(os.environ))
        assert result.returncode == 2, (args, result.stderr)
