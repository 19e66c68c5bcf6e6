"""bench/media_streams.py runs end to end: a few streams for a second, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "media_streams.py"


@pytest.mark.parametrize("codec", ["PCMU", "opus"])
def test_media_streams_quick_run_prints_streams_per_core_and_the_ratio(codec: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--streams", "4", "--codec", codec, "--seconds", "1",
         "--warmup", "0.5"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"streams: 4 (2 pairs), codec {codec}, SRTP"), result.stdout
    for start in ("service CPU:", "late ticks:", "skipped ticks:", "bus under load:",
                  "frames lost", "streams per core:",
                  "ratio to the floor:"):
        assert any(line.startswith(start) for line in lines), result.stdout
    # the streams carried audio: packets were received and counted
    lost_line = next(line for line in lines if line.startswith("frames lost"))
    assert int(lost_line.split("/")[1].split()[0]) > 50
