"""The MSRP trace (the facade's MSRPTransportTrace and MSRPLibraryLog), published
only while a client asked for it (`set_trace`).

`trace_text` turns what one read or write carried into the event's text,
cut at `TRACE_LIMIT` bytes (a file's chunks would otherwise flood the bus).
`LogPublisher` is a logging handler on the service's ``sipsimple.msrp``
loggers that publishes their records as ``msrp.log`` events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["TRACE_LIMIT", "LogPublisher", "trace_text"]

TRACE_LIMIT = 16 * 1024  # bytes of one read or write shown in its event


def trace_text(parts: Iterable[bytes | bytearray | memoryview]) -> str:
    shown: list[bytes] = []
    room, omitted = TRACE_LIMIT, 0
    for part in parts:
        size = len(part)
        if room > 0:
            shown.append(bytes(part[:room]))
            omitted += max(0, size - room)
            room -= min(size, room)
        else:
            omitted += size
    text = b"".join(shown).decode("utf-8", errors="replace")
    if omitted:
        text += f"\n[... {omitted} more bytes not shown]"
    return text


class LogPublisher(logging.Handler):
    """Publishes log records with `publish(level, message)` (the service's own
    thread only: a record logged from a worker thread is not published)."""

    def __init__(self, publish: Callable[[str, str], Any]) -> None:
        super().__init__(logging.DEBUG)
        self._publish = publish
        self._thread = threading.current_thread()
        self._busy = False  # publishing may log: no loop

    def emit(self, record: logging.LogRecord) -> None:
        if self._busy or threading.current_thread() is not self._thread:
            return
        self._busy = True
        try:
            self._publish(record.levelname, record.getMessage())
        except Exception:  # a log line must never break the service
            self.handleError(record)
        finally:
            self._busy = False
