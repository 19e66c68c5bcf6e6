"""The SIP trace: each message sent or received as an event payload and a log file entry."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import IO, Any

from sipsimple_services.signalling.glue.engine import TraceRecord

__all__ = ["TraceFile", "event_data", "format_entry"]

log = logging.getLogger("sipsimple_services.signalling.bus.trace")


def event_data(record: TraceRecord) -> dict[str, Any]:
    return {
        "direction": record.direction,
        "transport": record.transport,
        "source": record.source,
        "destination": record.destination,
        "message": record.data.decode("utf-8", errors="replace"),
        "timestamp": record.timestamp,
    }


def format_entry(record: TraceRecord) -> str:
    when = datetime.datetime.fromtimestamp(record.timestamp).isoformat(sep=" ")
    arrow = f"{record.source} -> {record.destination}"
    text = record.data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return (
        f"{when} {record.direction} {record.transport} {arrow} ({len(record.data)} bytes)\n"
        f"{text}{'' if text.endswith(chr(10)) else chr(10)}--\n"
    )


class TraceFile:
    """Appends entries to ``path`` (mode 0600), opened on first write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def write(self, record: TraceRecord) -> None:
        try:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self.path.touch(mode=0o600, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(format_entry(record))
            self._file.flush()
        except OSError as exc:  # a full disk must not stop signalling
            log.warning("cannot write the SIP trace to %s: %s", self.path, exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
