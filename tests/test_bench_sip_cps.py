"""bench/sip_cps.py runs end to end: a smoke run at very low rates, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.sipp import needs_sipp

pytestmark = [
    pytest.mark.integration,
    needs_sipp,
]

BENCH = Path(__file__).resolve().parent.parent / "bench" / "sip_cps.py"


def test_sip_cps_quick_run_prints_both_ramps_and_the_ratio() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--rates", "2,4", "--seconds-per-step", "1"],
        capture_output=True, text=True, timeout=180, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.strip().startswith("sipp UAS (baseline)") for line in lines), result.stdout
    assert any(line.strip().startswith("signalling service") for line in lines), result.stdout
    assert any(line.strip().startswith("ratio ") for line in lines), result.stdout
    # The service answered every call of the steps it ran, the lowest rate at least:
    # its calls, not the labels, make the smoke run. (Being late on a loaded machine
    # ends the ramp early; that is a speed, and no failure here.)
    rows = [line.split() for line in lines]
    steps = [row for row in rows if row[:1] == ["signalling"] and row[1].isdigit()]
    assert steps and steps[0][1] == "2", result.stdout
    for _name, rate, calls, successful, failed, exit_code, *_rest in steps:
        assert (successful, failed, exit_code) == (calls, "0", "0"), (rate, result.stdout)
    agent = next(line for line in lines if line.strip().startswith("agent:"))
    assert " 0 accept errors" in agent, result.stdout
    assert any("target: at least 300 calls per second" in line for line in lines)
