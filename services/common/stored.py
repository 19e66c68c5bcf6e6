"""The stored configuration as a service sees it, and how it combines with the rest.

A service reads the settings it uses from the configuration file that
`sipsimple config` and `FileStorage` write (`sipsimple.directories.config_file()`
in the environment the service was started with) when it starts, and again
whenever the file changes, whoever changed it. `StoredConfig` is the reading
(which values, converted and checked); `FileWatch` tells that the file changed;
`Layers` decides a setting's value:

1. a client's override (a bus method such as ``configure``), until the client
   goes away or the stored value of that setting changes (the latest change
   wins, whoever made it);
2. else the service's environment (``SIPSIMPLE_*``: tests and special set-ups);
3. else the stored configuration;
4. else the service's default.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sipsimple.configuration.backend import FileBackend
from sipsimple.configuration.backend.textformat import ConfigData
from sipsimple.configuration.datatypes import value_from_state
from sipsimple.configuration.errors import ConfigurationError

__all__ = ["FileWatch", "Layers", "StoredConfig"]

log = logging.getLogger("sipsimple.service")

SECTION = "SIPSimpleSettings"  # the global settings' id in the file
POLL_INTERVAL = 1.0  # seconds between looks at the file: one stat()


@dataclass(frozen=True)
class StoredConfig:
    """Which stored settings a service uses: its name for each, the dotted key and the type."""

    keys: Mapping[str, tuple[str, type]]  # name -> ("sip.udp_port", Port)

    def values(self, data: ConfigData) -> dict[str, Any]:
        """The stored values present in `data`; one that does not convert is logged and left out."""
        section = data.get(SECTION)
        result: dict[str, Any] = {}
        for name, (key, type_) in self.keys.items():
            state: Any = section
            for part in key.split("."):
                state = state.get(part) if isinstance(state, dict) else None
            if state is None or isinstance(state, dict):
                continue
            try:
                result[name] = value_from_state(type_, state)
            except (TypeError, ValueError) as exc:
                log.error("stored setting %s=%r ignored: %s", key, state, exc)
        return result

    def read(self, path: Path) -> dict[str, Any] | None:
        """The values stored in `path` (none when it does not exist); None if it is unreadable."""
        try:
            data = FileBackend(path).load()
        except ConfigurationError as exc:
            log.error("keeping the previous settings: %s", exc)
            return None
        return self.values(data)


class FileWatch:
    """Tells whether a file changed since the last look: its inode, size or mtime differs.

    The configuration is written by an atomic rename, so a change always brings a
    new inode; size and mtime also catch an editor writing in place.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = self._look()

    def _look(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_size, info.st_mtime_ns

    def changed(self) -> bool:
        seen = self._look()
        if seen == self._seen:
            return False
        self._seen = seen
        return True


class Layers:
    """A setting's value from the client overrides, the environment, the stored values, defaults.

    Names absent from every layer are left out of `values()`: the service's own
    default applies.
    """

    def __init__(self, environment: Mapping[str, Any], stored: Mapping[str, Any]) -> None:
        self.environment = dict(environment)
        self.stored = dict(stored)
        self.overrides: dict[str, tuple[str, Any]] = {}  # name -> (client, value)

    def values(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The values in force; `overrides` previews a client's change before it is made."""
        result = {**self.stored, **self.environment}
        result.update({name: value for name, (_, value) in self.overrides.items()})
        result.update(overrides or {})
        return result

    def override(self, client: str, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.overrides[name] = (client, value)

    def drop(self, name: str, client: str) -> None:
        """End the client's override of one setting (another client's stays)."""
        if name in self.overrides and self.overrides[name][0] == client:
            del self.overrides[name]

    def drop_client(self, client: str) -> bool:
        """Forget the client's overrides; True if it had any."""
        names = [name for name, (owner, _) in self.overrides.items() if owner == client]
        for name in names:
            del self.overrides[name]
        return bool(names)

    def set_stored(self, stored: Mapping[str, Any]) -> set[str]:
        """New stored values; returns the names whose stored value changed.

        A changed stored value ends a client's override of it (the latest change
        wins), unless the environment pins that setting anyway.
        """
        changed = {
            name for name in set(self.stored) | set(stored)
            if self.stored.get(name) != stored.get(name)
        }
        self.stored = dict(stored)
        for name in changed - set(self.environment):
            self.overrides.pop(name, None)
        return changed


def watch(file: FileWatch, on_change: Callable[[], None], interval: float = POLL_INTERVAL) -> Any:
    """A greenlet calling `on_change` after each change of the file (kill it to stop).

    Make the FileWatch before the first read of the file, so that no change is missed.
    """
    import gevent

    def loop() -> None:
        while True:
            gevent.sleep(interval)
            if file.changed():
                try:
                    on_change()
                except Exception:  # a bad file must not end the watching
                    log.exception("applying the changed configuration failed")

    return gevent.spawn(loop)
