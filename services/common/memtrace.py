"""What fills a service's memory: a debugging aid, off by default (bench/README.md, soak).

With ``SIPSIMPLE_MEMTRACE=N`` in its environment a service starts `tracemalloc`
(N frames per allocation; 0 leaves tracemalloc off and reports only the
allocators) and, on each SIGUSR2, appends a report to
``<runtime dir>/<service>-memtrace.txt``: glibc's heap totals (`mallinfo2`:
bytes in use and free inside the heap, mmapped blocks), the count of pymalloc
arenas (with tracemalloc off), the threads, and the garbage collector's
counts. With tracemalloc on it adds the lines whose traced allocations grew the
most since the previous report and a census of the objects only the garbage
collector can free (reference cycles): it runs a full collection to find them,
so they are gone after the report. tracemalloc slows every allocation: this is
for a bench run, never for production.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["ENV", "install", "malloc_totals"]

ENV = "SIPSIMPLE_MEMTRACE"
TOP = 25


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


@functools.cache
def _mallinfo2() -> Any:
    try:
        mallinfo2 = ctypes.CDLL(ctypes.util.find_library("c")).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    return mallinfo2


def malloc_totals() -> dict[str, int]:
    """glibc's heap in bytes: taken from the system (sbrk and arenas), in use, free in it,
    in mmapped blocks; empty where there is no mallinfo2 (not glibc, or glibc < 2.33)."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return {}
    info = mallinfo2()
    return {"heap": info.arena, "in_use": info.uordblks, "free": info.fordblks,
            "mmapped": info.hblkhd, "free_chunks": info.ordblks}


def _pymalloc_arenas() -> int:
    """Arenas pymalloc holds now (sys.getallocatedblocks says blocks, not arenas)."""
    import io
    import tempfile

    # _debugmallocstats writes to the C stderr: point it at a file for the call.
    with tempfile.TemporaryFile("w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        for line in io.StringIO(out.read()):
            if line.startswith("# arenas allocated current"):
                return int(line.split("=")[1].replace(",", ""))
    return -1


def _garbage_census() -> str:
    """The kinds of objects in reference cycles nothing else holds (collected here)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        kinds = Counter(type(obj).__qualname__ for obj in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return f"{sum(kinds.values())} objects: " + ", ".join(
        f"{kind} {count}" for kind, count in kinds.most_common(12))


class _Reporter:
    def __init__(self, path: Path, frames: int) -> None:
        self.path = path
        self.tracing = frames > 0
        if self.tracing:
            tracemalloc.start(frames)
        self.previous: Any = tracemalloc.take_snapshot() if self.tracing else None
        self.began = time.monotonic()

    def report(self) -> None:
        lines = [f"--- {time.monotonic() - self.began:.0f} s pid {os.getpid()} "
                 f"threads {threading.active_count()} (os {len(os.listdir('/proc/self/task'))})"
                 f" pymalloc arenas {_pymalloc_arenas()}",
                 "malloc " + " ".join(f"{k}={v >> 10}KiB" if k != "free_chunks" else f"{k}={v}"
                                      for k, v in malloc_totals().items())]
        lines.append("gc " + " ".join(f"gen{n}: {s['collections']} runs {s['collected']} freed"
                                      for n, s in enumerate(gc.get_stats()))
                     + f" pending {gc.get_count()}")
        if self.tracing:
            lines.append(f"cyclic garbage {_garbage_census()}")
            current, peak = tracemalloc.get_traced_memory()
            lines.append(f"traced {current >> 10} KiB (peak {peak >> 10} KiB)")
            snapshot = tracemalloc.take_snapshot()
            for stat in snapshot.compare_to(self.previous, "lineno")[:TOP]:
                lines.append(f"  {stat}")
            self.previous = snapshot
        with self.path.open("a") as out:
            out.write("\n".join(lines) + "\n")


def install(service: str, runtime_dir: Path) -> Any:
    """Start tracing and reporting on SIGUSR2 if ``SIPSIMPLE_MEMTRACE`` is set (the
    gevent signal watcher, to cancel); else nothing."""
    value = os.environ.get(ENV)
    if value is None:
        return None
    import gevent

    reporter = _Reporter(runtime_dir / f"{service}-memtrace.txt", int(value or "0"))
    return gevent.signal_handler(signal.SIGUSR2, reporter.report)
