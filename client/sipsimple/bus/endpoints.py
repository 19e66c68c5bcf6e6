"""Where the bus sockets, the logs and supervisord's files live.

Defaults follow XDG: the runtime directory holds the sockets and must be
private to the user (mode 0700); the state directory holds logs and traces.
Both can be moved with environment variables, which is how tests and several
independent installations on one machine keep apart.
"""

from __future__ import annotations

import contextlib
import ipaddress
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


class BusConfigurationError(ValueError):
    """The bus endpoints asked for by the environment would be unsafe or are malformed."""


def _private_dir(path: Path) -> Path:
    """Make or check a directory only this user can enter, without following a
    symlink: in a shared /tmp another user could plant one where we expect ours."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise UnsafeDirectoryError(f"{path} is a symbolic link; refusing to use it") from None
        raise UnsafeDirectoryError(f"{path} is not a usable directory: {exc.strerror}") from None
    try:
        # Checked on the directory we opened, not on the name: the name may change.
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            raise UnsafeDirectoryError(f"{path} belongs to uid {info.st_uid}, not to this user")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
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
    host = host or "127.0.0.1"
    try:
        address = ipaddress.ip_address("127.0.0.1" if host == "localhost" else host)
        base = int(port)
    except ValueError:
        raise BusConfigurationError(
            f"{TCP_BASE_ENV}={value!r}: expected [HOST:]PORT, HOST a loopback address"
        ) from None
    if address.version != 4 or not address.is_loopback:
        # Anything else (0.0.0.0 above all) would open the services to other hosts.
        raise BusConfigurationError(
            f"{TCP_BASE_ENV}={value!r}: the bus listens on loopback only (127.0.0.0/8), "
            f"not on {host}"
        )
    if not 0 < base <= 65535 - 2 * len(SERVICES):
        raise BusConfigurationError(f"{TCP_BASE_ENV}={value!r}: port out of range")
    return str(address), base


def is_tcp() -> bool:
    return _tcp_base() is not None


def command_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * SERVICES.index(service)}"
    return f"ipc://{runtime_dir() / (service + '.cmd')}"


def event_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * SERVICES.index(service) + 1}"
    return f"ipc://{runtime_dir() / (service + '.evt')}"
