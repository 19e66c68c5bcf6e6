"""INVITE server transaction (RFC 3261 17.2.1, RFC 6026 Accepted) with a fake clock."""

from __future__ import annotations

import pytest
from sip_transaction_fixtures import (
    CLIENT_TCP,
    CLIENT_UDP,
    ack_for,
    clock_for,
    kinds,
    request,
    response,
    sent,
    timers_cancelled,
    timers_started,
)

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions import (
    ServerInviteTransaction,
    State,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    AckReceived,
    Send,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import server_key


def make(destination: Destination = CLIENT_UDP, send_trying: bool = True):
    req = request(transport=destination.transport)
    tx = ServerInviteTransaction(server_key(req), req, destination, send_trying=send_trying)
    return tx, clock_for(tx)


def started(destination: Destination = CLIENT_UDP):
    tx, clock = make(destination)
    clock.apply(tx.start(0.0))
    return tx, clock


def test_start_sends_100_trying_at_once() -> None:
    req = request()
    req = SIPRequest(req.method, req.uri, (*req.headers, h.GenericHeader("Timestamp", "54")))
    tx = ServerInviteTransaction(server_key(req), req, CLIENT_UDP)
    effects = tx.start(0.0)
    (trying,) = sent(effects)
    assert isinstance(trying, SIPResponse) and trying.code == 100
    assert trying.to == req.to  # no tag on a 100
    assert trying.header("Timestamp") is not None
    assert effects == [Send(trying, CLIENT_UDP)]
    assert timers_started(effects) == [] and tx.state is State.PROCEEDING


def test_without_automatic_trying_start_sends_nothing() -> None:
    tx, _ = make(send_trying=False)
    assert tx.start(0.0) == []
    assert tx.receive(tx.request, 0.5) == []  # no response yet to repeat


def test_retransmitted_invite_gets_the_last_provisional() -> None:
    tx, _ = started()
    (trying,) = sent(tx.receive(tx.request, 0.5))
    assert isinstance(trying, SIPResponse) and trying.code == 100
    ringing = response(tx.request, 180)
    assert tx.send_response(ringing, 1.0) == [Send(ringing, CLIENT_UDP)]
    assert tx.receive(tx.request, 1.5) == [Send(ringing, CLIENT_UDP)]
    assert tx.state is State.PROCEEDING


@pytest.mark.parametrize("destination", [CLIENT_UDP, CLIENT_TCP])
def test_2xx_moves_to_accepted_for_timer_l(destination: Destination) -> None:
    tx, clock = started(destination)
    ok = response(tx.request, 200)
    effects = clock.apply(tx.send_response(ok, 0.0))
    assert effects[0] == Send(ok, destination)
    assert timers_started(effects) == [("L", 32.0)]
    assert tx.state is State.ACCEPTED
    # INVITE retransmissions are absorbed, not answered and not passed up
    assert tx.receive(tx.request, 1.0) == []
    # the TU retransmits the 2xx (13.3.1.4) and may send another 2xx
    assert tx.send_response(ok, 0.5) == [Send(ok, destination)]
    # an ACK that matches is passed to the TU
    ack = ack_for(tx.request, ok)
    assert tx.receive(ack, 1.0) == [AckReceived(tx.key, ack)]
    # non-2xx after the 2xx are discarded
    assert tx.send_response(response(tx.request, 180), 1.1) == []
    assert tx.send_response(response(tx.request, 500), 1.2) == []
    effects = clock.advance(32.0)
    assert effects == [TransactionTerminated(tx.key, "INVITE", ok)]
    assert clock.fired == [(32.0, "L")]


def test_failure_over_udp_retransmits_with_g_until_h() -> None:
    tx, clock = started()
    busy = response(tx.request, 486)
    effects = clock.apply(tx.send_response(busy, 0.0))
    assert effects[0] == Send(busy, CLIENT_UDP)
    assert timers_started(effects) == [("G", 0.5), ("H", 32.0)]
    assert tx.state is State.COMPLETED
    effects = clock.advance(40.0)
    g_times = [t for t, name in clock.fired if name == "G"]
    # intervals 0.5, 1, 2, 4 (T2), 4...
    assert g_times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert sent(effects) == [busy] * 10
    assert clock.fired[-1] == (32.0, "H")
    timeouts = [e for e in effects if isinstance(e, TransactionTimedOut)]
    assert len(timeouts) == 1 and timeouts[0].response.code == 408
    assert "G" in timers_cancelled(effects)
    assert effects[-1] == TransactionTerminated(tx.key, "INVITE", busy)


def test_ack_confirms_and_timer_i_absorbs_retransmissions() -> None:
    tx, clock = started()
    busy = response(tx.request, 486)
    clock.apply(tx.send_response(busy, 0.0))
    clock.advance(0.7)  # G fired once
    # an INVITE retransmission gets the final response again
    assert tx.receive(tx.request, clock.now) == [Send(busy, CLIENT_UDP)]
    ack = ack_for(tx.request, busy)
    effects = clock.apply(tx.receive(ack, clock.now))
    assert kinds(effects) == ["CancelTimer", "CancelTimer", "StartTimer"]  # absorbed, not to TU
    assert set(timers_cancelled(effects)) == {"G", "H"}
    assert timers_started(effects) == [("I", 5.0)]
    assert tx.state is State.CONFIRMED
    assert tx.receive(ack, clock.now) == []
    assert tx.receive(tx.request, clock.now) == []
    assert tx.send_response(response(tx.request, 500), clock.now) == []
    assert tx.transport_error(clock.now) == []
    effects = clock.advance(5.0)
    assert effects == [TransactionTerminated(tx.key, "INVITE", busy)]
    assert clock.fired[-1] == (5.7, "I")


def test_failure_over_tcp_no_g_and_ack_ends_at_once() -> None:
    tx, clock = started(CLIENT_TCP)
    busy = response(tx.request, 603)
    effects = clock.apply(tx.send_response(busy, 0.0))
    assert timers_started(effects) == [("H", 32.0)]
    effects = clock.apply(tx.receive(ack_for(tx.request, busy), 0.1))
    assert kinds(effects) == ["CancelTimer", "TransactionTerminated"]
    assert clock.timers == {}


def test_timer_h_over_tcp() -> None:
    tx, clock = started(CLIENT_TCP)
    clock.apply(tx.send_response(response(tx.request, 404), 0.0))
    effects = clock.advance(32.0)
    assert kinds(effects) == ["TransactionTimedOut", "TransactionTerminated"]


def test_completed_discards_further_responses() -> None:
    tx, clock = started()
    busy = response(tx.request, 486)
    clock.apply(tx.send_response(busy, 0.0))
    assert tx.send_response(response(tx.request, 200), 0.1) == []
    assert tx.send_response(response(tx.request, 180), 0.1) == []
    assert tx.last_response is busy


@pytest.mark.parametrize("final", [None, 200, 486])
def test_transport_error_reports_503(final: int | None) -> None:
    tx, clock = started()
    if final is not None:
        clock.apply(tx.send_response(response(tx.request, final), 0.0))
    effects = clock.apply(tx.transport_error(0.1))
    failed = [e for e in effects if isinstance(e, TransportFailed)]
    assert [f.response.code for f in failed] == [503]
    assert isinstance(effects[-1], TransactionTerminated)
    assert clock.timers == {}


def test_invalid_calls() -> None:
    tx, clock = make()
    with pytest.raises(TransactionError):
        tx.send_response(response(tx.request, 180), 0.0)  # not started
    clock.apply(tx.start(0.0))
    with pytest.raises(TransactionError):
        tx.send_response(response(request(cseq=2), 200), 0.0)  # another request's response
    with pytest.raises(TransactionError):
        tx.send_response(response(request(branch="z9hG4bKelse"), 200), 0.0)
    with pytest.raises(TransactionError):
        tx.receive(request("OPTIONS"), 0.0)
    with pytest.raises(TransactionError):
        tx.receive(response(tx.request, 200), 0.0)  # type: ignore[arg-type]
    with pytest.raises(TransactionError):
        tx.send_response(tx.request, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TransactionError):
        ServerInviteTransaction(server_key(request("BYE")), request("BYE"), CLIENT_UDP)
    clock.apply(tx.transport_error(0.1))
    with pytest.raises(TransactionError):
        tx.send_response(response(tx.request, 200), 0.2)  # terminated
