"""The media service's directories: common/paths.py's rule, worded for media files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipsimple_services.media.paths import (
    DIRECTORIES_ENV,
    OutsideDirectoriesError,
    media_directories,
)


def test_a_refusal_names_what_to_configure(tmp_path: Path) -> None:
    directories = media_directories([tmp_path])
    with pytest.raises(OutsideDirectoriesError, match=f"media files .*{DIRECTORIES_ENV}"):
        directories.confine("/etc/passwd")
    assert directories.confine(str(tmp_path / "a.wav")) == str(tmp_path.resolve() / "a.wav")
