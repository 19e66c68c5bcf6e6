"""SignallingEngine + UACore: two engines in this process talking over loopback.

The process is not monkey-patched: the engines use gevent sockets, and
waiting on gevent results runs the hub.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import gevent
import pytest
from gevent import socket as gsocket

from sipsimple.core import SIPURI
from sipsimple.core.headers import (
    CallIDHeader,
    CSeqHeader,
    FromHeader,
    GenericHeader,
    Header,
    MaxForwardsHeader,
    ToHeader,
)
from sipsimple_services.signalling.glue.engine import (
    Completion,
    Outcome,
    SignallingEngine,
    TraceRecord,
)
from sipsimple_services.signalling.glue.outgoing import build_request, send_out_of_dialog
from sipsimple_services.signalling.glue.ua import IncomingRequest, NotPending, UACore
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelReceived,
    RequestReceived,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim
from sipsimple_services.signalling.transport import TransportConfig

# T1 as the RFC's, so that an answer may come up to 32 s late on a loaded machine
# (Timer B/F), and the waits after an end (I, K, D) short
SETTLING = TimerConfig(t4=0.2, timer_d=0.2)
FAST = TimerConfig(t1=0.05, t2=0.2, t4=0.2, timer_d=0.2)  # for Timer F itself


@dataclass
class Node:
    engine: SignallingEngine
    core: UACore
    accounts: AccountRegistry
    delivered: list[IncomingRequest] = field(default_factory=list)
    completed: list[Completion] = field(default_factory=list)
    traced: list[TraceRecord] = field(default_factory=list)

    def to(self, transport: str = "UDP") -> Destination:
        return Destination("127.0.0.1", self.engine.local_addresses[transport].port, transport)


@pytest.fixture
def node() -> Iterator[Callable[..., Node]]:
    made: list[Node] = []

    def make(timers: TimerConfig = SETTLING, **core_options: Any) -> Node:
        accounts = AccountRegistry()
        core = UACore(accounts, server="test/1", **core_options)
        engine = SignallingEngine(TransportConfig(host="127.0.0.1"), core, timers=timers)
        item = Node(engine, core, accounts)
        core.on_request = item.delivered.append
        engine.on_completed = item.completed.append
        engine.tracer = item.traced.append
        engine.start()
        made.append(item)
        return item

    yield make
    for item in made:
        item.engine.stop()


def send(
    sender: Node, receiver: Node | Destination, method: str, *, user: str = "bob",
    transport: str = "UDP", headers: tuple[Header, ...] = (), body: bytes = b"",
    content_type: str | None = None, timeout: float = 10,
) -> Outcome:
    destination = receiver if isinstance(receiver, Destination) else receiver.to(transport)
    uri = SIPURI(host="127.0.0.1", user=user, port=destination.port)
    return send_out_of_dialog(
        sender.engine, method, uri, destination, from_uri=SIPURI(host="a.test", user="alice"),
        to_uri=uri, user_agent="test/1", headers=headers, body=body,
        content_type=content_type, timeout=timeout,
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.01)


def header(outcome: Outcome, name: str) -> str | None:
    found = outcome.response.header(name)
    return None if found is None else str(found)


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_options_answered_with_capabilities(node: Callable[..., Node], transport: str) -> None:
    a, b = node(), node()
    outcome = send(a, b, "OPTIONS", transport=transport)
    assert (outcome.response.code, outcome.local) == (200, False)
    assert "INVITE" in (header(outcome, "Allow") or "")
    assert "application/sdp" in (header(outcome, "Accept") or "")
    assert header(outcome, "Supported") is not None
    assert header(outcome, "Server") == "test/1"
    assert outcome.response.to is not None and outcome.response.to.tag
    assert [(c.originator, c.method, c.code) for c in a.completed] == [("local", "OPTIONS", 200)]
    assert [(c.originator, c.method, c.code) for c in b.completed] == [("remote", "OPTIONS", 200)]
    assert a.completed[0].call_id == outcome.response.call_id
    assert [r.direction for r in a.traced] == ["out", "in"]
    assert a.traced[0].data.startswith(b"OPTIONS ") and a.traced[0].transport == transport
    assert a.traced[1].data.startswith(b"SIP/2.0 200 OK")


def test_invite_nobody_owns_gets_480_and_is_acked(node: Callable[..., Node]) -> None:
    a, b = node(), node()
    outcome = send(a, b, "INVITE", body=b"v=0\r\n", content_type="application/sdp")
    assert outcome.response.code == 480
    # our client transaction ACKed the 480: the server side is confirmed and ends
    wait_until(lambda: any(r.data.startswith(b"ACK ") for r in b.traced if r.direction == "in"))
    wait_until(lambda: not b.engine.layer.server_transactions)
    assert not b.delivered


def test_message_codes_and_delivery(node: Callable[..., Node]) -> None:
    a, b = node(), node(answer_timeout=0.3)
    assert send(a, b, "MESSAGE", body=b"x", content_type="text/plain").response.code == 480
    b.accounts.claim(SIPURI(host="127.0.0.1", user="carol"), "client-1")
    assert send(a, b, "MESSAGE", body=b"x", content_type="text/plain").response.code == 480
    b.accounts.claim(SIPURI(host="127.0.0.1", user="bob"), "client-2")
    # delivered, but the client never answers: 480 after answer_timeout, never a 200
    assert send(a, b, "MESSAGE", body=b"x", content_type="text/plain").response.code == 480
    assert [i.answered for i in b.delivered] == [None]

    def answer(incoming: IncomingRequest) -> None:
        b.delivered.append(incoming)
        with pytest.raises(NotPending):  # only the client it was delivered to answers
            b.core.respond(b.engine, incoming.server_id, 200, None, [], b"", client="client-1")
        b.core.respond(b.engine, incoming.server_id, 200, None, [], b"", client="client-2")

    b.core.on_request = answer
    outcome = send(a, b, "MESSAGE", body=b"hello", content_type="text/plain")
    assert outcome.response.code == 200
    incoming = b.delivered[-1]
    assert incoming.request.body == b"hello" and incoming.answered is None
    assert incoming.claim == Claim("sip:bob@127.0.0.1", "client-2")
    assert incoming.source.host == "127.0.0.1" and incoming.source.transport == "UDP"


def test_client_answers_options_or_it_expires(node: Callable[..., Node]) -> None:
    a, b = node(), node(answer_timeout=0.3)
    b.accounts.claim(SIPURI(host="127.0.0.1", user="bob"), "client-1", options=True)
    assert send(a, b, "OPTIONS").response.code == 480  # nobody answered in time

    def answer(incoming: IncomingRequest) -> None:
        b.delivered.append(incoming)
        b.core.respond(b.engine, incoming.server_id, 200, "Fine",
                       [GenericHeader("X-Test", "1")], b"")

    b.core.on_request = answer
    outcome = send(a, b, "OPTIONS")
    assert (outcome.response.code, outcome.response.reason) == (200, "Fine")
    assert header(outcome, "X-Test") == "1"


def test_pending_answered_480_when_its_account_is_released(node: Callable[..., Node]) -> None:
    a, b = node(), node(answer_timeout=30)
    b.accounts.claim(SIPURI(host="127.0.0.1", user="bob"), "client-1")
    b.accounts.claim(SIPURI(host="127.0.0.1", user="carol"), "client-1")
    released: list[str] = []

    def deliver(incoming: IncomingRequest) -> None:
        b.core.client_gone(b.engine, "client-1", released[-1])
        if released[-1] != incoming.claim.aor:  # still pending: the client may answer
            b.core.respond(b.engine, incoming.server_id, 200, None, [], b"")

    b.core.on_request = deliver
    released.append("sip:carol@127.0.0.1")  # another account of the client
    assert send(a, b, "MESSAGE", body=b"x", content_type="text/plain").response.code == 200
    released.append("sip:bob@127.0.0.1")  # the account it came for
    assert send(a, b, "MESSAGE", body=b"x", content_type="text/plain").response.code == 480


def test_pending_answered_480_when_the_client_goes(node: Callable[..., Node]) -> None:
    a, b = node(), node(answer_timeout=30)
    b.accounts.claim(SIPURI(host="127.0.0.1", user="bob"), "client-1", options=True)
    b.core.on_request = lambda incoming: gevent.spawn_later(
        0.1, b.core.client_gone, b.engine, "client-1"
    )
    assert send(a, b, "OPTIONS").response.code == 480


@pytest.mark.parametrize(
    ("method", "headers", "code", "extra"),
    [
        ("REGISTER", (), 405, "Allow"),
        ("PUBLISH", (), 405, "Allow"),
        ("FOO", (), 501, "Allow"),
        ("BYE", (), 481, None),
        ("OPTIONS", (GenericHeader("Require", "foo, replaces"),), 420, "Unsupported"),
    ],
)
def test_other_requests(
    node: Callable[..., Node], method: str, headers: tuple[Header, ...], code: int,
    extra: str | None,
) -> None:
    a, b = node(), node()
    outcome = send(a, b, method, headers=headers)
    assert outcome.response.code == code
    if extra is not None:
        assert header(outcome, extra)
    if code == 420:
        assert header(outcome, "Unsupported") == "foo"


def test_request_in_unknown_dialog_gets_481(node: Callable[..., Node]) -> None:
    a, b = node(), node()
    destination = b.to()
    uri = SIPURI(host="127.0.0.1", user="bob", port=destination.port)
    request = build_request(
        a.engine, "INFO", uri, destination, from_header=FromHeader(uri, parameters={"tag": "f"}),
        to_header=ToHeader(uri, parameters={"tag": "unknown"}), call_id="nodialog", cseq=5,
        user_agent="test/1",
    )
    outcome = a.engine.request(request, destination).get(timeout=10)
    assert outcome.response.code == 481


class HoldingDialogLayer:
    """Takes INVITEs without answering (as a ringing session would), declines the rest."""

    def __init__(self) -> None:
        self.events: list[tuple[TUEvent, Claim | None]] = []

    def handle(self, event: TUEvent, engine: SignallingEngine, claim: Claim | None) -> bool:
        self.events.append((event, claim))
        return isinstance(event, RequestReceived) and event.request.method == "INVITE"


def test_dialog_layer_seam_and_cancel_fallback(node: Callable[..., Node]) -> None:
    layer = HoldingDialogLayer()
    a, b = node(), node(dialog_layer=layer)
    b.accounts.claim(SIPURI(host="127.0.0.1", user="bob"), "client-1")
    destination = b.to()
    uri = SIPURI(host="127.0.0.1", user="bob", port=destination.port)
    invite = build_request(
        a.engine, "INVITE", uri, destination,
        from_header=FromHeader(uri, parameters={"tag": "f1"}), to_header=ToHeader(uri),
        call_id="cancel-me", cseq=1, user_agent="test/1",
    )
    invite = a.engine.layer.with_branch(invite)
    result = a.engine.request(invite, destination)
    wait_until(lambda: bool(layer.events))
    event, claim = layer.events[0]
    assert isinstance(event, RequestReceived) and claim is not None and claim.client == "client-1"
    via = invite.top_via
    assert via is not None
    cancel = SIPRequest("CANCEL", invite.uri, (
        via, MaxForwardsHeader(70), *(h for h in invite.headers
                                       if isinstance(h, FromHeader | ToHeader | CallIDHeader)),
        CSeqHeader(1, "CANCEL"),
    ))
    assert a.engine.request(cancel, destination).get(timeout=10).response.code == 200
    assert result.get(timeout=10).response.code == 487
    assert any(isinstance(e, CancelReceived) for e, _ in layer.events)


def test_transport_failure_is_a_local_503(node: Callable[..., Node]) -> None:
    a = node()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outcome = send(a, Destination("127.0.0.1", port, "TCP"), "OPTIONS")
    assert (outcome.response.code, outcome.local) == (503, True)
    assert outcome.error is not None and "refused" in outcome.error
    assert [(c.originator, c.code) for c in a.completed] == [("local", 503)]


def test_a_lost_connection_is_a_local_503_saying_why(node: Callable[..., Node]) -> None:
    # The peer takes the request and closes: the transaction fails now, not at Timer F,
    # and its 503 says why (as for a connection from an address the host lost).
    a = node()
    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def take_and_close() -> None:
        sock, _ = listener.accept()
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65535)
        sock.close()

    peer = gevent.spawn(take_and_close)
    outcome = send(a, Destination("127.0.0.1", listener.getsockname()[1], "TCP"), "OPTIONS")
    peer.get(timeout=5)
    listener.close()
    assert (outcome.response.code, outcome.local) == (503, True)
    assert outcome.error == "connection closed: closed by peer"
    assert "closed by peer" in outcome.response.reason
    assert [(c.originator, c.code) for c in a.completed] == [("local", 503)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
@pytest.mark.parametrize("method", ["OPTIONS", "INVITE"])
def test_a_dead_udp_port_is_a_local_503(node: Callable[..., Node], method: str) -> None:
    # The ICMP port-unreachable fails the transaction (RFC 3261 18.4), not Timer B/F.
    a = node()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    outcome = send(a, Destination("127.0.0.1", port, "UDP"), method)
    assert (outcome.response.code, outcome.local) == (503, True)
    assert outcome.error == "port unreachable"
    assert "port unreachable" in outcome.response.reason
    assert [(c.originator, c.code) for c in a.completed] == [("local", 503)]
    # and the socket still carries everything else
    assert send(a, node(), "OPTIONS").response.code == 200


def test_silence_is_a_local_408(node: Callable[..., Node]) -> None:
    a = node(timers=FAST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        outcome = send(a, Destination("127.0.0.1", silent.getsockname()[1]), "OPTIONS")
        retransmissions = silent.recv(65535), silent.recv(65535)
    assert (outcome.response.code, outcome.local) == (408, True)  # Timer F (64*T1)
    assert retransmissions[0] == retransmissions[1]  # Timer E retransmitted it
    wait_until(lambda: len(a.engine.wheel) == 0)  # the ended transaction left no timer
    assert not a.engine.layer.client_transactions


def test_reconfigure_keeps_bound_ports(node: Callable[..., Node]) -> None:
    a, b = node(), node()
    before = b.engine.local_addresses
    b.engine.reconfigure(TransportConfig(host="127.0.0.1", tcp_port=None))
    after = b.engine.local_addresses
    assert after["UDP"].port == before["UDP"].port and "TCP" not in after
    assert send(a, b, "OPTIONS").response.code == 200
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        with pytest.raises(OSError):
            b.engine.reconfigure(TransportConfig(host="127.0.0.1", udp_port=taken.getsockname()[1]))
    assert b.engine.local_addresses["UDP"].port == before["UDP"].port
    assert send(a, b, "OPTIONS").response.code == 200


def test_via_address_for_a_wildcard_bind() -> None:
    engine = SignallingEngine(TransportConfig(host="0.0.0.0", tcp_port=None))
    engine.start()
    try:
        host, port = engine.via_address(Destination("127.0.0.1", 5060))
        assert host == "127.0.0.1" and port == engine.local_addresses["UDP"].port
        assert engine.via_address(Destination("127.0.0.1", 5060, "TCP"))[1] is None
    finally:
        engine.stop()
