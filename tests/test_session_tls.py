"""alice calls bob over TLS through the facade, the certificate verified against a test CA.

One signalling service with a certificate for "sip.test" (SAN 127.0.0.1 too)
issued by the test CA, which it also trusts: alice's INVITE leaves it over
TLS to its own TLS port, the route naming "sip.test" as the name to verify,
and comes back in as bob's session. A route naming another server fails the
call with the verification error as its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.notifications import Recorder
from harness.sessions import facade, route, sent_by, session_names, session_services, to
from harness.streams import ProbeStream
from harness.tlsca import TestCA

from sipsimple.account import Account
from sipsimple.session import Session

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def accounts(spawn_service: Callable[..., Any], ca: TestCA) -> Iterator[dict[str, Account]]:
    leaf = ca.issue("sip-test", "sip.test", dns=("sip.test",), ips=("127.0.0.1",))
    session_services(spawn_service, SIPSIMPLE_SIP_TRANSPORTS="udp,tcp,tls",
                     SIPSIMPLE_SIP_TLS_CERTIFICATE=str(leaf.cert),
                     SIPSIMPLE_SIP_TLS_PRIVATE_KEY=str(leaf.key),
                     SIPSIMPLE_SIP_TLS_CA_FILE=str(ca.path))
    with facade(["alice", "bob"]) as created:
        yield created


def test_call_over_tls(accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    session = Session(alice)
    stream = ProbeStream(alice)
    session.connect(to("bob"), [route("tls", "sip.test")], [stream])
    assert session.transport == "tls"
    new = events.wait("SIPSessionNewIncoming")
    answering: Session = new.sender
    assert answering.account is accounts["bob"] and answering.transport == "tls"
    [offered] = new.data.streams
    answering.accept([offered])
    started = events.wait(sent_by(session, "SIPSessionDidStart"))
    assert started.data.streams == [stream]
    events.wait(sent_by(answering, "SIPSessionDidStart"))
    assert session.transport == answering.transport == "tls"
    assert stream.remote_port == offered.port and offered.remote_port == stream.port
    # the callee's requests in the dialog go back over TLS to the caller's Contact
    answering.hold()
    held = events.wait(sent_by(session, "SIPSessionDidChangeHoldState"))
    assert (held.data.originator, held.data.on_hold) == ("remote", True)
    events.wait(sent_by(answering, "SIPSessionDidChangeHoldState"))
    answering.end()
    assert events.wait(sent_by(session, "SIPSessionDidEnd")).data.originator == "remote"
    assert events.wait(sent_by(answering, "SIPSessionDidEnd")).data.originator == "local"
    assert session_names(events, session)[-4:] == [
        "SIPSessionDidStart", "SIPSessionDidChangeHoldState", "SIPSessionWillEnd",
        "SIPSessionDidEnd"]


def test_a_route_naming_another_server_fails_verification(
        accounts: dict[str, Account], events: Recorder) -> None:
    alice = accounts["alice"]
    session = Session(alice)
    stream = ProbeStream(alice)
    session.connect(to("bob"), [route("tls", "other.test")], [stream])
    failed = events.wait(sent_by(session, "SIPSessionDidFail"))
    assert failed.data.originator == "local" and failed.data.code == 503
    reason = (failed.data.reason or "").lower()
    assert "certificate" in reason and "other.test" in reason, failed.data.reason
    assert not events.named("SIPSessionNewIncoming")
    assert stream.ended and session.state == "terminated"
