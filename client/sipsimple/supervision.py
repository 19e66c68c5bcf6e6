"""Running the services under supervisord, without root.

`start()` is what both `sipsimple services start` and `SIPApplication.start()`
use: it starts supervisord with the packaged `supervisord.conf` when it is not
running (or starts the group when it is), then waits until every service
answers `ping` on the bus. It is idempotent.

The media service runs as `SIPSIMPLE_MEDIA_WORKERS` workers (one per core by
default): supervisord's "media" and "media-1", "media-2", ... The count is
recorded in the runtime directory when supervisord starts, so that clients
started later address the same workers (`sipsimple.bus.endpoints`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sipsimple import directories
from sipsimple.bus import endpoints

GROUP = "sipsimple"
START_TIMEOUT = 20.0


class ServicesError(RuntimeError):
    """The services could not be started, stopped or queried."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # supervisord's: RUNNING, STARTING, BACKOFF, FATAL, STOPPED, EXITED, ...
    pid: int | None
    uptime: float | None
    description: str


def config_file() -> Path:
    path = resources.files("sipsimple") / "data" / "supervisord.conf"
    return Path(str(path))


def environment() -> dict[str, str]:
    """The environment supervisord (and so every service) runs with."""
    env = dict(os.environ)
    env[endpoints.RUNTIME_ENV] = str(endpoints.runtime_dir())
    state = endpoints.state_dir()
    (state / "logs").mkdir(mode=0o700, exist_ok=True)
    env[endpoints.STATE_ENV] = str(state)
    # The stored configuration the services read (at start and on every change).
    env[directories.CONFIG_ENV] = str(directories.config_dir())
    # The interpreter that runs the services; override to run them elsewhere.
    env.setdefault("SIPSIMPLE_PYTHON", sys.executable)
    workers = endpoints.wanted_media_workers()
    env[endpoints.MEDIA_WORKERS_ENV] = str(workers)
    env["SIPSIMPLE_MEDIA_MORE_WORKERS"] = str(workers - 1)  # supervisord cannot subtract
    return env


def log_dir() -> Path:
    return endpoints.state_dir() / "logs"


def _socket_path() -> Path:
    return endpoints.runtime_dir() / "supervisor.sock"


def _rpc() -> Any:
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, f"unix://{_socket_path()}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervisord_running() -> bool:
    if not _socket_path().exists():
        return False
    try:
        return bool(_rpc().supervisor.getState()["statename"] == "RUNNING")
    except (OSError, xmlrpc.client.Error):
        return False


def status() -> list[ServiceStatus]:
    """Every service as supervisord sees it (all STOPPED when supervisord is not running)."""
    if not supervisord_running():
        return [
            ServiceStatus(name, "STOPPED", None, None, "supervisord not running")
            for name in endpoints.bus_services()
        ]
    infos = {info["name"]: info for info in _rpc().supervisor.getAllProcessInfo()}
    result = []
    for name in endpoints.bus_services():
        info = infos.get(name)
        if info is None:
            result.append(
                ServiceStatus(name, "UNKNOWN", None, None, "not in supervisord's configuration")
            )
            continue
        running = info["statename"] == "RUNNING"
        result.append(
            ServiceStatus(
                name=name,
                state=info["statename"],
                pid=info["pid"] or None,
                uptime=float(info["now"] - info["start"]) if running else None,
                description=info["description"],
            )
        )
    return result


@contextlib.contextmanager
def _start_lock() -> Iterator[None]:
    """Serialise starters (a CLI and a UI starting at once) across processes."""
    with open(endpoints.runtime_dir() / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start(timeout: float = START_TIMEOUT) -> None:
    """Bring every service up and wait until each answers on the bus."""
    with _start_lock():
        if supervisord_running():
            with contextlib.suppress(xmlrpc.client.Fault):  # ALREADY_STARTED and friends
                _rpc().supervisor.startProcessGroup(GROUP, False)
        else:
            _start_supervisord()
    wait_until_ready(timeout)


def _start_supervisord() -> None:
    env = environment()
    endpoints.record_media_workers(int(env[endpoints.MEDIA_WORKERS_ENV]))
    command = [sys.executable, "-m", "supervisor.supervisord", "-c", str(config_file())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ServicesError(
            "supervisord did not start: "
            + (detail[-1] if detail else f"exit code {done.returncode}")
        )
    deadline = time.monotonic() + 10
    while not supervisord_running():
        if time.monotonic() > deadline:
            raise ServicesError(f"supervisord did not open {_socket_path()}; see {log_dir()}")
        time.sleep(0.05)


def wait_until_ready(timeout: float = START_TIMEOUT) -> None:
    """Wait until every service answers ping and supervisord counts it RUNNING.

    supervisord only calls a program RUNNING after `startsecs`; a service that
    answers but then dies at once is thereby not reported as up.
    """
    from sipsimple.bus.client import BusClient, BusError

    client = BusClient(post_notifications=False)
    client.start()
    try:
        deadline = time.monotonic() + timeout
        waiting = list(endpoints.bus_services())
        while waiting and time.monotonic() < deadline:
            for service in list(waiting):
                remaining = deadline - time.monotonic()
                try:
                    client.ping(service, timeout=max(0.05, min(0.5, remaining)))
                    waiting.remove(service)
                except BusError:
                    pass
        while not waiting and supervisord_running():
            starting = [s.name for s in status() if s.state != "RUNNING"]
            if not starting or time.monotonic() >= deadline:
                waiting = starting
                break
            time.sleep(0.1)
    finally:
        client.stop(goodbye=False)
    if waiting:
        states = {s.name: s for s in status()}
        details = ", ".join(
            f"{name} ({states[name].state.lower()}: {states[name].description or 'no answer'})"
            for name in waiting
        )
        raise ServicesError(
            f"service(s) did not come up within {timeout:g} s: {details}; logs in {log_dir()}"
        )


def stop(timeout: float = 30.0) -> bool:
    """Stop the services and supervisord. Returns False when nothing was running."""
    if not supervisord_running():
        return False
    try:
        _rpc().supervisor.shutdown()
    except (OSError, xmlrpc.client.Error) as exc:
        raise ServicesError(f"could not stop supervisord: {exc}") from exc
    deadline = time.monotonic() + timeout
    while _socket_path().exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if _socket_path().exists():
        raise ServicesError(f"supervisord did not stop within {timeout:g} s")
    endpoints.forget_media_workers()
    return True


def restart(timeout: float = START_TIMEOUT) -> None:
    if supervisord_running():
        rpc = _rpc()
        with contextlib.suppress(xmlrpc.client.Fault):
            rpc.supervisor.stopProcessGroup(GROUP, True)
        rpc.supervisor.startProcessGroup(GROUP, False)
        wait_until_ready(timeout)
    else:
        start(timeout)
