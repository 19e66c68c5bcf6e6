"""Where the bus sockets, the logs and supervisord's files live.

Defaults follow XDG: the runtime directory holds the sockets and must be
private to the user (mode 0700); the state directory holds logs and traces.
Both can be moved with environment variables, which is how tests and several
independent installations on one machine keep apart.

The media service runs as several workers (processes), each a service of its
own on the bus: "media" (the first: the sound devices are there), "media-1",
"media-2", ... How many is the starter's choice (`SIPSIMPLE_MEDIA_WORKERS`,
one per core by default), written to the runtime directory when supervisord
starts, so that every client of these services addresses the same workers.
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
MEDIA_WORKERS_ENV = "SIPSIMPLE_MEDIA_WORKERS"  # how many media workers (the starter's)
MEDIA_WORKER_ENV = "SIPSIMPLE_MEDIA_WORKER"  # which one a media process is (0: "media")
MEDIA_WORKERS_FILE = "media-workers"  # in the runtime directory: the running count
MEDIA = "media"
MAX_MEDIA_WORKERS = 64


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


def media_worker_name(index: int) -> str:
    """The bus name of media worker `index`: "media" for the first, then "media-1", ..."""
    if not 0 <= index < MAX_MEDIA_WORKERS:
        raise BusConfigurationError(f"media worker {index}: 0 to {MAX_MEDIA_WORKERS - 1}")
    return MEDIA if index == 0 else f"{MEDIA}-{index}"


def media_worker_index(name: str) -> int | None:
    """The index of the media worker called `name`; None if it names none."""
    if name == MEDIA:
        return 0
    prefix, _, number = name.partition("-")
    if prefix != MEDIA or not number.isdigit() or number != str(int(number)):
        return None
    index = int(number)
    return index if 0 < index < MAX_MEDIA_WORKERS else None


def _worker_count(value: str, where: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_MEDIA_WORKERS:
        raise BusConfigurationError(
            f"{where}={value!r}: the number of media workers is 1 to {MAX_MEDIA_WORKERS}")
    return count


def wanted_media_workers() -> int:
    """How many media workers a start of the services runs: `SIPSIMPLE_MEDIA_WORKERS`,
    else one per core (at most MAX_MEDIA_WORKERS)."""
    if value := os.environ.get(MEDIA_WORKERS_ENV):
        return _worker_count(value, MEDIA_WORKERS_ENV)
    return max(1, min(os.cpu_count() or 1, MAX_MEDIA_WORKERS))


def record_media_workers(count: int) -> None:
    """Written by the starter of supervisord: the count every client then uses."""
    path = runtime_dir() / MEDIA_WORKERS_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(f"{count}\n")
    temporary.replace(path)


def forget_media_workers() -> None:
    with contextlib.suppress(FileNotFoundError):
        (runtime_dir() / MEDIA_WORKERS_FILE).unlink()


def media_workers() -> tuple[str, ...]:
    """The bus names of the running media workers: the count recorded when supervisord
    started them, else `SIPSIMPLE_MEDIA_WORKERS` (services started some other way),
    else one."""
    try:
        count = _worker_count((runtime_dir() / MEDIA_WORKERS_FILE).read_text().strip(),
                              str(runtime_dir() / MEDIA_WORKERS_FILE))
    except FileNotFoundError:
        value = os.environ.get(MEDIA_WORKERS_ENV)
        count = _worker_count(value, MEDIA_WORKERS_ENV) if value else 1
    return tuple(media_worker_name(index) for index in range(count))


def bus_services() -> tuple[str, ...]:
    """Every service on the bus: the schema's, the media workers after "media"."""
    services: list[str] = []
    for service in SERVICES:
        services.extend(media_workers() if service == MEDIA else (service,))
    return tuple(services)


def _service_index(service: str) -> int:
    """The service's place in the TCP port plan: the schema's services, then the workers."""
    if service in SERVICES:
        return SERVICES.index(service)
    index = media_worker_index(service)
    if index is None:
        raise ValueError(f"unknown service {service!r}")
    return len(SERVICES) + index - 1


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
    if not 0 < base <= 65535 - 2 * (len(SERVICES) + MAX_MEDIA_WORKERS):
        raise BusConfigurationError(f"{TCP_BASE_ENV}={value!r}: port out of range")
    return str(address), base


def is_tcp() -> bool:
    return _tcp_base() is not None


def command_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * _service_index(service)}"
    return f"ipc://{runtime_dir() / (service + '.cmd')}"


def event_endpoint(service: str) -> str:
    if tcp := _tcp_base():
        return f"tcp://{tcp[0]}:{tcp[1] + 2 * _service_index(service) + 1}"
    return f"ipc://{runtime_dir() / (service + '.evt')}"
