"""Configuration backend storing the data in one text file (see textformat)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ..errors import ConfigurationError, ConfigurationParseError
from .atomic import atomic_write
from .textformat import ConfigData, check_data, dumps, loads

__all__ = ["FileBackend"]

_HEADER = """\
sipsimple configuration.
Edit with `sipsimple config set KEY VALUE`, or by hand while sipsimple is not running.
Syntax: `group:` opens an indented group, `key = value`, lists are comma-separated
(`a,` is a one-item list, `,` the empty list), an empty value means None,
double quotes and backslash escapes for anything else."""


class FileBackend:
    """Loads and atomically saves the configuration file (mode 0600).

    A file that cannot be parsed is never replaced: ``save()`` checks what is on
    disk first and refuses while it is corrupt. ``reset()`` is the explicit way
    out: it moves the corrupt file aside and returns where it went.
    """

    def __init__(self, filename: str | os.PathLike[str]) -> None:
        self.filename = Path(filename).expanduser()
        self._lock = threading.Lock()

    def _read(self) -> ConfigData:
        try:
            raw = self.filename.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigurationError(f"cannot read {self.filename}: {exc.strerror}") from None
        return loads(raw, str(self.filename))

    def load(self) -> ConfigData:
        with self._lock:
            return self._read()

    def save(self, data: ConfigData) -> None:
        check_data(data)
        text = dumps(data, header=_HEADER)
        with self._lock:
            try:
                self._read()
            except ConfigurationParseError as exc:
                raise ConfigurationError(
                    f"refusing to overwrite {self.filename}, which is not a valid configuration "
                    f"file ({exc.problem} on line {exc.line}); fix it, or reset the configuration "
                    "to move it aside"
                ) from None
            try:
                atomic_write(self.filename, text.encode("utf-8"), mode=0o600)
            except OSError as exc:
                raise ConfigurationError(f"cannot write {self.filename}: {exc}") from None

    def reset(self) -> Path | None:
        """Move the current file aside (kept, never deleted); return its new path."""
        with self._lock:
            if not self.filename.exists():
                return None
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = self.filename.with_name(f"{self.filename.name}.corrupt-{stamp}")
            counter = 1
            while backup.exists():
                counter += 1
                backup = self.filename.with_name(f"{self.filename.name}.corrupt-{stamp}-{counter}")
            os.replace(self.filename, backup)
            return backup

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.filename)!r})"
