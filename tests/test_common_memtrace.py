"""services/common/memtrace.py: off unless asked; on SIGUSR2 a report of the heap, the
garbage collector and (with tracemalloc) what grew and what only the collector frees."""

from __future__ import annotations

import gc
import os
import signal
import time
import tracemalloc
from pathlib import Path

import gevent
import pytest

from sipsimple_services.common import memtrace


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_nothing_without_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(memtrace.ENV, raising=False)
    assert memtrace.install("media", tmp_path) is None
    assert not tracemalloc.is_tracing()
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL


def test_malloc_totals_are_glibc_s() -> None:
    totals = memtrace.malloc_totals()
    assert totals["heap"] >= totals["in_use"] > 0
    assert totals["free"] >= 0


def test_sigusr2_reports_with_tracemalloc(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.setenv(memtrace.ENV, "3")
    watcher = memtrace.install("media", tmp_path)
    gc.collect()  # earlier tests' garbage out of the census
    gc.disable()  # the cycles below stay for the census to find
    try:
        assert tracemalloc.is_tracing()
        kept = [bytearray(4096) for _ in range(200)]
        for _ in range(300):
            _Cycle()
        os.kill(os.getpid(), signal.SIGUSR2)
        report = tmp_path / "media-memtrace.txt"
        deadline = time.monotonic() + 10
        while not report.exists():
            assert time.monotonic() < deadline, "no report after SIGUSR2"
            gevent.sleep(0.01)
        text = report.read_text()
    finally:
        gc.enable()
        watcher.cancel()
        tracemalloc.stop()
    assert f"pid {os.getpid()}" in text
    assert "malloc heap=" in text and "gc gen0:" in text and "traced " in text
    assert "_Cycle 300" in text  # the census names what only the collector frees
    assert "test_common_memtrace.py" in text  # the line that allocated `kept` grew
    del kept


def test_without_tracemalloc_the_report_counts_pymalloc_arenas(tmp_path: Path) -> None:
    reporter = memtrace._Reporter(tmp_path / "x.txt", 0)
    reporter.report()
    first = (tmp_path / "x.txt").read_text().splitlines()[0]
    assert int(first.rsplit("pymalloc arenas ", 1)[1]) > 0
