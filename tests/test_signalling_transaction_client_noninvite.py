"""Non-INVITE client transaction (RFC 3261 17.1.2) with a fake clock."""

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

from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.transactions import (
    ClientNonInviteTransaction,
    State,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    ResponseReceived,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import client_key_for_request
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig


def make(
    destination: Destination = UDP, method: str = "OPTIONS", config: TimerConfig | None = None
):
    req = request(method, transport=destination.transport)
    tx = ClientNonInviteTransaction(client_key_for_request(req), req, destination, config)
    return tx, clock_for(tx)


def test_start_arms_e_and_f() -> None:
    tx, clock = make()
    effects = clock.apply(tx.start(0.0))
    assert sent(effects) == [tx.request]
    assert timers_started(effects) == [("E", 0.5), ("F", 32.0)]
    assert tx.state is State.TRYING


def test_timer_e_doubles_up_to_t2_then_f_gives_408() -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    effects = clock.advance(40.0)
    e_times = [t for t, name in clock.fired if name == "E"]
    # intervals 0.5, 1, 2, 4 (T2), 4, 4...
    assert e_times == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert sent(effects) == [tx.request] * 10
    assert clock.fired[-1] == (32.0, "F")
    timeouts = [e for e in effects if isinstance(e, TransactionTimedOut)]
    assert [t.response.code for t in timeouts] == [408]
    assert effects[-1] == TransactionTerminated(tx.key, "OPTIONS", None)
    assert clock.timers == {}


def test_small_t2_caps_early() -> None:
    tx, clock = make(config=TimerConfig(t1=0.5, t2=1.0))
    clock.apply(tx.start(0.0))
    clock.advance(5.0)
    assert [t for t, name in clock.fired if name == "E"] == [0.5, 1.5, 2.5, 3.5, 4.5]


def test_timer_e_continues_at_t2_in_proceeding() -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    clock.advance(1.0)  # E fired at 0.5 and is armed for 1.5
    trying = response(tx.request, 100, to_tag=None)
    effects = clock.apply(tx.receive(trying, clock.now))
    assert effects == [ResponseReceived(tx.key, trying)]
    assert tx.state is State.PROCEEDING
    clock.advance(20.0)
    assert [t for t, name in clock.fired if name == "E"] == [0.5, 1.5, 5.5, 9.5, 13.5, 17.5]
    # a further provisional changes nothing but is passed up
    assert kinds(tx.receive(trying, clock.now)) == ["ResponseReceived"]
    effects = clock.advance(20.0)
    assert clock.fired[-1] == (32.0, "F")
    assert [type(e).__name__ for e in tu(effects)] == [
        "TransactionTimedOut", "TransactionTerminated",
    ]


@pytest.mark.parametrize("code", [200, 202, 302, 401, 481, 500, 603])
@pytest.mark.parametrize("provisional", [False, True])
def test_final_response_completes_and_timer_k_absorbs(code: int, provisional: bool) -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    if provisional:
        clock.apply(tx.receive(response(tx.request, 100, None), 0.0))
    clock.advance(0.7)
    final = response(tx.request, code)
    effects = clock.apply(tx.receive(final, clock.now))
    assert tu(effects) == [ResponseReceived(tx.key, final)]
    assert set(timers_cancelled(effects)) == {"E", "F"}
    assert timers_started(effects) == [("K", 5.0)]
    assert tx.state is State.COMPLETED
    # retransmissions of the final response, and any other response, are absorbed
    assert tx.receive(final, clock.now) == []
    assert tx.receive(response(tx.request, 180), clock.now) == []
    assert tx.transport_error(clock.now) == []
    assert sent(clock.advance(4.9)) == []
    effects = clock.advance(0.2)
    assert effects == [TransactionTerminated(tx.key, "OPTIONS", final)]


def test_final_response_over_tcp_terminates_at_once() -> None:
    tx, clock = make(TCP, "REGISTER")
    assert timers_started(clock.apply(tx.start(0.0))) == [("F", 32.0)]
    final = response(tx.request, 200)
    effects = clock.apply(tx.receive(final, 0.1))
    assert kinds(effects) == ["CancelTimer", "ResponseReceived", "TransactionTerminated"]
    assert tx.state is State.TERMINATED and clock.timers == {}


@pytest.mark.parametrize("provisional", [False, True])
def test_transport_error_gives_503(provisional: bool) -> None:
    tx, clock = make()
    clock.apply(tx.start(0.0))
    if provisional:
        clock.apply(tx.receive(response(tx.request, 100, None), 0.0))
    effects = clock.apply(tx.transport_error(0.1))
    failed = [e for e in effects if isinstance(e, TransportFailed)]
    assert [f.response.code for f in failed] == [503]
    assert failed[0].response.cseq == tx.request.cseq
    assert set(timers_cancelled(effects)) == {"E", "F"}
    assert isinstance(effects[-1], TransactionTerminated)


@pytest.mark.parametrize("method", ["INVITE", "ACK"])
def test_invite_and_ack_cannot_make_one(method: str) -> None:
    req = request(method)
    with pytest.raises(TransactionError):
        ClientNonInviteTransaction(client_key_for_request(req), req, UDP)


def test_invalid_and_stale_calls() -> None:
    tx, clock = make()
    with pytest.raises(TransactionError):
        tx.receive(request("OPTIONS"), 0.0)  # type: ignore[arg-type]
    clock.apply(tx.start(0.0))
    with pytest.raises(TransactionError):
        tx.start(0.0)
    assert tx.timer_fired("K", 0.1) == [] and tx.timer_fired("A", 0.1) == []
    with pytest.raises(TransactionError):
        tx.timer_fired("X", 0.1)
