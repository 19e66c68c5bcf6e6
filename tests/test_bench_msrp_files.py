"""bench/msrp_files.py runs: a small file, every line printed, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "msrp_files.py"


def test_msrp_files_bench_quick_run() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--megabytes", "4"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    for name in ("hash", "msrp", "tcp", "ratio msrp / tcp", "service peak memory"):
        assert name in names, result.stdout
