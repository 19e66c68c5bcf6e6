"""Page-mode messages between our accounts through Kamailio (registrar and proxy, digest).

alice and bob register with Kamailio as their outbound proxy; a MESSAGE goes
to the proxy (routes by RFC 3263 through `DNSLookup`, as for calls), is
challenged with 407 and sent again with the account's credentials, and the
proxy forwards it to the registered contact: the signalling service, which
gives it to the client holding the account. A user who is not registered
gets the proxy's 404. A client that takes a message and dies before
answering it (another process, killed) gets its sender a 480 from the
service through the proxy, never a 200; then its account is unregistered
(404 from the proxy), and a MESSAGE straight to the service gets 480.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness import message_client
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.sessions import facade, route, session_services, to

from sipsimple.account import Account
from sipsimple.configuration.datatypes import SIPProxyAddress
from sipsimple.core import FromHeader, Message
from sipsimple.session.transfer import routes_for

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(kamailio: Kamailio, spawn_service: Callable[..., Any],
             events: Recorder) -> Iterator[dict[str, Account]]:
    session_services(spawn_service)

    def configure(account: Account) -> None:
        account.auth.password = kamailio.password(str(account.user))
        account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", kamailio.port("udp"), "udp")
        account.sip.register = True
        account.sip.register_interval = 300

    with facade(["alice", "bob"], configure, domain=kamailio.domain) as created, \
            Recorder("SIPEngineGotMessage"):  # the application reading messages
        for account in created.values():
            done = events.wait(lambda n, a=account: n.sender is a and n.name in (
                "SIPAccountRegistrationDidSucceed", "SIPAccountRegistrationDidFail"))
            assert done.name == "SIPAccountRegistrationDidSucceed", done.data.__dict__
        yield created


def send(events: Recorder, sender: Account, user: str, domain: str, text: str) -> Any:
    target = to(user, domain)
    message = Message(FromHeader(sender.uri, sender.display_name), target,
                      routes_for(sender, target.uri), "text/plain", text,
                      credentials=sender.credentials)
    message.send()
    return events.wait(lambda n: n.sender is message and n.name in (
        "SIPMessageDidSucceed", "SIPMessageDidFail"), timeout=40)


def test_both_directions_with_digest(kamailio: Kamailio, accounts: dict[str, Account],
                                     events: Recorder) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    outcome = send(events, alice, "bob", kamailio.domain, "hello bob")
    assert (outcome.name, outcome.data.code) == ("SIPMessageDidSucceed", 200)
    got = events.wait(lambda n: n.name == "SIPEngineGotMessage" and n.sender is bob)
    assert got.data.body == b"hello bob" and got.data.from_header.uri == alice.uri
    outcome = send(events, bob, "alice", kamailio.domain, "hello alice")
    assert (outcome.name, outcome.data.code) == ("SIPMessageDidSucceed", 200)
    got = events.wait(lambda n: n.name == "SIPEngineGotMessage" and n.sender is alice)
    assert got.data.body == b"hello alice" and got.data.from_header.uri == bob.uri
    # each was challenged first (407) and went through with the account's credentials
    log = kamailio.log(10**7)
    assert "auth MESSAGE from alice@" in log and "auth MESSAGE from bob@" in log


def test_offline_user_gets_the_proxys_404(kamailio: Kamailio, accounts: dict[str, Account],
                                          events: Recorder) -> None:
    outcome = send(events, accounts["alice"], "carol", kamailio.domain, "anyone?")
    assert (outcome.name, outcome.data.code, outcome.data.originator) == (
        "SIPMessageDidFail", 404, "remote")


def test_a_client_killed_before_answering_never_gets_its_sender_a_200(
    kamailio: Kamailio, accounts: dict[str, Account], events: Recorder
) -> None:
    """carol's client (another process) takes the message and dies before its 200."""
    process, output = message_client.start("carol", kamailio.domain,
                                           str(kamailio.port("udp")), kamailio.password("carol"))
    try:
        target = to("carol", kamailio.domain)
        alice = accounts["alice"]
        message = Message(FromHeader(alice.uri), target, routes_for(alice, target.uri),
                          "text/plain", "are you there?", credentials=alice.credentials)
        message.send()
        output.expect("got are you there?")
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        outcome = events.wait(lambda n: n.sender is message and n.name in (
            "SIPMessageDidSucceed", "SIPMessageDidFail"), timeout=40)
        # the service's 480 once the client's heartbeats stop (2 s here); on a machine
        # loaded past Kamailio's 10 s fr_timer, its 408: a failure either way, never a 200
        assert outcome.name == "SIPMessageDidFail" and outcome.data.code in (480, 408)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
    # the service unregistered the dead client's account: the proxy has nobody to give it to
    deadline = time.monotonic() + 30
    while kamailio.contacts("carol"):
        assert time.monotonic() < deadline, kamailio.registrations()
        time.sleep(0.1)
    outcome = send(events, alice, "carol", kamailio.domain, "and now?")
    assert (outcome.name, outcome.data.code, outcome.data.originator) == (
        "SIPMessageDidFail", 404, "remote")
    # and straight to the service that held carol: no client holds her, 480
    message = Message(FromHeader(alice.uri), target, route(), "text/plain", "hello?")
    message.send()
    outcome = events.wait(lambda n: n.sender is message and n.name in (
        "SIPMessageDidSucceed", "SIPMessageDidFail"))
    assert (outcome.name, outcome.data.code, outcome.data.originator) == (
        "SIPMessageDidFail", 480, "remote")
    assert not [n for n in events.named("SIPEngineGotMessage")
                if n.data.body in (b"are you there?", b"and now?", b"hello?")]
