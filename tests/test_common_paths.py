"""Which files a service may open for its clients (services/common/paths.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsimple_services.common.paths import (
    FileDirectories,
    OutsideDirectoriesError,
    from_environment,
)


@pytest.fixture
def allowed(tmp_path: Path) -> Path:
    path = tmp_path / "allowed"
    path.mkdir()
    return path


def test_a_file_inside_is_given_by_its_real_path(allowed: Path, tmp_path: Path) -> None:
    directories = FileDirectories([allowed])
    assert directories.confine(str(allowed / "a.wav")) == str(allowed.resolve() / "a.wav")
    (allowed / "sub").mkdir()
    assert directories.confine(str(allowed / "sub" / ".." / "b.wav")) == str(
        allowed.resolve() / "b.wav")


@pytest.mark.parametrize("name", ["../outside.wav", "../allowed-not/x.wav", "/etc/passwd", "."])
def test_a_file_outside_is_refused(allowed: Path, name: str) -> None:
    directories = FileDirectories([allowed])
    with pytest.raises(OutsideDirectoriesError, match="outside the directories"):
        directories.confine(str(allowed / name) if not name.startswith("/") else name)


def test_a_symlink_out_of_the_directory_is_refused(allowed: Path, tmp_path: Path) -> None:
    (allowed / "escape.wav").symlink_to(tmp_path / "victim")
    (allowed / "dir").symlink_to(tmp_path)
    directories = FileDirectories([allowed])
    for name in ("escape.wav", "dir/victim"):
        with pytest.raises(OutsideDirectoriesError):
            directories.confine(str(allowed / name))


def test_a_relative_name_is_refused(allowed: Path) -> None:
    with pytest.raises(OutsideDirectoriesError, match="absolute"):
        FileDirectories([allowed]).confine("a.wav")


def test_configured_directories_replace_the_previous_ones(allowed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    directories = FileDirectories([allowed])
    directories.configure([str(other)])
    assert directories.confine(str(other / "x.wav"))
    directories.configure([])
    with pytest.raises(OutsideDirectoriesError):
        directories.confine(str(other / "x.wav"))
    assert directories.confine(str(allowed / "x.wav"))  # the fixed ones stay
    with pytest.raises(ValueError, match="absolute"):
        directories.configure(["relative"])


def test_the_environment_list() -> None:
    assert from_environment(None) == []
    assert from_environment("/a::/b") == [Path("/a"), Path("/b")]


def test_a_directory_is_allowed_itself_and_below(allowed: Path, tmp_path: Path) -> None:
    directories = FileDirectories([allowed])
    (allowed / "sub").mkdir()
    assert directories.confine_directory(str(allowed)) == str(allowed.resolve())
    assert directories.confine_directory(str(allowed / "sub")) == str(allowed.resolve() / "sub")
    for outside in (str(tmp_path), str(allowed / ".."), "relative"):
        with pytest.raises(OutsideDirectoriesError):
            directories.confine_directory(outside)


def test_a_clients_directories_are_its_own(allowed: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    directories = FileDirectories([allowed], "file transfers", "configure it")
    directories.configure([str(mine)], client="a")
    assert directories.confine(str(mine / "x"), client="a") == str(mine.resolve() / "x")
    with pytest.raises(OutsideDirectoriesError,
                       match=r"outside the directories for file transfers .*; configure it"):
        directories.confine(str(mine / "x"), client="b")
    assert directories.confine(str(allowed / "x"), client="b")  # the fixed ones: everybody's
    directories.forget("a")
    with pytest.raises(OutsideDirectoriesError):
        directories.confine(str(mine / "x"), client="a")
    with pytest.raises(ValueError, match="absolute"):
        directories.configure(["relative"], client="a")
