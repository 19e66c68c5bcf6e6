"""Which files a service may open for its clients: inside allowed directories.

A file name comes from a client over the bus; the service opens it as the
user it runs as. The bus is private to the user, so this is defence in depth:
a path that a client got from a peer (a file name in an offer, a directory
a message named) must not reach a file the user did not give to the service.
A name is allowed when, once every symlink is resolved, it lies inside one of
the fixed directories (the service's own: state directory, environment) or of
those its clients configured. Configured directories are shared
(`configure(directories)`, the media service's rule) or one client's
(`configure(directories, client)`, dropped by `forget(client)` when it goes).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileDirectories", "OutsideDirectoriesError", "from_environment"]


class OutsideDirectoriesError(ValueError):
    pass


def from_environment(value: str | None) -> list[Path]:
    """The directories of an ``os.pathsep``-separated environment variable."""
    return [Path(part) for part in (value or "").split(os.pathsep) if part.strip()]


class FileDirectories:
    """The fixed directories and the configured ones; `what` and `hint` word the
    refusal ("outside the directories for `what` (...); `hint`")."""

    def __init__(self, fixed: Iterable[Path], what: str = "files", hint: str = "") -> None:
        self.fixed = [_real(path) for path in fixed]
        self.what, self.hint = what, hint
        self.configured: list[Path] = []
        self.by_client: dict[str, list[Path]] = {}

    def configure(self, directories: Iterable[str], client: str | None = None) -> None:
        """Replace the shared directories (`client` None) or that client's."""
        paths = []
        for directory in directories:
            if not isinstance(directory, str) or not Path(directory).is_absolute():
                raise ValueError(f"directories must be absolute paths, got {directory!r}")
            paths.append(_real(Path(directory)))
        if client is None:
            self.configured = paths
        else:
            self.by_client[client] = paths

    def forget(self, client: str) -> None:
        self.by_client.pop(client, None)

    def allowed(self, client: str | None = None) -> list[Path]:
        found: list[Path] = []
        for path in (*self.fixed, *self.configured, *self.by_client.get(client or "", ())):
            if path not in found:
                found.append(path)
        return found

    def confine(self, filename: str, client: str | None = None) -> str:
        """The file's real path, if it lies inside an allowed directory."""
        return self._confine(filename, client, directory=False)

    def confine_directory(self, directory: str, client: str | None = None) -> str:
        """The directory's real path, if it is an allowed directory or inside one."""
        return self._confine(directory, client, directory=True)

    def _confine(self, name: str, client: str | None, directory: bool) -> str:
        path = Path(name)
        if not path.is_absolute():
            raise OutsideDirectoriesError(f"{name!r}: the path must be absolute")
        real = _real(path)
        allowed = self.allowed(client)
        for base in allowed:
            if real.is_relative_to(base) and (directory or real != base):
                return str(real)
        listed = ", ".join(str(base) for base in allowed) or "none"
        hint = f"; {self.hint}" if self.hint else ""
        raise OutsideDirectoriesError(
            f"{name} is outside the directories for {self.what} ({listed}){hint}")


def _real(path: Path) -> Path:
    # realpath resolves every symlink, the last component's too: a link inside
    # an allowed directory pointing out of it is judged by where it points.
    return Path(os.path.realpath(path.expanduser()))
