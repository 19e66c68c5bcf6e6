"""Helpers for tests of the signalling service's bus API: the service, matchers, SIPp's end.

Shared by the tests that run the signalling service (tests/test_signalling_*service.py,
test_signalling_sessions.py, test_cli_sip.py, ...).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

from harness.sipp import SIPp
from sipsimple.bus.client import get_bus
from sipsimple.notification import Notification


def signalling_transports(spawn_service: Callable[..., Any], **env: str) -> dict[str, Any]:
    """The signalling service running (`spawn_service`'s, with `env`); its transports'
    ports (`get_transports`)."""
    spawn_service("sipsimple_services.signalling", "signalling", **env)
    ports: dict[str, Any] = get_bus().call("signalling", "get_transports")
    return ports


def signalling_claiming(spawn_service: Callable[..., Any], aor: str) -> dict[str, Any]:
    """The signalling service running with `aor` claimed; the route to its own UDP port."""
    ports = signalling_transports(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2")
    get_bus().call("signalling", "claim_account", aor=aor)
    return {"host": "127.0.0.1", "port": ports["udp"], "transport": "udp"}


def named(name: str, **fields: Any) -> Callable[[Notification], bool]:
    """Matches the notification signalling.`name` whose data has these field values."""
    return lambda n: n.name == f"signalling.{name}" and all(
        getattr(n.data, key, None) == value for key, value in fields.items())


def finished(process: subprocess.Popen[bytes], sipp: SIPp) -> None:
    """SIPp ran its scenario to the end: every message it checks arrived as it wants."""
    try:
        _out, err = process.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    assert process.returncode == 0, (
        f"sipp exit {process.returncode}\n{err.decode(errors='replace')[-2000:]}\n"
        f"{sipp.errors()}")


__all__ = ["finished", "named", "signalling_claiming"]
