"""bench/msrp_transfer.py runs: a small file over TCP and TLS, every line printed, no timing
asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "msrp_transfer.py"


def test_msrp_transfer_bench_quick_run_prints_the_ratios() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--size", "4M"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    names = [line.split(":")[0] for line in result.stdout.splitlines()]
    for name in ("file", "hash", "msrp tcp", "raw tcp", "msrp tls", "raw tls",
                 "ratio msrp tcp / raw tcp", "ratio msrp tls / raw tls",
                 "ratio msrp tls / raw tcp", "chat during msrp tcp", "chat during msrp tls",
                 "msrp service peak memory"):
        assert name in names, result.stdout
    assert "target 30%" in result.stdout and "target 100 ms" in result.stdout


def test_msrp_transfer_bench_refuses_a_bad_size() -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--size", "lots"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--size" in result.stderr
