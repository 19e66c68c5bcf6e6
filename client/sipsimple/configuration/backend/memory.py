"""In-memory configuration backend (nothing persists past the process)."""

from __future__ import annotations

import copy
import threading

from .textformat import ConfigData, check_data

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Keeps a private deep copy, so callers cannot mutate the stored state."""

    def __init__(self, data: ConfigData | None = None) -> None:
        self._lock = threading.Lock()
        self._data: ConfigData = {}
        if data is not None:
            self.save(data)

    def load(self) -> ConfigData:
        with self._lock:
            return copy.deepcopy(self._data)

    def save(self, data: ConfigData) -> None:
        check_data(data)
        with self._lock:
            self._data = copy.deepcopy(data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
