"""Configuration backends: where the settings tree is loaded from and saved to.

A backend has ``load() -> dict`` and ``save(data: dict)``; the data is nested
dicts whose leaves are ``str``, ``list[str]`` or ``None``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .file import FileBackend
from .memory import MemoryBackend
from .textformat import ConfigData

__all__ = ["ConfigData", "FileBackend", "IConfigurationBackend", "MemoryBackend"]


@runtime_checkable
class IConfigurationBackend(Protocol):
    def load(self) -> ConfigData:
        """Return the whole stored tree ({} when nothing is stored yet)."""
        ...

    def save(self, data: ConfigData) -> None:
        """Replace the whole stored tree with data."""
        ...
