"""MessageManager with the real signalling service: two accounts of this process message each other.

The MESSAGE leaves the service over UDP and comes back in to it, which
delivers it to this client (it claimed the account); the MessageManager posts
``SIPEngineGotMessage`` and only then answers. Refusals (415, 400) are
answered by the facade with nothing posted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.sessions import facade, route, session_services, to

from sipsimple.account import Account
from sipsimple.bus.client import get_bus
from sipsimple.core import SIPURI, FromHeader, Message, RouteHeader
from sipsimple.messages import DEFAULT_ACCEPTED_TYPES, MessageManager
from sipsimple.payloads.cpim import CPIMMessage
from sipsimple.payloads.iscomposing import IsComposingMessage

pytestmark = pytest.mark.integration

READ = ("SIPEngineGotMessage", "SIPEngineGotComposingIndication")


@pytest.fixture
def accounts(spawn_service: Callable[..., Any]) -> Iterator[dict[str, Account]]:
    session_services(spawn_service)
    # the application reading messages (the `events` recorder sees everything: that does not
    # count as reading them)
    with facade(["alice", "bob"]) as created, Recorder(*READ):
        yield created
    MessageManager().accepted_content_types = DEFAULT_ACCEPTED_TYPES


def send(events: Recorder, sender: Account, user: str, content_type: str, body: bytes,
         **options: Any) -> Any:
    message = Message(FromHeader(sender.uri, sender.display_name), to(user), route(),
                      content_type, body, **options)
    message.send()
    return events.wait(lambda n: n.sender is message and n.name in (
        "SIPMessageDidSucceed", "SIPMessageDidFail"))


def got(events: Recorder, name: str = "SIPEngineGotMessage") -> Any:
    return events.wait(name)


def test_both_directions(accounts: dict[str, Account], events: Recorder) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    outcome = send(events, alice, "bob", "text/plain; charset=utf-8", "héllo bob".encode())
    assert outcome.name == "SIPMessageDidSucceed"
    assert (outcome.data.code, outcome.data.originator) == (200, "remote")
    message = got(events)
    assert message.sender is bob and message.data.account is bob
    assert (message.data.content_type, message.data.charset) == ("text/plain", "utf-8")
    assert message.data.body.decode() == "héllo bob"
    assert message.data.from_header.uri == alice.uri
    assert message.data.from_header.display_name == "Alice"
    assert message.data.sender.uri == alice.uri and message.data.cpim is None
    assert str(message.data.request_uri).startswith("sip:bob@sip.test")
    # posted before the sender learnt of the 200
    assert events.seen.index(message) < events.seen.index(outcome)

    outcome = send(events, bob, "alice", "text/html", b"<b>hi</b>")
    assert outcome.name == "SIPMessageDidSucceed"
    back = events.wait(lambda n: n.name == "SIPEngineGotMessage" and n.sender is alice)
    assert back.data.body == b"<b>hi</b>" and back.data.content_type == "text/html"


def test_unregistered_type_gets_415_and_nothing_is_posted(
    accounts: dict[str, Account], events: Recorder
) -> None:
    outcome = send(events, accounts["alice"], "bob", "application/x-thing", b"\x00\x01")
    assert outcome.name == "SIPMessageDidFail"
    assert (outcome.data.code, outcome.data.originator) == (415, "remote")
    headers = dict(outcome.data.headers)
    assert "text/plain" in headers["Accept"]
    # the application registers the type: taken
    manager = MessageManager()
    manager.accepted_content_types = [*manager.accepted_content_types, "application/*"]
    outcome = send(events, accounts["alice"], "bob", "application/x-thing", b"\x00\x01")
    assert outcome.name == "SIPMessageDidSucceed"
    [message] = events.named("SIPEngineGotMessage")
    assert message.data.content_type == "application/x-thing"


def test_cpim_with_imdn(accounts: dict[str, Account], events: Recorder) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    message = Message(FromHeader(alice.uri, alice.display_name), to("bob"), route(),
                      "text/plain", "wrapped", use_cpim=True,
                      dispositions=["positive-delivery", "display"])
    message.send()
    outcome = events.wait(lambda n: n.sender is message and n.name.startswith("SIPMessageDid"))
    assert outcome.name == "SIPMessageDidSucceed"
    data = got(events).data
    assert data.account is bob and data.body == b"wrapped" and data.content_type == "text/plain"
    assert isinstance(data.cpim, CPIMMessage)
    assert data.sender.uri == alice.uri and data.sender.display_name == "Alice"
    assert [r.uri for r in data.cpim.recipients] == [bob.uri]
    assert data.cpim.timestamp is not None
    assert data.imdn.message_id == message.message_id
    assert data.imdn.notifications == ("positive-delivery", "display")


def test_composing_is_its_own_notification(accounts: dict[str, Account],
                                           events: Recorder) -> None:
    body = IsComposingMessage("active", refresh=60, content_type="text/plain").encode()
    for use_cpim in (False, True):
        outcome = send(events, accounts["alice"], "bob", "application/im-iscomposing+xml", body,
                       use_cpim=use_cpim)
        assert outcome.name == "SIPMessageDidSucceed"
    first, second = events.named("SIPEngineGotComposingIndication")
    assert first.sender is accounts["bob"]
    assert (first.data.state, first.data.refresh, first.data.content_type) == (
        "active", 60, "text/plain")
    assert first.data.cpim is None and second.data.cpim is not None
    assert not events.named("SIPEngineGotMessage")


@pytest.mark.parametrize(("content_type", "body", "why"), [
    ("message/cpim", b"From: <sip:a@b>\r\nno blank line", "malformed CPIM"),
    ("message/cpim", b"From: <sip:a@b>\r\n\r\nContent-Type: message/cpim\r\n\r\nx",
     "CPIM wrapping CPIM"),
    ("application/im-iscomposing+xml", b"<not-composing/>", "is-composing"),
])
def test_malformed_bodies_get_400(accounts: dict[str, Account], events: Recorder,
                                  content_type: str, body: bytes, why: str) -> None:
    outcome = send(events, accounts["alice"], "bob", content_type, body)
    assert outcome.name == "SIPMessageDidFail"
    assert outcome.data.code == 400
    assert why in dict(outcome.data.headers)["Warning"]
    assert not events.named("SIPEngineGotMessage")
    assert not events.named("SIPEngineGotComposingIndication")


def test_nobody_reading_messages_gets_480(spawn_service: Callable[..., Any],
                                          events: Recorder) -> None:
    """A client holding the account whose application reads no messages does not take them."""
    session_services(spawn_service)
    with facade(["alice", "bob"]) as created:
        outcome = send(events, created["alice"], "bob", "text/plain", b"anyone?")
        assert (outcome.name, outcome.data.code) == ("SIPMessageDidFail", 480)
        assert "no application" in dict(outcome.data.headers)["Warning"]
        # observing the account's notifications (all of them) is reading them
        with Recorder(sender=created["bob"]):
            outcome = send(events, created["alice"], "bob", "text/plain", b"now?")
        assert (outcome.name, outcome.data.code) == ("SIPMessageDidSucceed", 200)
        # a reader of composing indications only does not take messages
        with Recorder("SIPEngineGotComposingIndication"):
            outcome = send(events, created["alice"], "bob", "text/plain", b"and now?")
        assert (outcome.name, outcome.data.code) == ("SIPMessageDidFail", 480)


def test_a_route_header_naming_a_host_is_looked_up(
    accounts: dict[str, Account], events: Recorder, dnsmasq_zone: Callable[[str], int]
) -> None:
    """RFC 3263 through DNSLookup: a proxy that is down (TCP port 9), then the service (UDP)."""
    port = route("udp").port
    zone = dnsmasq_zone(
        "local=/test/\n"
        'naptr-record=proxy.test,10,10,"S","SIP+D2T","","_sip._tcp.proxy.test"\n'
        'naptr-record=proxy.test,20,10,"S","SIP+D2U","","_sip._udp.proxy.test"\n'
        "srv-host=_sip._tcp.proxy.test,down.proxy.test,9,0,10\n"
        f"srv-host=_sip._udp.proxy.test,up.proxy.test,{port},0,10\n"
        "host-record=down.proxy.test,127.0.0.1\nhost-record=up.proxy.test,127.0.0.1\n"
    )
    get_bus().call("dns", "set_nameservers", nameservers=[f"127.0.0.1:{zone}"],
                   fallback_nameservers=[])
    alice = accounts["alice"]
    message = Message(FromHeader(alice.uri), to("bob"), RouteHeader(SIPURI(host="proxy.test")),
                      "text/plain", "via DNS")
    message.send()
    outcome = events.wait(lambda n: n.sender is message and n.name.startswith("SIPMessageDid"),
                          timeout=60)
    assert (outcome.name, outcome.data.code) == ("SIPMessageDidSucceed", 200)
    assert [(r.port, r.transport) for r in message.routes] == [(9, "tcp"), (port, "udp")]
    assert got(events).data.body == b"via DNS"
    # a name with no records: a local failure, said
    message = Message(FromHeader(alice.uri), to("bob"), RouteHeader(SIPURI(host="nx.test")),
                      "text/plain", "lost?")
    message.send()
    outcome = events.wait(lambda n: n.sender is message and n.name.startswith("SIPMessageDid"),
                          timeout=60)
    assert (outcome.name, outcome.data.code, outcome.data.originator) == (
        "SIPMessageDidFail", 0, "local")
    assert "nx.test" in outcome.data.reason
