"""FileStorage and MemoryStorage (sipsimple.storage)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sipsimple.configuration.backend import FileBackend, MemoryBackend
from sipsimple.storage import (
    FileStorage,
    ISIPSimpleStorage,
    IXCAPStorage,
    MemoryStorage,
    XCAPStorageError,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_file_storage_layout_and_modes(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "a" / "sipsimple")
    assert isinstance(storage, ISIPSimpleStorage)
    assert storage.directory == tmp_path / "a" / "sipsimple"
    assert mode(storage.directory) == 0o700
    assert isinstance(storage.configuration_backend, FileBackend)
    assert storage.configuration_backend.filename == storage.directory / "config"
    storage.configuration_backend.save({"k": "v"})
    assert mode(storage.directory / "config") == 0o600
    xcap = storage.xcap_storage_factory("alice@example.com")
    assert isinstance(xcap, IXCAPStorage)
    xcap.save("pres-rules", b"<xml/>")
    document = storage.directory / "xcap" / "alice@example.com" / "pres-rules"
    assert document.read_bytes() == b"<xml/>"
    assert mode(document) == 0o600
    assert mode(document.parent) == 0o700


def test_file_storage_without_create_leaves_a_missing_directory_alone(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path / "later", create=False)
    assert not storage.directory.exists()
    assert storage.configuration_backend.load() == {}
    assert not storage.directory.exists()
    storage.configuration_backend.save({"k": "v"})  # the first save creates it, private
    assert mode(storage.directory) == 0o700 and mode(storage.configuration_file) == 0o600


def test_file_storage_keeps_an_existing_directory_mode(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    FileStorage(tmp_path)
    assert mode(tmp_path) == 0o755


def test_file_storage_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert FileStorage("~/cfg").directory == tmp_path / "cfg"


def test_xcap_names_cannot_escape(tmp_path: Path) -> None:
    storage = FileStorage(tmp_path)
    xcap = storage.xcap_storage_factory("../evil")
    xcap.save("../../x", b"data")
    xcap.save("..", b"dots")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(tmp_path / "xcap") for p in files)
    assert xcap.load("../../x") == b"data" and xcap.load("..") == b"dots"


@pytest.mark.parametrize("make", [MemoryStorage, FileStorage])
def test_xcap_storage_operations(make: type, tmp_path: Path) -> None:
    storage = make() if make is MemoryStorage else make(tmp_path)
    xcap = storage.xcap_storage_factory("bob@example.com")
    with pytest.raises(XCAPStorageError):
        xcap.load("doc")
    xcap.save("doc", b"1")
    xcap.save("doc", b"2")
    xcap.save("other", b"3")
    assert xcap.load("doc") == b"2"
    xcap.delete("doc")
    xcap.delete("doc")  # missing: ignored
    with pytest.raises(XCAPStorageError):
        xcap.load("doc")
    xcap.purge()
    with pytest.raises(XCAPStorageError):
        storage.xcap_storage_factory("bob@example.com").load("other")


def test_memory_storage() -> None:
    storage = MemoryStorage()
    assert isinstance(storage, ISIPSimpleStorage)
    assert isinstance(storage.configuration_backend, MemoryBackend)
    assert storage.configuration_backend is storage.configuration_backend
    storage.xcap_storage_factory("a@b").save("d", b"x")
    assert storage.xcap_storage_factory("a@b").load("d") == b"x"
    assert MemoryStorage().configuration_backend.load() == {}
