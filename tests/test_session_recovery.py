"""A signalling service killed in the middle of a call is not a hang (issue 4 item 9).

The four services run under supervisord, as SIPApplication runs them. alice
and bob are connected when the signalling service gets SIGKILL: both
Sessions end (the bus notices the silence, or the new instance) with a reason
that names the signalling service, supervisord starts a new instance, the
AccountManager claims the accounts on it again, and a new call between the
same accounts connects. Accounts that register (with Kamailio) register
again on the new instance, and calls through Kamailio work again. The last
test does it all through SIPApplication, as a UI would.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.sessions import DOMAIN, call, facade, incoming, route, sent_by, to, wait_claimed
from harness.streams import ProbeStream

from sipsimple import supervision
from sipsimple.account import Account
from sipsimple.application import SIPApplication
from sipsimple.bus.client import get_bus
from sipsimple.configuration.datatypes import SIPProxyAddress
from sipsimple.session import Session, SessionManager
from sipsimple.session.transfer import routes_for
from sipsimple.storage import MemoryStorage

pytestmark = pytest.mark.integration


@pytest.fixture
def accounts(supervised: Path) -> Iterator[dict[str, Account]]:
    with facade(["alice", "bob"]) as created:
        yield created


def known_instance(service: str, timeout: float = 10) -> str:
    """The instance id the facade's bus client has seen answer (so a restart is noticed)."""
    deadline = time.monotonic() + timeout
    while not (instance := get_bus().state[service].instance):
        assert time.monotonic() < deadline, f"{service} never answered a heartbeat"
        time.sleep(0.02)
    return str(instance)


def test_sigkill_of_signalling_ends_the_calls_and_new_calls_work(
        accounts: dict[str, Account], events: Recorder) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    caller, answering = call(events, alice, "bob", [route("udp")])
    before = known_instance("signalling")
    pid = get_bus().ping("signalling")["pid"]

    os.kill(pid, signal.SIGKILL)
    for session in (caller, answering):
        # both ended here, without SIP: nothing was left to send it
        ended = events.wait(lambda n, s=session: n.sender is s and n.name in (
            "SIPSessionDidEnd", "SIPSessionDidFail"), timeout=30)
        assert ended.name == "SIPSessionDidEnd", ended.data.__dict__
        assert ended.data.originator == "local"
        assert "signalling service" in ended.data.end_reason, ended.data.end_reason
        assert session.state == "terminated" and session.stop_time is not None
        assert all(stream.ended for stream in session.streams)
    assert SessionManager().sessions == []

    restarted = events.wait(lambda n: n.name == "ServiceDidRestart"
                            and n.data.service == "signalling", timeout=30)
    assert restarted.data.previous_instance == before
    assert get_bus().ping("signalling")["pid"] != pid
    wait_claimed([str(alice.uri), str(bob.uri)], timeout=15)

    again, again_answering = call(events, alice, "bob", [route("udp")])
    assert again.state == again_answering.state == "connected"
    assert again_answering.account is bob
    again.end()
    events.wait(sent_by(again, "SIPSessionDidEnd"))
    assert events.wait(sent_by(again_answering, "SIPSessionDidEnd")).data.originator == "remote"


def test_sigkill_while_ringing_fails_both_sessions(
        accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    known_instance("signalling")
    session = Session(alice)
    session.connect(to("bob"), [route("udp")], [ProbeStream(alice)])
    answering = incoming(events).sender
    answering.send_ring_indication()
    events.wait(sent_by(session, "SIPSessionGotRingIndication"))

    os.kill(get_bus().ping("signalling")["pid"], signal.SIGKILL)
    for each in (session, answering):
        failed = events.wait(lambda n, s=each: n.sender is s and n.name in (
            "SIPSessionDidEnd", "SIPSessionDidFail"), timeout=30)
        assert failed.name == "SIPSessionDidFail", failed.data.__dict__
        assert failed.data.originator == "local" and failed.data.code == 0
        assert "signalling service" in failed.data.failure_reason
        assert each.state == "terminated"
    events.wait(lambda n: n.name == "ServiceDidRestart" and n.data.service == "signalling",
                timeout=30)
    wait_claimed([str(alice.uri), str(accounts["bob"].uri)], timeout=15)
    caller, callee = call(events, alice, "bob", [route("udp")])
    caller.end()
    events.wait(sent_by(callee, "SIPSessionDidEnd"))


def test_registered_accounts_register_again_on_the_new_instance(
        supervised: Path, kamailio: Kamailio, events: Recorder) -> None:
    def configure(account: Account) -> None:
        account.auth.password = kamailio.password(str(account.user))
        account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", kamailio.port("udp"), "udp")
        account.sip.register = True
        account.sip.register_interval = 300

    with facade(["alice", "bob"], configure, domain=kamailio.domain) as accounts:
        alice, bob = accounts["alice"], accounts["bob"]

        def registered(after: int) -> None:
            """Both accounts' registration outcome among the notifications from `after` on."""
            for account in (alice, bob):
                done = events.wait(lambda n, a=account: n.sender is a and n.name in (
                    "SIPAccountRegistrationDidSucceed", "SIPAccountRegistrationDidFail")
                    and events.seen.index(n) >= after, timeout=30)
                assert done.name == "SIPAccountRegistrationDidSucceed", done.data.__dict__

        registered(0)
        known_instance("signalling")
        mark = len(events.seen)
        os.kill(get_bus().ping("signalling")["pid"], signal.SIGKILL)
        events.wait(lambda n: n.name == "ServiceDidRestart" and n.data.service == "signalling",
                    timeout=30)
        registered(mark)  # the new instance knew nothing of them: registered again
        assert alice.registered and bob.registered

        routes = routes_for(alice, to("bob", kamailio.domain).uri)
        caller, callee = call(events, alice, "bob", routes)
        assert callee.account is bob
        caller.end()
        events.wait(sent_by(callee, "SIPSessionDidEnd"))


def test_sigkill_while_a_proposal_waits_ends_its_streams_too(
        accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    known_instance("signalling")
    caller, answering = call(events, alice, "bob", [route("udp")])
    added = ProbeStream(alice)
    caller.add_stream(added)
    proposal = events.wait(sent_by(answering, "SIPSessionGotProposal"))
    [proposed] = proposal.data.streams
    assert caller.state == "sending_proposal" and answering.state == "received_proposal"

    os.kill(get_bus().ping("signalling")["pid"], signal.SIGKILL)
    for session in (caller, answering):
        ended = events.wait(lambda n, s=session: n.sender is s and n.name in (
            "SIPSessionDidEnd", "SIPSessionDidFail"), timeout=30)
        assert ended.name == "SIPSessionDidEnd", ended.data.__dict__
        assert "signalling service" in ended.data.end_reason
        assert session.state == "terminated" and session.proposed_streams is None
    assert added.ended and proposed.ended
    assert all(s.ended for s in caller.streams + answering.streams)


def test_the_same_through_sipapplication(runtime: Path, events: Recorder) -> None:
    # as a UI runs it: SIPApplication starts the services and the managers
    ProbeStream.fail_initialize = ProbeStream.fail_start = ProbeStream.decline = False
    app = SIPApplication()
    try:
        app.start(MemoryStorage())
        events.wait("SIPApplicationDidStart", timeout=30)
        accounts = {}
        for name in ("alice", "bob"):
            account = Account(f"{name}@{DOMAIN}")
            account.enabled = True
            account.sip.register = False
            account.save()
            accounts[name] = account
        wait_claimed([str(a.uri) for a in accounts.values()], timeout=15)
        caller, answering = call(events, accounts["alice"], "bob", [route("udp")])
        known_instance("signalling")
        os.kill(get_bus().ping("signalling")["pid"], signal.SIGKILL)
        for session in (caller, answering):
            ended = events.wait(sent_by(session, "SIPSessionDidEnd"), timeout=30)
            assert "signalling service" in ended.data.end_reason
        events.wait(lambda n: n.name == "ServiceDidRestart" and n.data.service == "signalling",
                    timeout=30)
        wait_claimed([str(a.uri) for a in accounts.values()], timeout=15)
        again, _ = call(events, accounts["alice"], "bob", [route("udp")])
        again.end()
        events.wait(sent_by(again, "SIPSessionDidEnd"))
    finally:
        if app.state not in (None, "stopped"):
            app.stop()
            events.wait("SIPApplicationDidEnd", timeout=30)
        supervision.stop()
