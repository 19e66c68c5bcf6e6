"""bench/session_setup.py runs end to end: a smoke run of three calls a side, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.pjsua import needs_pjsua2

pytestmark = [
    pytest.mark.integration,
    needs_pjsua2,
]

BENCH = Path(__file__).resolve().parent.parent / "bench" / "session_setup.py"


def test_session_setup_quick_run_prints_both_sides_the_ratio_and_no_leak() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "3", "--warmup", "1", "--rounds", "2"],
        capture_output=True, text=True, timeout=180, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]

    def numbers(label: str) -> list[float]:
        [row] = [line for line in lines if line.startswith(label)]
        return [float(word) for word in row[len(label):].split()]

    for label in ("pjsua2 (baseline)", "sipsimple"):
        p50, p99, mean = numbers(label)
        assert p50 > 0 and p99 >= p50 and mean > 0, result.stdout
    assert any(line.startswith("ratio p50 ") for line in lines), result.stdout
    assert any(line.startswith("target: sipsimple p50 no more than 3x pjsua2, p99 no more "
                               "than 4x") for line in lines), result.stdout
    assert any(line.startswith("leaks: none") for line in lines), result.stdout


def test_session_setup_refuses_a_zero_call_count() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "0"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert result.returncode == 2 and "--calls" in result.stderr
