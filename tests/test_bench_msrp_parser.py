"""bench/msrp_parser.py runs: a tiny stream, every line printed, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "msrp_parser.py"


def test_msrp_parser_bench_quick_run() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--megabytes", "2", "--chunk-kib", "16", "--read-kib", "48",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    for name in ("parser", "session", "find", "memcpy", "tcp", "ratio parser / tcp"):
        assert name in names, result.stdout
