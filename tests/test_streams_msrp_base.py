"""MSRPStreamBase's choices without I/O: the transport asked of the service and the relay.

Accounts here are plain namespaces with the settings the stream reads (the
stream never writes them); the end-to-end cases are in
tests/test_streams_msrp_chat.py.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from test_streams_msrp_sdp import PATH, offer

from sipsimple.account import Credentials
from sipsimple.configuration.datatypes import MSRPRelayAddress
from sipsimple.streams import ChatStream

RELAY = MSRPRelayAddress("relay.example.test", 2855, "tls")


def account(model: str = "relay", relay: MSRPRelayAddress | None = RELAY,
            outbound: bool = False, transport: str = "tls") -> Any:
    return SimpleNamespace(
        msrp=SimpleNamespace(connection_model=model, transport=transport),
        nat_traversal=SimpleNamespace(msrp_relay=relay, use_msrp_relay_for_outbound=outbound),
        credentials=Credentials("alice", "secret"))


def incoming(acc: Any, setup: str | None) -> ChatStream:
    line = f"a=setup:{setup}\n" if setup else ""
    return ChatStream.new_from_sdp(acc, offer(f"a=path:{PATH}\na=accept-types:*\n{line}"), 0)


def test_outgoing_uses_the_relay_only_when_asked() -> None:
    assert ChatStream(account())._relay() is None
    assert ChatStream(account(outbound=True))._relay() == {
        "uri": "msrps://relay.example.test:2855;tcp", "username": "alice",
        "password": "secret"}
    tcp = MSRPRelayAddress("127.0.0.1", None, "tcp")
    assert ChatStream(account(relay=tcp, outbound=True))._relay() == {
        "uri": "msrp://127.0.0.1:2855;tcp", "username": "alice", "password": "secret"}


@pytest.mark.parametrize(("setup", "relayed"), [
    ("active", True), (None, True), ("actpass", False), ("passive", False),
])
def test_incoming_uses_the_relay_unless_we_connect(setup: str | None, relayed: bool) -> None:
    assert (incoming(account(), setup)._relay() is not None) is relayed


def test_no_relay_without_the_setting_or_in_the_acm_model() -> None:
    assert incoming(account(relay=None), "active")._relay() is None
    assert incoming(account(model="acm"), "active")._relay() is None
    assert ChatStream(account(model="acm", outbound=True))._relay() is None
    assert ChatStream(object())._relay() is None  # an account without these settings


def test_transport_asked_of_the_service() -> None:
    assert ChatStream(account())._wants_tls() is None  # tls: the service decides
    assert ChatStream(account(transport="tcp"))._wants_tls() is False
    assert incoming(account(transport="tcp"), "active")._wants_tls() is False
