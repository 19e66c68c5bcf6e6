"""Storage API: where middleware components keep configuration and XCAP documents.

``FileStorage(directory)`` keeps the configuration in ``<directory>/config`` and
XCAP documents under ``<directory>/xcap/<account id>/``; the directory is also
the application's data directory. ``MemoryStorage()`` keeps everything in
memory. Both implement ``ISIPSimpleStorage``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from .configuration.backend import FileBackend, IConfigurationBackend, MemoryBackend
from .configuration.backend.atomic import atomic_write, ensure_private_directory

__all__ = [
    "FileStorage",
    "FileXCAPStorage",
    "ISIPSimpleStorage",
    "IXCAPStorage",
    "MemoryStorage",
    "MemoryXCAPStorage",
    "XCAPStorageError",
    "is_stored_configuration",
]


class XCAPStorageError(LookupError):
    """The requested XCAP document is not stored."""


@runtime_checkable
class IXCAPStorage(Protocol):
    """Cached XCAP documents of one account, by document name."""

    def load(self, name: str) -> bytes: ...

    def save(self, name: str, data: bytes) -> None: ...

    def delete(self, name: str) -> None: ...

    def purge(self) -> None: ...


XCAPStorageFactory = Callable[[str], IXCAPStorage]  # account id -> its XCAP storage


@runtime_checkable
class ISIPSimpleStorage(Protocol):
    @property
    def configuration_backend(self) -> IConfigurationBackend: ...

    @property
    def xcap_storage_factory(self) -> XCAPStorageFactory: ...


def _file_name(name: str) -> str:
    # Account ids and document names become single path components, never paths.
    if not name:
        raise ValueError("name cannot be empty")
    safe = quote(name, safe="@+-_")
    return safe.replace(".", "%2E") if safe in (".", "..") else safe


class FileXCAPStorage:
    """XCAP documents as files (mode 0600) in a private directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def load(self, name: str) -> bytes:
        try:
            return (self.directory / _file_name(name)).read_bytes()
        except FileNotFoundError:
            raise XCAPStorageError(f"no XCAP document {name!r} stored") from None

    def save(self, name: str, data: bytes) -> None:
        atomic_write(self.directory / _file_name(name), data, mode=0o600)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.directory / _file_name(name)).unlink()

    def purge(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class MemoryXCAPStorage:
    def __init__(self) -> None:
        self._documents: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> bytes:
        with self._lock:
            try:
                return self._documents[name]
            except KeyError:
                raise XCAPStorageError(f"no XCAP document {name!r} stored") from None

    def save(self, name: str, data: bytes) -> None:
        with self._lock:
            self._documents[name] = bytes(data)

    def delete(self, name: str) -> None:
        with self._lock:
            self._documents.pop(name, None)

    def purge(self) -> None:
        with self._lock:
            self._documents.clear()


class FileStorage:
    """Storage in a directory (created with mode 0700 if missing).

    ``create=False`` leaves a missing directory alone until something is saved
    (each save creates it, mode 0700): for read-only uses such as
    ``sipsimple config show``, which must not leave traces.
    """

    def __init__(self, directory: str | os.PathLike[str], *, create: bool = True) -> None:
        path = Path(directory).expanduser()
        self.directory = ensure_private_directory(path) if create else path
        self.configuration_file = self.directory / "config"
        self.xcap_directory = self.directory / "xcap"
        self._configuration_backend = FileBackend(self.configuration_file)

    @property
    def configuration_backend(self) -> FileBackend:
        return self._configuration_backend

    @property
    def xcap_storage_factory(self) -> XCAPStorageFactory:
        return self._xcap_storage

    def _xcap_storage(self, account_id: str) -> FileXCAPStorage:
        return FileXCAPStorage(self.xcap_directory / _file_name(account_id))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.directory)!r})"


class MemoryStorage:
    """Storage that lives and dies with the process (no application data)."""

    def __init__(self) -> None:
        self._configuration_backend = MemoryBackend()
        self._xcap: dict[str, MemoryXCAPStorage] = {}
        self._lock = threading.Lock()

    @property
    def configuration_backend(self) -> MemoryBackend:
        return self._configuration_backend

    @property
    def xcap_storage_factory(self) -> XCAPStorageFactory:
        return self._xcap_storage

    def _xcap_storage(self, account_id: str) -> MemoryXCAPStorage:
        with self._lock:
            return self._xcap.setdefault(account_id, MemoryXCAPStorage())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def is_stored_configuration(storage: object) -> bool:
    """Whether `storage` keeps its configuration in the file the services read.

    The services read that file (`sipsimple.directories.config_file()`) at start
    and whenever it changes; an application on any other storage (another
    directory, MemoryStorage) pushes the settings they use as its overrides.
    """
    from . import directories

    file = getattr(storage, "configuration_file", None)
    return file is not None and Path(file).resolve() == directories.config_file().resolve()
