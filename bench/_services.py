"""Processes for the benches: a private runtime directory, the signalling, media and msrp
services, stopping; the local accounts the benches call between, claimed on the
signalling service.

Benches do not import the tests tree, so what they share to start and stop
the services they measure stands here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # sipsimple is imported late at run time: private_runtime() sets its
    # environment before sipsimple.bus is first imported
    from sipsimple.account import Account
    from sipsimple.core import Route, ToHeader


def private_runtime(prefix: str) -> Path:
    """A fresh runtime directory (``run/`` and ``state/``) for this process and its services.

    Set in the environment before sipsimple.bus is imported, so that the
    bench's BusClient talks to its private services only.
    """
    runtime = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    (runtime / "run").mkdir()
    (runtime / "state").mkdir()
    os.environ["SIPSIMPLE_RUNTIME_DIR"] = str(runtime / "run")
    os.environ["SIPSIMPLE_STATE_DIR"] = str(runtime / "state")
    os.environ["SIPSIMPLE_LOG_LEVEL"] = "WARNING"
    return runtime


def remove_runtime(runtime: Path, keep: bool) -> None:
    """Delete the runtime directory, or with `keep` print where its logs are."""
    if keep:
        print(f"  logs kept in {runtime}")
    else:
        shutil.rmtree(runtime, ignore_errors=True)


def start_signalling(runtime: Path, port: int = 0) -> subprocess.Popen[bytes]:
    """The signalling service on UDP 127.0.0.1:`port` (0: any free port), stderr to a log."""
    env = {
        **os.environ,
        "SIPSIMPLE_RUNTIME_DIR": str(runtime / "run"),
        "SIPSIMPLE_STATE_DIR": str(runtime / "state"),
        "SIPSIMPLE_LOG_LEVEL": "WARNING",
        "SIPSIMPLE_SIP_HOST": "127.0.0.1",
        "SIPSIMPLE_SIP_TRANSPORTS": "udp",
        "SIPSIMPLE_SIP_UDP_PORT": str(port),
        "SIPSIMPLE_DNS_NAMESERVERS": "127.0.0.1:9",  # never the system resolver
        "SIPSIMPLE_DNS_FALLBACK_NAMESERVERS": "",
    }
    with open(runtime / "signalling.log", "wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "sipsimple_services.signalling"], env=env, cwd=runtime,
            stdout=subprocess.DEVNULL, stderr=log,
        )


def start_media(runtime: Path) -> subprocess.Popen[bytes]:
    """The media service (its default null devices), stderr to a log."""
    env = {
        **os.environ,
        "SIPSIMPLE_RUNTIME_DIR": str(runtime / "run"),
        "SIPSIMPLE_STATE_DIR": str(runtime / "state"),
        "SIPSIMPLE_LOG_LEVEL": "WARNING",
    }
    with open(runtime / "media.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sipsimple_services.media"], env=env, cwd=runtime,
            stdout=subprocess.DEVNULL, stderr=log,
        )


def start_msrp(runtime: Path, **env: str) -> subprocess.Popen[bytes]:
    """The msrp service (with `env`: its TLS certificate, say), stderr to a log."""
    env = {
        **os.environ,
        "SIPSIMPLE_RUNTIME_DIR": str(runtime / "run"),
        "SIPSIMPLE_STATE_DIR": str(runtime / "state"),
        "SIPSIMPLE_LOG_LEVEL": "WARNING",
        **env,
    }
    with open(runtime / "msrp.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sipsimple_services.msrp"], env=env, cwd=runtime,
            stdout=subprocess.DEVNULL, stderr=log,
        )


def print_signalling_log(runtime: Path) -> None:
    """The last lines the signalling service wrote to stderr, if any."""
    log = (runtime / "signalling.log").read_text(errors="replace").strip()
    if log:
        print("signalling service stderr (last lines):")
        for line in log.splitlines()[-10:]:
            print(f"  | {line[:200]}")


def wait_ready(process: subprocess.Popen[Any], check: Any, timeout: float = 15) -> Any:
    """`check()`'s result once it stops raising; raises if `process` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def wait_pinged(processes: Sequence[subprocess.Popen[Any]], names: Sequence[str]) -> None:
    """Until each service of `names` (run by the process at the same place in `processes`)
    answers a ping, asked by a probe client of its own."""
    from sipsimple.bus.client import BusClient

    probe = BusClient(services=list(names), post_notifications=False)
    probe.start()
    try:
        for process, name in zip(processes, names, strict=True):
            wait_ready(process, lambda name=name: probe.ping(name, timeout=0.5))
    finally:
        probe.stop(goodbye=False)


def stop(process: subprocess.Popen[Any] | None) -> None:
    """SIGTERM, then SIGKILL after 10 s; nothing if it never started or already exited."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def local_accounts(domain: str, names: Iterable[str] = ("alice", "bob"),
                   configure: Callable[[Account], None] | None = None) -> dict[str, Account]:
    """Enabled, saved accounts `name@domain` that do not register, by name.

    `configure(account)` runs on each before it is saved: the bench's own settings.
    The configuration (or SIPApplication) must be running.
    """
    from sipsimple.account import Account

    accounts = {}
    for name in names:
        account = Account(f"{name}@{domain}")
        account.enabled = True
        account.sip.register = False
        if configure is not None:
            configure(account)
        account.save()
        accounts[name] = account
    return accounts


def wait_claimed(accounts: Iterable[Account], timeout: float) -> None:
    """Until the signalling service lists every one of `accounts` as claimed.

    A bus error (the service restarting) is retried until `timeout`; then a
    RuntimeError names the addresses still not claimed.
    """
    from sipsimple.bus.client import BusError, get_bus

    wanted = {str(account.uri) for account in accounts}
    deadline = time.monotonic() + timeout
    while True:
        error: BusError | None = None
        try:
            status = get_bus().call("signalling", "status", timeout=2)
            missing = wanted - {claim["aor"] for claim in status["accounts"]}
            if not missing:
                return
        except BusError as exc:
            error, missing = exc, wanted
        if time.monotonic() > deadline:
            raise RuntimeError(f"not claimed on the signalling service within {timeout:g} s: "
                               f"{', '.join(sorted(missing))}") from error
        time.sleep(0.05)


def start_sessions(domain: str, configure: Callable[[Account], None] | None = None,
                   claim_timeout: float = 10) -> dict[str, Account]:
    """The facade without SIPApplication: alice and bob of `domain` (`local_accounts`),
    the AccountManager and the SessionManager started, the accounts claimed on the
    signalling service. The configuration must be running."""
    from sipsimple.account import AccountManager
    from sipsimple.session import SessionManager

    accounts = local_accounts(domain, configure=configure)
    AccountManager().start()
    SessionManager().start()
    wait_claimed(accounts.values(), claim_timeout)
    return accounts


def route_to(domain: str, user: str = "bob") -> tuple[Route, ToHeader]:
    """The route to the local signalling service's UDP transport, and `user@domain`'s To."""
    from sipsimple.bus.client import get_bus
    from sipsimple.core import SIPURI, Route, ToHeader

    port = get_bus().call("signalling", "get_transports")["udp"]
    return Route("127.0.0.1", port, "udp"), ToHeader(SIPURI(user=user, host=domain))
