"""bench/conference.py runs end to end: a small room for a second, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "conference.py"


def test_conference_quick_run_prints_each_step_and_participants_per_core() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--participants", "3,5", "--seconds", "1",
         "--warmup", "0.5", "--keep-going"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("conference: participants in one room's mix, PCMU"), lines
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    assert set(rows) == {"3", "5"}, result.stdout
    for row in rows.values():
        assert float(row[-2]) > 20  # packets per participant per second came back
        assert row[-1] == "yes"  # participant 0 heard the others' tones, not its own
    for start in ("mixer alone", "   3 participants:", "   5 participants:", "target (50"):
        assert any(line.startswith(start) for line in lines), result.stdout
    assert any(line.startswith("participants per core:") for line in lines), result.stdout
