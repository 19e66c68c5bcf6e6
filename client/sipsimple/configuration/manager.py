"""ConfigurationManager: the in-memory settings tree and its backend."""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .backend import ConfigData, IConfigurationBackend
from .errors import ConfigurationError, ObjectNotFoundError

if TYPE_CHECKING:
    from ..storage import ISIPSimpleStorage

__all__ = ["ConfigurationManager", "Key"]

Key = str | Sequence[str]  # one component, or a path such as ("Accounts", "alice@example.com")


def _path(key: Key) -> tuple[str, ...]:
    path = (key,) if isinstance(key, str) else tuple(key)
    if not path or not all(isinstance(part, str) for part in path):
        raise TypeError(f"configuration key must be a non-empty sequence of str, got {key!r}")
    return path


class ConfigurationManager:
    """Process-wide singleton holding the configuration tree.

    ``start(source)`` loads the tree from a configuration backend: either the
    backend itself or a storage object, whose ``configuration_backend`` is used
    (``SIPApplication.start(storage)`` calls ``ConfigurationManager().start(storage)``).
    A load error propagates and leaves the manager stopped, so start can be retried.
    Settings objects read their state from here and write it back with
    ``set``/``delete`` followed by ``save``.
    """

    _instance: ConfigurationManager | None = None
    _instance_lock = threading.Lock()

    _lock: threading.RLock
    _backend: IConfigurationBackend | None
    _data: ConfigData
    # Live settings objects by storage key: the singletons per id. Global objects are
    # held strongly, per-id ones (accounts) weakly, so a dropped unsaved one is reloaded.
    _objects: dict[tuple[str, ...], Any]
    _weak_objects: weakref.WeakValueDictionary[tuple[str, ...], Any]

    def __new__(cls) -> ConfigurationManager:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._lock = threading.RLock()
                instance._backend = None
                instance._data = {}
                instance._objects = {}
                instance._weak_objects = weakref.WeakValueDictionary()
                cls._instance = instance
            return cls._instance

    @property
    def running(self) -> bool:
        return self._backend is not None

    @property
    def backend(self) -> IConfigurationBackend | None:
        return self._backend

    @property
    def source_name(self) -> str | None:
        """The configuration file, for error messages; None for a backend without one."""
        filename = getattr(self._backend, "filename", None)
        return None if filename is None else str(filename)

    def start(self, source: IConfigurationBackend | ISIPSimpleStorage) -> None:
        backend = getattr(source, "configuration_backend", source)
        if not isinstance(backend, IConfigurationBackend):
            raise TypeError(f"expected a configuration backend or a storage, got {source!r}")
        with self._lock:
            if self._backend is not None:
                raise ConfigurationError("the ConfigurationManager is already started")
            data = backend.load()  # may raise ConfigurationError; we stay stopped
            self._data = data
            self._backend = backend
            self._forget_objects()

    def stop(self) -> None:
        """Forget the tree and the live settings objects (they go stale)."""
        with self._lock:
            self._backend = None
            self._data = {}
            self._forget_objects()

    def _forget_objects(self) -> None:
        self._objects.clear()
        self._weak_objects.clear()

    def _require_running(self) -> IConfigurationBackend:
        if self._backend is None:
            raise ConfigurationError("the ConfigurationManager is not started")
        return self._backend

    def _lookup(self, path: tuple[str, ...]) -> Any:
        node: Any = self._data
        for index, part in enumerate(path):
            if not isinstance(node, dict) or part not in node:
                missing = "/".join(path[: index + 1])
                raise ObjectNotFoundError(f"no configuration stored under {missing!r}")
            node = node[part]
        return node

    def get(self, key: Key) -> Any:
        """Return a copy of what is stored under key; ObjectNotFoundError if nothing is."""
        path = _path(key)
        with self._lock:
            self._require_running()
            return copy.deepcopy(self._lookup(path))

    def get_names(self, key: Key) -> list[str]:
        """Names of the groups directly under key (e.g. the ids under "Accounts")."""
        path = _path(key)
        with self._lock:
            self._require_running()
            try:
                node = self._lookup(path)
            except ObjectNotFoundError:
                return []
            if not isinstance(node, dict):
                return []
            return [name for name, value in node.items() if isinstance(value, dict)]

    def set(self, key: Key, value: Any) -> None:
        """Store a copy of value under key (in memory; call save() to persist)."""
        path = _path(key)
        with self._lock:
            self._require_running()
            node = self._data
            for part in path[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[path[-1]] = copy.deepcopy(value)

    def delete(self, key: Key) -> None:
        """Remove key, and parent groups it leaves empty; missing keys are ignored."""
        path = _path(key)
        with self._lock:
            self._require_running()
            nodes = [self._data]
            for part in path[:-1]:
                child = nodes[-1].get(part)
                if not isinstance(child, dict):
                    return
                nodes.append(child)
            nodes[-1].pop(path[-1], None)
            for node, part in zip(reversed(nodes[:-1]), reversed(path[:-1]), strict=True):
                if node[part]:
                    break
                del node[part]

    def save(self) -> None:
        """Write the whole tree through the backend."""
        with self._lock:
            self._require_running().save(copy.deepcopy(self._data))
