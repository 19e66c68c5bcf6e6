"""The msrp service over the bus, as its integration tests drive it: started, called,
and its sessions' events waited for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sipsimple.bus.client import BusClient, get_bus

__all__ = ["call", "of", "start_msrp_service"]


def start_msrp_service(spawn_service: Callable[..., Any], **env: str) -> BusClient:
    """The msrp service (`spawn_service`'s, with `env`) and the bus to it."""
    spawn_service("sipsimple_services.msrp", "msrp", **env)
    return get_bus()


def call(bus: BusClient, method: str, **params: Any) -> Any:
    return bus.call("msrp", method, **params)


def of(session_id: str, name: str) -> Callable[[Any], bool]:
    """A Recorder wait: the event `name` of the session `session_id`."""
    return lambda n: n.name == name and getattr(n.data, "session_id", None) == session_id
