"""The media service's nat_probe against coturn on loopback.

Behind the NAT lab's two NATs: tests/test_cli_nat.py (the same method, through the CLI).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest
from harness.turnserver import TurnServer

from sipsimple.bus.client import ServiceError, get_bus

pytestmark = pytest.mark.integration


def probe(**params: Any) -> dict[str, Any]:
    reply: dict[str, Any] = get_bus().call("media", "nat_probe", timeout=60, **params)
    return reply


@pytest.fixture
def media(spawn_service: Callable[..., Any]) -> None:
    spawn_service("sipsimple_services.media", "media")


def test_loopback_coturn_with_two_addresses_is_rfc5780_and_open(
        media: None, turnserver_rfc5780: TurnServer) -> None:
    host, port = turnserver_rfc5780.primary
    reply = probe(server=host, port=port)
    assert reply["method"] == "rfc5780"
    assert reply["other_address"] == list(turnserver_rfc5780.other or ())
    assert reply["mapped"] == reply["local"] and reply["local"][0] == "127.0.0.1"
    # coturn answered the change request from its other address: nothing filters
    assert (reply["mapping"], reply["filtering"], reply["nat_type"]) == (
        "no NAT", "endpoint-independent", "Open")
    assert reply["error"] is None


def test_loopback_coturn_with_one_address_tells_only_no_nat(media: None,
                                                            turnserver_single: TurnServer) -> None:
    host, port = turnserver_single.primary
    reply = probe(server=host, port=port, address="127.0.0.1")
    assert reply["method"] == "single" and reply["other_address"] is None
    assert reply["mapped"] == reply["local"]
    assert (reply["mapping"], reply["filtering"], reply["nat_type"]) == ("no NAT", "unknown",
                                                                         "Open")


def test_a_silent_server_is_blocked(media: None) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        reply = probe(server="127.0.0.1", port=silent.getsockname()[1])
        assert silent.recv(2048)[4:8] == bytes.fromhex("2112a442")  # it was asked
    assert reply["mapped"] is None and reply["nat_type"] == "Blocked"
    assert reply["error"] == "no answer"


@pytest.mark.parametrize(("params", "message"), [
    ({"server": "stun.example.test"}, "must be an IP address"),
    ({"server": "127.0.0.1", "port": 0}, "port must be in 1..65535"),
    ({"server": "127.0.0.1", "address": "not-an-ip"}, "must be an IP address"),
    ({"server": "127.0.0.1", "address": "192.0.2.1"}, "cannot bind 192.0.2.1"),
])
def test_bad_parameters_are_refused(media: None, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ServiceError, match=message):
        probe(**params)
