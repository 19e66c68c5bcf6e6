"""The msrp service over the bus, as its integration tests drive it: started, called,
two of its sessions connected, and their events waited for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.notifications import Recorder
from sipsimple.bus.client import BusClient, get_bus

__all__ = ["call", "of", "pair", "start_msrp_service"]


def start_msrp_service(spawn_service: Callable[..., Any], **env: str) -> BusClient:
    """The msrp service (`spawn_service`'s, with `env`) and the bus to it."""
    spawn_service("sipsimple_services.msrp", "msrp", **env)
    return get_bus()


def call(bus: BusClient, method: str, **params: Any) -> Any:
    return bus.call("msrp", method, **params)


def of(session_id: str, name: str) -> Callable[[Any], bool]:
    """A Recorder wait: the event `name` of the session `session_id`."""
    return lambda n: n.name == name and getattr(n.data, "session_id", None) == session_id


def pair(bus: BusClient, events: Recorder) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two sessions of the service connected over its listener: `a` active, `b` passive."""
    a = call(bus, "create_session", address="127.0.0.1")
    b = call(bus, "create_session", address="127.0.0.1")
    call(bus, "start_session", session_id=b["session_id"], remote_path=[a["path"]], active=False)
    call(bus, "start_session", session_id=a["session_id"], remote_path=[b["path"]], active=True)
    for s in (a, b):
        events.wait(of(s["session_id"], "msrp.session_started"))
    return a, b
