"""bench/soak.py: a short soak with a SIGKILL of every service, and its leak check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import soak  # noqa: E402 - bench/ is not a package


@pytest.mark.integration
@pytest.mark.timeout(600)  # five restarts and the settling of UDP transactions (32 s)
def test_short_soak_with_a_kill_of_every_service_ends_every_call_and_leaks_nothing() -> None:
    """Two media workers, so that the restart of one that is not the first (whose
    streams the facade must find and end on that worker) is covered too."""
    result = subprocess.run(
        [sys.executable, str(BENCH / "soak.py"), "--minutes", "0.5", "--concurrency", "3",
         "--hold-min", "0.5", "--hold-max", "2", "--sample", "2", "--kill", "--seed", "7"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "SIPSIMPLE_MEDIA_WORKERS": "2"},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    out = result.stdout
    good, _, bad = (int(n) for n in re.search(
        r"calls: (\d+) ended as they should, (\d+) cut by a kill, (\d+) did not", out).groups())
    assert good > 0 and bad == 0, out
    killed = set(re.findall(r"kill of ([\w-]+): back after", out))
    assert killed == {"dns", "media", "media-1", "msrp", "signalling"}, out
    assert "every count back to idle" in out, out


def test_a_count_off_its_idle_value_is_reported() -> None:
    idle = {"signalling": {"threads": 4, "objects": {"sessions": 0, "transactions": 0}},
            "facade": {"threads": 9, "objects": {"sessions": 0}}}
    same = {"signalling": {"threads": 4, "objects": {"sessions": 0, "transactions": 0}},
            "facade": {"threads": 9, "objects": {"sessions": 0}}}
    assert soak.differences(idle, same) == []
    leaked = {"signalling": {"threads": 5, "objects": {"sessions": 0, "transactions": 2}},
              "facade": {"threads": 9, "objects": {"sessions": 1}}}
    assert soak.differences(idle, leaked) == [
        "signalling threads: 5 (idle 4)", "signalling transactions: 2 (idle 0)",
        "facade sessions: 1 (idle 0)"]
    assert soak.differences(idle, {**same, "signalling": None}) == ["signalling: no answer"]


def test_a_call_counts_as_cut_only_around_an_outage() -> None:
    outage = soak.Outage("media", killed_at=100.0, restarted_at=102.0)
    assert soak.during_outage([outage], 90.0) is outage  # up when the kill came
    assert soak.during_outage([outage], 106.0) is outage  # placed before back + 5 s
    assert soak.during_outage([outage], 108.0) is None  # well after the restart
    assert soak.during_outage([soak.Outage("dns", 100.0)], 500.0) is not None  # never back
