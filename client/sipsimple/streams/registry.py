"""MediaStreamRegistry and the MediaStreamRegistrar metaclass."""

from __future__ import annotations

import threading
from abc import ABCMeta
from collections.abc import Iterator
from typing import Any

__all__ = ["MediaStreamRegistrar", "MediaStreamRegistry"]


class _Registry:
    """The stream classes an incoming offer is matched against, highest priority first."""

    def __init__(self) -> None:
        self._classes: list[type] = []
        self._lock = threading.Lock()

    def add(self, cls: type) -> None:
        if getattr(cls, "priority", None) is None:
            raise ValueError(f"{cls.__name__} has no priority; abstract streams are not registered")
        with self._lock:
            # A class redefined under the same name (a reloaded module) replaces the old one.
            self._classes = [
                c
                for c in self._classes
                if c.__qualname__ != cls.__qualname__ or c.__module__ != cls.__module__
            ]
            self._classes.append(cls)
            # Stable: equal priorities keep their registration order.
            self._classes.sort(key=lambda c: -c.priority)  # type: ignore[attr-defined]

    def remove(self, cls: type) -> None:
        with self._lock:
            self._classes.remove(cls)

    def __iter__(self) -> Iterator[type]:
        with self._lock:
            return iter(list(self._classes))

    def __contains__(self, cls: object) -> bool:
        return cls in self._classes

    def __len__(self) -> int:
        return len(self._classes)

    def get(self, stream_type: str) -> type | None:
        """The highest-priority class of a stream type ("audio", "chat", ...)."""
        return next((c for c in self if getattr(c, "type", None) == stream_type), None)

    def __getattr__(self, name: str) -> Any:
        # MediaStreamRegistry.AudioStream, as the original SDK's applications write it.
        for cls in self:
            if cls.__name__ == name:
                return cls
        raise AttributeError(f"no stream class named {name!r} is registered")


MediaStreamRegistry = _Registry()


class MediaStreamRegistrar(ABCMeta):
    """Metaclass that registers each concrete stream class (one with a priority)."""

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        if getattr(cls, "priority", None) is not None and not getattr(
            cls, "__abstractmethods__", None
        ):
            MediaStreamRegistry.add(cls)
