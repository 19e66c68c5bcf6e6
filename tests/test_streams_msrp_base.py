"""MSRPStreamBase's choices without I/O: the transport asked of the service and the relay.

The relay found by DNS comes from a `RelayFinder` whose lookup is given here
(the real one against dnsmasq and Kamailio: tests/test_streams_msrp_chat.py).

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
from sipsimple.core import Route
from sipsimple.lookup import DNSLookupError
from sipsimple.streams import ChatStream
from sipsimple.streams.msrp import base
from sipsimple.streams.msrp.relays import RelayFinder

RELAY = MSRPRelayAddress("relay.example.test", 2855, "tls")


def account(model: str = "relay", relay: MSRPRelayAddress | None = RELAY,
            outbound: bool = False, transport: str = "tls") -> Any:
    return SimpleNamespace(
        domain="example.test",
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


def test_the_relay_is_wanted_as_the_configured_one_would_be() -> None:
    assert not ChatStream(account(relay=None))._wants_relay()
    assert ChatStream(account(relay=None, outbound=True))._wants_relay()
    assert incoming(account(relay=None), "active")._wants_relay()
    assert not incoming(account(relay=None), "actpass")._wants_relay()
    assert not incoming(account(relay=None, model="acm"), "active")._wants_relay()
    assert not ChatStream(object())._wants_relay()


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], list[Route]]:
    """The DNS answers by (domain, transport) the streams' `relays` get; others: none."""
    answers: dict[tuple[str, str], list[Route]] = {}

    def lookup(domain: str, transport: str) -> list[Route]:
        if (domain, transport) not in answers:
            raise DNSLookupError("no records", reason="not-found")
        return answers[(domain, transport)]

    monkeypatch.setattr(base, "relays", RelayFinder(lookup))
    return answers


def test_a_relay_found_by_dns(found: dict[tuple[str, str], list[Route]]) -> None:
    found[("example.test", "tls")] = [Route("192.0.2.6", 2856, "tls", "example.test"),
                                      Route("192.0.2.7", 2856, "tls", "example.test")]
    found[("example.test", "tcp")] = [Route("2001:db8::6", 2857, "tcp", None)]
    assert ChatStream(account(relay=None, outbound=True))._discovered_relay() == {
        "uri": "msrps://192.0.2.6:2856;tcp", "tls_name": "example.test",
        "username": "alice", "password": "secret"}
    tcp = ChatStream(account(relay=None, outbound=True, transport="tcp"))
    assert tcp._relay_transport() == "tcp"
    assert tcp._discovered_relay() == {
        "uri": "msrp://[2001:db8::6]:2857;tcp", "username": "alice", "password": "secret"}
    # an answer follows the offer's transport (here TCP/MSRP), whatever the account says
    assert incoming(account(relay=None), "active")._discovered_relay() == {
        "uri": "msrp://[2001:db8::6]:2857;tcp", "username": "alice", "password": "secret"}


def test_no_relay_in_dns_is_a_direct_connection(
        found: dict[tuple[str, str], list[Route]]) -> None:
    assert incoming(account(relay=None), "active")._discovered_relay() is None
    assert ChatStream(SimpleNamespace(domain=""))._discovered_relay() is None
