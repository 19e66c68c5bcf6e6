"""Where the bus sockets, the logs and supervisord's files live.

Defaults follow XDG: the runtime directory holds the sockets and must be
private to the user (mode 0700); the state directory holds logs and traces.
Both can be moved with environment variables, which is how tests and several
independent installations on one machine keep apart.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from sipsimple import directories
from sipsimple.bus.schema import SERVICES

RUNTIME_ENV = "SIPSIMPLE_RUNTIME_DIR"
STATE_ENV = "SIPSIMPLE_STATE_DIR"
TCP_BASE_ENV = "SIPSIMPLE_BUS_TCP_BASE"  # opt-in: "host:port" or "port" (loopback)


class UnsafeDirectoryError(RuntimeError):
    pass


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise UnsafeDirectoryError(f"{path} belongs to uid {info.st_uid}, not to this user")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def runtime_dir() -> Path:
    if value := os.environ.get(RUNTIME_ENV):
        base = Path(value)
    elif value := os.environ.get("XDG_RUNTIME_DIR"):
        base = Path(value) / "sipsimple"
    else:
        base = Path(tempfile.gettempdir()) / f"sipsimple-{os.getuid()}"
    return _private_dir(base)


def state_dir() -> Path:
    return _private_dir(directories.state_home())


def _tcp_base() -> tuple[str, int] | None:
    value = os.environ.get(TCP_BASE_ENV)
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return (host or "127.0.0.1"), int(port)


def command_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * SERVICES.index(service)}"
    return f"ipc://{runtime_dir() / (service + '.cmd')}"


def event_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * SERVICES.index(service) + 1}"
    return f"ipc://{runtime_dir() / (service + '.evt')}"
