"""INVITE client transaction (RFC 3261 17.1.1, RFC 6026 Accepted) with a fake clock."""

from __future__ import annotations

import pytest
from sip_transaction_fixtures import (
    TCP,
    UDP,
    clock_for,
    kinds,
    request,
    response,
    sent,
    timers_cancelled,
    timers_started,
    tu,
)

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions import (
    ClientInviteTransaction,
    State,
    TransactionError,
    build_ack,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    ResponseReceived,
    Send,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import client_key_for_request
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig


def make(destination: Destination = UDP, config: TimerConfig | None = None, **kw: object):
    req = request(transport=destination.transport, **kw)  # type: ignore[arg-type]
    tx = ClientInviteTransaction(client_key_for_request(req), req, destination, config)
    clock = clock_for(tx)
    return tx, clock


def test_start_over_udp_sends_and_arms_a_and_b() -> None:
    tx, clock = make()
    effects = clock.apply(tx.start(0.0))
    assert sent(effects) == [tx.request]
    assert effects[0] == Send(tx.request, UDP)
    assert timers_started(effects) == [("A", 0.5), ("B", 32.0)]
    assert tx.state is State.CALLING


def test_timer_a_doubles_without_cap_until_b_gives_408() -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    effects = clock.advance(40.0)
    # retransmissions at T1, 3T1, 7T1... (intervals 0.5, 1, 2, 4, 8, 16: A is not capped at T2)
    assert [t for t, name in clock.fired if name == "A"] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert sent(effects) == [tx.request] * 6
    assert clock.fired[-1] == (32.0, "B")
    timeout = [e for e in effects if isinstance(e, TransactionTimedOut)]
    assert len(timeout) == 1 and timeout[0].key == tx.key
    assert timeout[0].response.code == 408
    assert timeout[0].response.call_id == tx.request.call_id
    assert timeout[0].response.cseq == tx.request.cseq
    assert effects[-1] == TransactionTerminated(tx.key, "INVITE", None)
    assert "A" in timers_cancelled(effects)  # A was armed for 63.5
    assert tx.state is State.TERMINATED and tx.terminated_at == 32.0
    assert clock.timers == {}


def test_reliable_transport_has_no_timer_a() -> None:
    tx, clock = make(TCP)
    effects = clock.apply(tx.start(0.0))
    assert timers_started(effects) == [("B", 32.0)]
    effects = clock.advance(32.0)
    assert sent(effects) == []
    assert kinds(effects) == ["TransactionTimedOut", "TransactionTerminated"]


def test_timer_values_follow_t1() -> None:
    tx, clock = make(config=TimerConfig(t1=0.1, t2=0.4))
    assert timers_started(clock.apply(tx.start(0.0))) == [("A", 0.1), ("B", pytest.approx(6.4))]


@pytest.mark.parametrize("destination", [UDP, TCP])
def test_provisional_moves_to_proceeding_and_stops_retransmissions(
    destination: Destination,
) -> None:
    tx, clock = make(destination)
    clock.apply(tx.start(0.0))
    clock.advance(0.7)
    ringing = response(tx.request, 180)
    effects = clock.apply(tx.receive(ringing, 0.7))
    assert tu(effects) == [ResponseReceived(tx.key, ringing)]
    assert set(timers_cancelled(effects)) == ({"A", "B"} if destination is UDP else {"B"})
    assert timers_started(effects) == [("C", 200.0)]
    assert tx.state is State.PROCEEDING
    # no more retransmissions, no Timer B
    assert sent(clock.advance(100.0)) == []
    # each provisional restarts Timer C
    effects = clock.apply(tx.receive(response(tx.request, 183), clock.now))
    assert kinds(effects) == ["ResponseReceived", "CancelTimer", "StartTimer"]
    effects = clock.advance(199.0)
    assert effects == [] and tx.state is State.PROCEEDING
    effects = clock.advance(1.0)
    assert kinds(effects) == ["TransactionTimedOut", "TransactionTerminated"]
    assert clock.now == 300.7


@pytest.mark.parametrize("code", [300, 404, 486, 503, 603])
def test_failure_in_calling_acks_and_waits_timer_d(code: int) -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    final = response(tx.request, code)
    clock.advance(0.2)
    effects = clock.apply(tx.receive(final, clock.now))
    assert kinds(effects) == [
        "CancelTimer", "CancelTimer", "ResponseReceived", "Send", "StartTimer",
    ]
    assert tu(effects) == [ResponseReceived(tx.key, final)]
    (ack,) = sent(effects)
    assert isinstance(ack, SIPRequest) and ack.method == "ACK"
    assert timers_started(effects) == [("D", 32.0)]
    assert tx.state is State.COMPLETED
    # a retransmitted final response is ACKed again, not passed up
    clock.advance(0.8)
    effects = clock.apply(tx.receive(final, clock.now))
    assert effects == [Send(ack, UDP)]
    # provisional and 2xx responses are discarded in Completed
    assert tx.receive(response(tx.request, 180), 1.1) == []
    assert tx.receive(response(tx.request, 200), 1.2) == []
    effects = clock.advance(31.2)
    assert effects == [TransactionTerminated(tx.key, "INVITE", final)]
    assert clock.fired[-1] == (32.2, "D")


def test_failure_in_proceeding_over_tcp_terminates_at_once() -> None:
    tx, clock = make(TCP)
    clock.apply(tx.start(0.0))
    clock.apply(tx.receive(response(tx.request, 100, to_tag=None), 0.1))
    final = response(tx.request, 487)
    effects = clock.apply(tx.receive(final, 0.5))
    assert kinds(effects) == [
        "CancelTimer", "ResponseReceived", "Send", "TransactionTerminated",
    ]
    assert timers_cancelled(effects) == ["C"]
    assert tx.state is State.TERMINATED and clock.timers == {}


def test_ack_for_non_2xx_headers_follow_17_1_1_3() -> None:
    req = request(routes=["p1.example.com", "p2.example.com"])
    # a second Via (as if we were behind something that added one) must not be copied
    extra = h.ViaHeader("UDP", "10.9.9.9", None, {"branch": "z9hG4bKother"})
    req = SIPRequest(req.method, req.uri, (*req.headers[:1], extra, *req.headers[1:]), req.body)
    final = response(req, 486, to_tag="xyz")
    ack = build_ack(req, final)
    assert ack.method == "ACK"
    assert ack.uri == req.uri
    assert ack.via == [req.via[0]]  # one Via, the INVITE's top Via: same branch
    assert ack.route == req.route and len(ack.route) == 2
    assert ack.from_ == req.from_
    assert ack.to == final.to and ack.to is not None and ack.to.tag == "xyz"
    assert ack.call_id == req.call_id
    assert ack.cseq == h.CSeqHeader(1, "ACK")
    assert ack.max_forwards == 70
    assert ack.body == b"" and ack.header("Contact") is None
    assert [header.name for header in ack.headers] == [
        "Via", "Route", "Route", "Max-Forwards", "From", "To", "Call-ID", "CSeq",
    ]
    parsed = parse_message(bytes(ack))
    assert isinstance(parsed, SIPRequest)
    assert [x for x in parsed.headers if x.name != "Content-Length"] == list(ack.headers)


@pytest.mark.parametrize("first", [None, 180])
def test_2xx_moves_to_accepted_and_passes_every_2xx_up(first: int | None) -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    if first is not None:
        clock.apply(tx.receive(response(tx.request, first), 0.0))
    ok = response(tx.request, 200)
    clock.advance(0.3)
    effects = clock.apply(tx.receive(ok, clock.now))
    assert tu(effects) == [ResponseReceived(tx.key, ok)]
    assert sent(effects) == []  # the dialog ACKs a 2xx, not the transaction
    assert timers_started(effects) == [("M", 32.0)]
    assert set(timers_cancelled(effects)) == ({"A", "B"} if first is None else {"C"})
    assert tx.state is State.ACCEPTED
    # retransmissions and other forks' 2xx go up too
    assert tu(tx.receive(ok, 1.0)) == [ResponseReceived(tx.key, ok)]
    fork = response(tx.request, 200, to_tag="fork2")
    assert tu(tx.receive(fork, 2.0)) == [ResponseReceived(tx.key, fork)]
    # everything else is discarded
    assert tx.receive(response(tx.request, 180), 2.1) == []
    assert tx.receive(response(tx.request, 486), 2.2) == []
    assert tx.transport_error(2.3) == []
    effects = clock.advance(32.0)
    assert effects == [TransactionTerminated(tx.key, "INVITE", ok)]
    assert clock.fired[-1] == (32.3, "M")


@pytest.mark.parametrize("destination", [UDP, TCP])
def test_transport_error_in_calling_gives_503(destination: Destination) -> None:
    tx, clock = make(destination)
    clock.apply(tx.start(0.0))
    effects = clock.apply(tx.transport_error(0.01))
    failed = [e for e in effects if isinstance(e, TransportFailed)]
    assert len(failed) == 1 and failed[0].response.code == 503
    assert isinstance(effects[-1], TransactionTerminated)
    assert clock.timers == {}


def test_transport_error_in_proceeding_gives_503_and_in_completed_just_ends() -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    clock.apply(tx.receive(response(tx.request, 180), 0.1))
    assert kinds(clock.apply(tx.transport_error(0.2))) == [
        "TransportFailed", "CancelTimer", "TransactionTerminated",
    ]
    tx, clock = make()
    clock.apply(tx.start(0.0))
    clock.apply(tx.receive(response(tx.request, 404), 0.1))
    assert kinds(clock.apply(tx.transport_error(0.2))) == [
        "CancelTimer", "TransactionTerminated",
    ]


def test_invalid_calls_raise_transaction_error() -> None:
    with pytest.raises(TransactionError):
        req = request("OPTIONS")
        ClientInviteTransaction(client_key_for_request(req), req, UDP)
    with pytest.raises(TransactionError):
        bad = SIPRequest("INVITE", request().uri, request().headers[:2])
        ClientInviteTransaction(("z9hG4bKx", "INVITE"), bad, UDP)
    tx, clock = make()
    with pytest.raises(TransactionError):
        tx.receive(response(tx.request, 200), 0.0)  # not started
    with pytest.raises(TransactionError):
        tx.transport_error(0.0)
    clock.apply(tx.start(0.0))
    with pytest.raises(TransactionError):
        tx.start(0.0)
    with pytest.raises(TransactionError):
        tx.receive(tx.request, 0.1)  # type: ignore[arg-type]
    with pytest.raises(TransactionError):
        tx.timer_fired("Z", 0.1)
    # a timer the machine does not wait for is stale, not an error
    assert tx.timer_fired("D", 0.1) == []
    clock.advance(100.0)
    assert tx.state is State.TERMINATED
    assert tx.receive(response(tx.request, 200), 101.0) == []
    assert tx.timer_fired("B", 101.0) == []
    assert tx.transport_error(101.0) == []
    with pytest.raises(TransactionError):
        tx.start(101.0)
