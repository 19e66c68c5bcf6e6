"""bench/ice_setup.py runs end to end: a smoke run of a few calls a side, no timing asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.coturn import Coturn, needs_coturn
from harness.netns import needs_lab

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ice_setup.py"


def run(*options: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "3", "--warmup", "1", "--rounds", "2",
         *options],
        capture_output=True, text=True, timeout=240, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.strip() for line in result.stdout.splitlines()]


def numbers(lines: list[str], label: str) -> tuple[list[float], str]:
    [row] = [line for line in lines if line.startswith(label)]
    words = row[len(label):].split()
    return [float(word) for word in words[:3]], " ".join(words[3:])


def test_ice_setup_quick_run_prints_both_sides_the_added_time_and_no_leak() -> None:
    lines = run()
    for label in ("ICE off", "ICE on, host pairs"):
        (p50, p90, mean), _ = numbers(lines, label)
        assert p50 > 0 and p90 >= p50 and mean > 0, lines
    assert numbers(lines, "ICE on, host pairs")[1] == "pairs (local/remote): host/host"
    assert any(line.startswith("added by ICE (ICE on, host pairs): p50 ") for line in lines)
    assert any(line.startswith("target: ICE adds under 100 ms") for line in lines), lines
    assert "leaks: none" in lines


@needs_coturn
def test_ice_setup_with_a_turn_server_adds_a_relayed_side(coturn: Coturn) -> None:
    lines = run("--turn", f"{coturn.host}:{coturn.port}", "--turn-user", coturn.username,
                "--turn-password", coturn.password)
    (p50, _, _), pairs = numbers(lines, "ICE on, relay only")
    assert p50 > 0 and pairs == "pairs (local/remote): relay/relay", lines
    assert any(line.startswith("added by ICE (ICE on, relay only): p50 ") for line in lines)
    assert "leaks: none" in lines


def test_ice_setup_refuses_a_zero_call_count() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--calls", "0"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    assert result.returncode == 2 and "--calls" in result.stderr


@needs_lab
@needs_coturn
def test_ice_setup_across_the_nat_lab_times_host_srflx_and_relay_pairs_against_ice_off(
) -> None:
    lines = run("--lab")
    for case, pair in (("host", "host/host"), ("srflx", "srflx/host"), ("relay", "relay/relay")):
        (p50, p90, mean), _ = numbers(lines, f"{case}: ICE off")
        assert p50 > 0 and p90 >= p50 and mean > 0, lines
        (p50, _, _), pairs = numbers(lines, f"{case}: ICE on")
        assert p50 > 0 and pairs == f"pairs (local/remote): {pair}", lines
        assert any(line.startswith(f"added by ICE ({case} pairs): p50 ") for line in lines)
    assert "leaks: none" in lines
