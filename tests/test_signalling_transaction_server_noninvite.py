"""Non-INVITE server transaction (RFC 3261 17.2.2) with a fake clock."""

from __future__ import annotations

import pytest
from sip_transaction_fixtures import (
    CLIENT_TCP,
    CLIENT_UDP,
    clock_for,
    kinds,
    request,
    response,
    timers_started,
)

from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.transactions import (
    ServerNonInviteTransaction,
    State,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    Send,
    TransactionTerminated,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import server_key


def started(destination: Destination = CLIENT_UDP, method: str = "OPTIONS"):
    req = request(method, transport=destination.transport)
    tx = ServerNonInviteTransaction(server_key(req), req, destination)
    clock = clock_for(tx)
    assert clock.apply(tx.start(0.0)) == []  # no automatic 100 for non-INVITE (RFC 4320)
    assert tx.state is State.TRYING
    return tx, clock


def test_trying_absorbs_retransmissions() -> None:
    tx, _ = started()
    assert tx.receive(tx.request, 0.5) == []
    assert tx.state is State.TRYING
    assert tx.transport_error(0.6) == []  # nothing was sent yet


def test_provisional_then_retransmission_repeats_it() -> None:
    tx, _ = started()
    trying = response(tx.request, 100, None)
    assert tx.send_response(trying, 0.1) == [Send(trying, CLIENT_UDP)]
    assert tx.state is State.PROCEEDING
    assert tx.receive(tx.request, 0.5) == [Send(trying, CLIENT_UDP)]
    other = response(tx.request, 180)
    assert tx.send_response(other, 0.6) == [Send(other, CLIENT_UDP)]
    assert tx.receive(tx.request, 0.7) == [Send(other, CLIENT_UDP)]


@pytest.mark.parametrize("provisional", [False, True])
@pytest.mark.parametrize("code", [200, 404, 481, 500])
def test_final_over_udp_timer_j(provisional: bool, code: int) -> None:
    tx, clock = started()
    if provisional:
        tx.send_response(response(tx.request, 100, None), 0.0)
    clock.advance(1.0)
    final = response(tx.request, code)
    effects = clock.apply(tx.send_response(final, clock.now))
    assert len(effects) == 2 and effects[0] == Send(final, CLIENT_UDP)
    assert timers_started(effects) == [("J", 32.0)]
    assert tx.state is State.COMPLETED
    # retransmitted requests get the final response again
    assert tx.receive(tx.request, 2.0) == [Send(final, CLIENT_UDP)]
    # later responses from the TU are discarded (17.2.2)
    assert tx.send_response(response(tx.request, 500), 2.0) == []
    assert tx.send_response(response(tx.request, 100, None), 2.0) == []
    effects = clock.advance(32.0)
    assert effects == [TransactionTerminated(tx.key, "OPTIONS", final)]
    assert clock.fired == [(33.0, "J")]


def test_final_over_tcp_terminates_at_once() -> None:
    tx, clock = started(CLIENT_TCP, "BYE")
    final = response(tx.request, 200)
    effects = clock.apply(tx.send_response(final, 0.0))
    assert effects == [Send(final, CLIENT_TCP), TransactionTerminated(tx.key, "BYE", final)]
    assert tx.state is State.TERMINATED
    with pytest.raises(TransactionError):
        tx.send_response(final, 0.1)


@pytest.mark.parametrize("final", [False, True])
def test_transport_error_after_sending(final: bool) -> None:
    tx, clock = started()
    code = 200 if final else 100
    clock.apply(tx.send_response(response(tx.request, code), 0.0))
    effects = clock.apply(tx.transport_error(0.1))
    expected = ["TransportFailed", "CancelTimer", "TransactionTerminated"]
    assert kinds(effects) == (expected if final else [expected[0], expected[2]])
    failed = effects[0]
    assert isinstance(failed, TransportFailed) and failed.response.code == 503
    assert clock.timers == {}


@pytest.mark.parametrize("method", ["INVITE", "ACK"])
def test_cannot_carry_invite_or_ack(method: str) -> None:
    req = request(method)
    with pytest.raises(TransactionError):
        ServerNonInviteTransaction(("3261", "z9hG4bKx", "h", 1, method), req, CLIENT_UDP)


def test_ack_or_other_method_is_invalid_input() -> None:
    tx, _ = started()
    with pytest.raises(TransactionError):
        tx.receive(request("BYE"), 0.1)
    # an ACK never belongs to a non-INVITE transaction; the layer never routes one here
    assert tx.receive(request("ACK"), 0.1) == []
