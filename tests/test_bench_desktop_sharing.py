"""bench/desktop_sharing.py runs: a small screen, every line printed, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "desktop_sharing.py"


def test_desktop_sharing_bench_quick_run() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--server", "synthetic", "--seconds",
                             "0.5", "--width", "320", "--height", "240"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    for name in ("screen", "direct", "chain", "ratio chain / direct"):
        assert name in names, result.stdout
    assert "frames/s" in result.stdout and "MB/s" in result.stdout
