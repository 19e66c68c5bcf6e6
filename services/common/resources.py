"""What a service process holds: the counts a soak compares with their idle values.

Read on demand by the common ``resources`` method (never on a hot path):
``gc`` walks every object to count greenlets, which costs milliseconds.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

from gevent import Greenlet

__all__ = ["process_resources"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    """Resident set size in bytes (Linux /proc; 0 where there is none)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # less the listing's own
    except OSError:
        return -1


def _greenlets() -> int:
    # spawned ones (the hub and the main greenlet are not Greenlets); dead ones not yet
    # collected do not count
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Greenlet) and not obj.dead)


def process_resources(zmq_context: Any) -> dict[str, int]:
    """Descriptors, threads, live spawned greenlets, zmq sockets of `zmq_context`, RSS (bytes)."""
    return {
        "descriptors": _descriptors(),
        "threads": threading.active_count(),
        "greenlets": _greenlets(),
        "zmq_sockets": len(getattr(zmq_context, "_sockets", ())),
        "rss": _rss(),
    }
