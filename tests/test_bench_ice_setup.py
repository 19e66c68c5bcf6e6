"""bench/ice_setup.py runs end to end: a smoke run of a few calls a side, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ice_setup.py"


def test_ice_setup_quick_run_prints_both_sides_the_added_time_and_no_leak() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "3", "--warmup", "1", "--rounds", "2"],
        capture_output=True, text=True, timeout=240, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]

    def numbers(label: str) -> list[float]:
        [row] = [line for line in lines if line.startswith(label)]
        return [float(word) for word in row[len(label):].split()]

    for label in ("ICE off", "ICE on, host pairs"):
        p50, p90, mean = numbers(label)
        assert p50 > 0 and p90 >= p50 and mean > 0, result.stdout
    assert any(line.startswith("added by ICE: p50 ") for line in lines), result.stdout
    assert any(line.startswith("target: ICE adds under 100 ms") for line in lines), result.stdout
    assert any(line.startswith("leaks: none") for line in lines), result.stdout


def test_ice_setup_refuses_a_zero_call_count() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "0"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert result.returncode == 2 and "--calls" in result.stderr
