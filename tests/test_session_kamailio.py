"""Two accounts register with Kamailio (digest auth) and call each other through it.

The accounts' outbound proxy is Kamailio (an IP literal: the DNS service
resolves it without queries); the call's routes come from
`sipsimple.session.transfer.routes_for`, as for any call the facade places.
Kamailio challenges the INVITE with 407; the signalling service answers it
with the account's credentials, Kamailio finds bob's registered contact and
forwards the call there, Record-Routing itself, so that the ACK, a hold
re-INVITE and the BYE cross it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness.kamailio import Kamailio
from harness.notifications import Recorder
from harness.sessions import facade, of, sent_by, session_names, session_services, to
from harness.streams import ProbeStream

from sipsimple.account import Account
from sipsimple.configuration.datatypes import SIPProxyAddress
from sipsimple.session import Session
from sipsimple.session.transfer import routes_for

pytestmark = pytest.mark.integration


@pytest.fixture
def services(spawn_service: Callable[..., Any]) -> None:
    session_services(spawn_service, SIPSIMPLE_SIP_TRANSPORTS="udp,tcp")


def registering(kamailio: Kamailio, transport: str) -> Callable[[Account], None]:
    """Credentials and Kamailio as the outbound proxy over `transport`; register."""
    def configure(account: Account) -> None:
        account.auth.password = kamailio.password(str(account.user))
        account.sip.outbound_proxy = SIPProxyAddress("127.0.0.1", kamailio.port(transport),
                                                     transport)
        account.sip.register = True
        account.sip.register_interval = 300
    return configure


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_register_then_call_through_kamailio(kamailio: Kamailio, services: None,
                                             events: Recorder, transport: str) -> None:
    with facade(["alice", "bob"], registering(kamailio, transport),
                domain=kamailio.domain) as accounts:
        alice, bob = accounts["alice"], accounts["bob"]
        for account in (alice, bob):
            done = events.wait(lambda n, a=account: n.sender is a and n.name in (
                "SIPAccountRegistrationDidSucceed", "SIPAccountRegistrationDidFail"))
            assert done.name == "SIPAccountRegistrationDidSucceed", done.data.__dict__
            assert done.data.registrar.transport == transport
        assert kamailio.wait_registered("alice") and kamailio.wait_registered("bob"), \
            kamailio.log()

        routes = routes_for(alice, to("bob", kamailio.domain).uri)
        assert [(r.address, r.port, r.transport) for r in routes][:1] == [
            ("127.0.0.1", kamailio.port(transport), transport)]
        session = Session(alice)
        stream = ProbeStream(alice)
        session.connect(to("bob", kamailio.domain), routes, [stream])
        new = events.wait("SIPSessionNewIncoming")
        answering: Session = new.sender
        assert answering.account is bob
        assert str(answering.remote_identity.uri) == f"sip:alice@{kamailio.domain}"
        [offered] = new.data.streams
        answering.accept([offered])
        events.wait(sent_by(session, "SIPSessionDidStart"))
        events.wait(sent_by(answering, "SIPSessionDidStart"))
        assert session.transport == answering.transport == transport
        assert stream.remote_port == offered.port and offered.remote_port == stream.port
        # the INVITE was challenged (407) and sent again with alice's credentials
        assert [(t.data.method, t.data.code) for t in
                of(events, session, "SIPSessionDidProcessTransaction")] == [
            ("INVITE", 407), ("INVITE", 200)]

        # a re-INVITE in the dialog follows the Record-Route
        session.hold()
        held = events.wait(lambda n: n.sender is answering
                           and n.name == "SIPSessionDidChangeHoldState")
        assert (held.data.originator, held.data.on_hold) == ("remote", True)
        local = events.wait(lambda n: n.sender is session
                            and n.name == "SIPSessionDidChangeHoldState")
        assert (local.data.originator, local.data.on_hold) == ("local", True)
        assert offered.on_hold_by_remote and stream.on_hold_by_local

        byes = kamailio.log(10**7).count("REQ BYE")
        answering.end()  # the BYE goes bob -> Kamailio (Record-Route) -> alice
        ended = events.wait(sent_by(session, "SIPSessionDidEnd"))
        assert ended.data.originator == "remote"
        mine = events.wait(sent_by(answering, "SIPSessionDidEnd"))
        assert mine.data.originator == "local"
        assert kamailio.log(10**7).count("REQ BYE") == byes + 1  # logged before relayed
        names = [n for n in session_names(events, session)
                 if n != "SIPSessionGotProvisionalResponse"]  # Kamailio's 100, if reported
        assert names == ["SIPSessionNewOutgoing", "SIPSessionWillStart", "SIPSessionDidStart",
                         "SIPSessionDidChangeHoldState", "SIPSessionWillEnd", "SIPSessionDidEnd"]
        assert [(t.data.method, t.data.code) for t in
                of(events, session, "SIPSessionDidProcessTransaction")] == [
            ("INVITE", 407), ("INVITE", 200), ("INVITE", 200), ("BYE", 200)]
        assert stream.ended and offered.ended


def test_reject_and_cancel_through_kamailio(kamailio: Kamailio, services: None,
                                            events: Recorder) -> None:
    with facade(["alice", "bob"], registering(kamailio, "udp"),
                domain=kamailio.domain) as accounts:
        alice = accounts["alice"]
        for user in ("alice", "bob"):
            assert kamailio.wait_registered(user), kamailio.log()
        events.wait(lambda n: n.sender is accounts["bob"]
                    and n.name == "SIPAccountRegistrationDidSucceed")
        routes = routes_for(alice, to("bob", kamailio.domain).uri)

        # bob is busy: the 486 reaches alice through the proxy
        session = Session(alice)
        session.connect(to("bob", kamailio.domain), routes, [ProbeStream(alice)])
        answering: Session = events.wait("SIPSessionNewIncoming").sender
        answering.reject(486, "Busy Here")
        failed = events.wait(sent_by(session, "SIPSessionDidFail"))
        assert (failed.data.originator, failed.data.code) == ("remote", 486)

        # alice gives up while bob rings: the CANCEL goes through the proxy
        seen = {id(n) for n in events.named("SIPSessionNewIncoming")}
        session = Session(alice)
        stream = ProbeStream(alice)
        session.connect(to("bob", kamailio.domain), routes, [stream])
        ringing = events.wait(lambda n: n.name == "SIPSessionNewIncoming"
                              and id(n) not in seen).sender
        ringing.send_ring_indication()
        events.wait(sent_by(session, "SIPSessionGotRingIndication"))
        session.end()
        failed = events.wait(sent_by(session, "SIPSessionDidFail"))
        assert failed.data.code == 487 and failed.data.failure_reason == "user_request"
        theirs = events.wait(sent_by(ringing, "SIPSessionDidFail"))
        assert theirs.data.originator == "remote"
        assert stream.ended and session.state == ringing.state == "terminated"
