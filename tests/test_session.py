"""Sessions between two accounts through the real signalling service, with a test stream.

Both accounts live in this process and are claimed by its bus client; alice's
INVITE leaves the service over UDP (or TCP) to the service's own address and
comes back in as bob's incoming session, so every message really crosses
the network stack and the SIP parser twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.streams import ProbeStream

from sipsimple.account import Account, AccountManager
from sipsimple.bus.client import get_bus
from sipsimple.configuration import ConfigurationManager
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.core import SIPURI, Route, ToHeader
from sipsimple.notification import Notification
from sipsimple.session import IllegalStateError, Session, SessionManager

pytestmark = pytest.mark.integration

DOMAIN = "sip.test"


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> None:
    spawn_service("sipsimple_services.signalling", "signalling", SIPSIMPLE_CLIENT_TIMEOUT="2",
                  SIPSIMPLE_SIP_TRANSPORTS="udp,tcp")
    spawn_service("sipsimple_services.dns", "dns")


@pytest.fixture
def accounts(services: None) -> Iterator[dict[str, Account]]:
    ProbeStream.fail_initialize = ProbeStream.fail_start = ProbeStream.decline = False
    ConfigurationManager().start(MemoryBackend())
    created = {}
    for name in ("alice", "bob", "carol"):
        account = Account(f"{name}@{DOMAIN}")
        account.enabled = True
        account.display_name = name.title()
        account.sip.register = False
        account.save()
        created[name] = account
    AccountManager().start()
    SessionManager().start()
    wait_claimed([str(a.uri) for a in created.values()])
    yield created
    SessionManager().stop()
    AccountManager().stop()
    ConfigurationManager().stop()


def wait_claimed(aors: list[str], timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = get_bus().call("signalling", "status")
        if set(aors) <= {claim["aor"] for claim in status["accounts"]}:
            return
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def route(transport: str = "udp") -> Route:
    ports = get_bus().call("signalling", "get_transports")
    return Route("127.0.0.1", ports[transport], transport)


def to(name: str) -> ToHeader:
    return ToHeader(SIPURI(user=name, host=DOMAIN))


@pytest.fixture
def events() -> Iterator[Recorder]:
    with Recorder() as recorder:
        yield recorder


def session_names(events: Recorder, session: Session) -> list[str]:
    return [n.name for n in events.seen if n.sender is session and n.name.startswith("SIPSession")
            and n.name != "SIPSessionDidProcessTransaction"]


def incoming(events: Recorder, after: Session | None = None) -> Notification:
    return events.wait(lambda n: n.name == "SIPSessionNewIncoming" and n.sender is not after)


def call(events: Recorder, caller: Account, callee: str, transport: str = "udp",
         streams: int = 1) -> tuple[Session, Session]:
    """Place a call and accept it; both sessions connected."""
    session = Session(caller)
    session.connect(to(callee), [route(transport)], [ProbeStream(caller) for _ in range(streams)])
    new = incoming(events)
    answering: Session = new.sender
    answering.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is answering)
    return session, answering


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_accept_and_end(accounts: dict[str, Account], events: Recorder,
                             transport: str) -> None:
    alice = accounts["alice"]
    session = Session(alice)
    stream = ProbeStream(alice)
    session.connect(to("bob"), [route(transport)], [stream], subject="hello")
    assert session.state == "connecting" and session.direction == "outgoing"
    assert session in SessionManager().sessions

    new = incoming(events)
    answering: Session = new.sender
    assert answering.state == "incoming" and answering.direction == "incoming"
    assert answering.account is accounts["bob"]
    assert answering.subject == "hello"
    assert str(answering.remote_identity.uri) == "sip:alice@sip.test"
    assert answering.remote_identity.display_name == "Alice"
    [offered] = new.data.streams
    assert isinstance(offered, ProbeStream) and offered.remote_port == stream.port

    answering.send_ring_indication()
    events.wait(lambda n: n.name == "SIPSessionGotRingIndication" and n.sender is session)
    answering.accept([offered])
    started = events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert started.data.streams == [stream]
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is answering)
    assert session.state == answering.state == "connected"
    assert session.streams == [stream] and answering.streams == [offered]
    assert session.transport == transport
    assert session.start_time is not None and session.stop_time is None
    assert stream.remote_port == offered.port and offered.remote_port == stream.port
    assert session.remote_user_agent and answering.remote_user_agent
    assert session.proposed_streams is None

    session.end()
    ended = events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)
    assert ended.data.originator == "local" and ended.data.end_reason == "user_request"
    remote_end = events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)
    assert remote_end.data.originator == "remote"
    assert session.state == answering.state == "terminated"
    assert stream.ended and offered.ended
    assert session not in SessionManager().sessions
    assert session_names(events, session) == [
        "SIPSessionNewOutgoing", "SIPSessionGotProvisionalResponse",
        "SIPSessionGotRingIndication", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]
    assert session_names(events, answering) == [
        "SIPSessionNewIncoming", "SIPSessionWillStart", "SIPSessionDidStart",
        "SIPSessionWillEnd", "SIPSessionDidEnd"]
    transactions = [n.data for n in events.seen
                    if n.name == "SIPSessionDidProcessTransaction" and n.sender is session]
    assert [(t.originator, t.method, t.code) for t in transactions] == [
        ("local", "INVITE", 200), ("local", "BYE", 200)]
    assert not hasattr(transactions[1], "ack_received") or "ack_received" not in dict(
        transactions[1])
    answered = [n.data for n in events.seen
                if n.name == "SIPSessionDidProcessTransaction" and n.sender is answering]
    assert answered[0].method == "INVITE" and answered[0].ack_received is True


def test_reject(accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    answering = incoming(events).sender
    answering.reject(486, "Busy Here")
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert (failed.data.originator, failed.data.code, failed.data.reason) == (
        "remote", 486, "Busy Here")
    mine = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is answering)
    assert mine.data.originator == "local" and mine.data.failure_reason == "user_request"
    assert session.state == answering.state == "terminated"
    assert "SIPSessionDidEnd" not in session_names(events, session)


def test_cancel_a_ringing_call(accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    stream = ProbeStream(accounts["alice"])
    session.connect(to("bob"), [route()], [stream])
    answering = incoming(events).sender
    answering.send_ring_indication()
    events.wait(lambda n: n.name == "SIPSessionGotRingIndication")
    session.end()
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.originator == "local" and failed.data.code == 487
    assert failed.data.failure_reason == "user_request"
    theirs = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is answering)
    assert theirs.data.originator == "remote"
    assert stream.ended


def test_methods_in_the_wrong_state_raise_and_change_nothing(
        accounts: dict[str, Account], events: Recorder) -> None:
    session = Session(accounts["alice"])
    with pytest.raises(IllegalStateError):
        session.accept([])
    with pytest.raises(IllegalStateError):
        session.add_stream(ProbeStream(accounts["alice"]))
    assert session.state is None
    session.end()  # nothing started: nothing to do
    assert session.state is None
    caller, answering = call(events, accounts["alice"], "bob")
    with pytest.raises(IllegalStateError):
        caller.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    with pytest.raises(IllegalStateError):
        answering.accept(answering.streams)
    with pytest.raises(IllegalStateError):
        answering.reject()
    assert caller.state == answering.state == "connected"
    caller.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is answering)


def test_incoming_for_an_unknown_account_is_404(accounts: dict[str, Account],
                                              events: Recorder) -> None:
    # claimed by the service (so it reaches the facade) but not one of our accounts
    get_bus().call("signalling", "claim_account", aor=f"sip:dave@{DOMAIN}")
    session = Session(accounts["alice"])
    session.connect(to("dave"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.code == 404
    assert not events.named("SIPSessionNewIncoming")


def test_no_acceptable_stream_is_488(accounts: dict[str, Account], events: Recorder) -> None:
    ProbeStream.decline = True
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.code == 488
    assert not events.named("SIPSessionNewIncoming")


def test_route_failover(accounts: dict[str, Account], events: Recorder) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as closed:
        closed.bind(("127.0.0.1", 0))
        dead = Route("127.0.0.1", closed.getsockname()[1], "tcp")  # nothing listens
    session = Session(accounts["alice"])
    session.connect(to("bob"), [dead, route()], [ProbeStream(accounts["alice"])])
    new = incoming(events)
    new.sender.accept(new.data.streams)
    events.wait(lambda n: n.name == "SIPSessionDidStart" and n.sender is session)
    assert session.transport == "udp"
    session.end()
    events.wait(lambda n: n.name == "SIPSessionDidEnd" and n.sender is session)


def test_stream_failing_to_initialize_fails_the_call(accounts: dict[str, Account],
                                                      events: Recorder) -> None:
    ProbeStream.fail_initialize = True
    session = Session(accounts["alice"])
    session.connect(to("bob"), [route()], [ProbeStream(accounts["alice"])])
    failed = events.wait(lambda n: n.name == "SIPSessionDidFail" and n.sender is session)
    assert failed.data.originator == "local" and failed.data.code == 0
    assert "initialize" in failed.data.failure_reason
    assert not events.named("SIPSessionNewIncoming")
