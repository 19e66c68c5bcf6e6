"""Where the media service may read (players) and write (recorders) files.

The rule is `services/common/paths.py`'s: a file must lie inside the state
directory (recordings go to its ``recordings`` by default), a directory of
``SIPSIMPLE_MEDIA_DIRECTORIES`` in the service's environment, or one the
facade sends from the settings (`configure(directories=...)`, shared by all
clients).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sipsimple_services.common.paths import (
    FileDirectories,
    OutsideDirectoriesError,
    from_environment,
)

DIRECTORIES_ENV = "SIPSIMPLE_MEDIA_DIRECTORIES"  # os.pathsep-separated

__all__ = ["DIRECTORIES_ENV", "FileDirectories", "OutsideDirectoriesError", "from_environment",
           "media_directories"]


def media_directories(fixed: Iterable[Path]) -> FileDirectories:
    return FileDirectories(fixed, "media files",
                           f"add its directory to {DIRECTORIES_ENV} or audio.recordings_directory")
