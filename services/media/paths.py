"""Where the media service may read (players) and write (recorders) files.

A file name comes from a client over the bus; the service opens it as the
user it runs as. It must name a file inside one of the allowed directories
once every symlink is resolved: the state directory (recordings go to its
``recordings`` by default), the directories of ``SIPSIMPLE_MEDIA_DIRECTORIES``
in the service's environment, and those the facade sends from the settings
(`configure(directories=...)`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

DIRECTORIES_ENV = "SIPSIMPLE_MEDIA_DIRECTORIES"  # os.pathsep-separated

__all__ = ["DIRECTORIES_ENV", "FileDirectories", "OutsideDirectoriesError", "from_environment"]


class OutsideDirectoriesError(ValueError):
    pass


def from_environment(value: str | None) -> list[Path]:
    return [Path(part) for part in (value or "").split(os.pathsep) if part.strip()]


class FileDirectories:
    """The fixed directories (state, environment) and the configured ones."""

    def __init__(self, fixed: Iterable[Path]) -> None:
        self.fixed = [_real(path) for path in fixed]
        self.configured: list[Path] = []

    def configure(self, directories: Iterable[str]) -> None:
        paths = []
        for directory in directories:
            if not isinstance(directory, str) or not Path(directory).is_absolute():
                raise ValueError(f"directories must be absolute paths, got {directory!r}")
            paths.append(_real(Path(directory)))
        self.configured = paths

    @property
    def allowed(self) -> list[Path]:
        return self.fixed + [path for path in self.configured if path not in self.fixed]

    def confine(self, filename: str) -> str:
        """The file's real path, if it lies inside an allowed directory."""
        path = Path(filename)
        if not path.is_absolute():
            raise OutsideDirectoriesError(f"{filename!r}: the file name must be absolute")
        real = _real(path)
        for directory in self.allowed:
            if real.is_relative_to(directory) and real != directory:
                return str(real)
        allowed = ", ".join(str(directory) for directory in self.allowed)
        raise OutsideDirectoriesError(
            f"{filename} is outside the directories for media files ({allowed}); "
            f"add its directory to {DIRECTORIES_ENV} or audio.recordings_directory"
        )


def _real(path: Path) -> Path:
    # realpath resolves every symlink, the last component's too: a link inside
    # an allowed directory pointing out of it is judged by where it points.
    return Path(os.path.realpath(path.expanduser()))
