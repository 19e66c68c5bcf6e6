"""STUN client transaction timing (RFC 8489 6.2.1) and the table of transactions."""

from __future__ import annotations

import pytest

from sipsimple_services.media.ice.transaction import ClientTransaction, Transactions, Transmit

TRANSMIT = Transmit(b"request", ("192.0.2.1", 3478))


def run(transaction: ClientTransaction) -> list[float]:
    """The times of every send, the first at 0, until the transaction times out."""
    sends = [0.0]
    while (deadline := transaction.next_deadline()) is not None:
        if transaction.handle_timeout(deadline) is not None:
            sends.append(deadline)
    assert transaction.timed_out
    sends.append(-1.0)
    return sends


def test_rfc8489_schedule_with_the_defaults() -> None:
    transaction = ClientTransaction(b"t" * 12, TRANSMIT, 0.0)
    sends = run(transaction)
    assert sends[:-1] == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    # gave up Rm * RTO after the last send
    transaction2 = ClientTransaction(b"t" * 12, TRANSMIT, 0.0)
    for _ in range(6):
        deadline = transaction2.next_deadline()
        assert deadline is not None
        transaction2.handle_timeout(deadline)
    assert transaction2.next_deadline() == 39.5
    assert transaction2.handle_timeout(39.4) is None and not transaction2.timed_out
    assert transaction2.handle_timeout(39.5) is None and transaction2.timed_out


def test_early_wakeups_send_nothing() -> None:
    transaction = ClientTransaction(b"t" * 12, TRANSMIT, 10.0, rto=0.1, rc=3, rm=2)
    assert transaction.handle_timeout(10.05) is None
    assert transaction.handle_timeout(10.1) == TRANSMIT
    assert transaction.next_deadline() == pytest.approx(10.3)


def test_finished_transactions_stay_quiet() -> None:
    transaction = ClientTransaction(b"t" * 12, TRANSMIT, 0.0)
    transaction.finish()
    assert transaction.next_deadline() is None
    assert transaction.handle_timeout(100.0) is None and not transaction.timed_out


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ClientTransaction(b"t" * 12, TRANSMIT, 0.0, rto=0)


def test_table_retransmits_times_out_and_matches() -> None:
    table = Transactions()
    table.add(ClientTransaction(b"a" * 12, TRANSMIT, 0.0, rto=1.0, rc=2, rm=1))
    table.add(ClientTransaction(b"b" * 12, TRANSMIT, 0.5, rto=1.0, rc=2, rm=1))
    assert table.next_deadline() == 1.0
    transmits, expired = table.handle_timeout(1.0)
    assert transmits == [TRANSMIT] and expired == []
    popped = table.pop(b"b" * 12)
    assert popped is not None and popped.next_deadline() is None
    assert table.pop(b"b" * 12) is None
    transmits, expired = table.handle_timeout(2.0)
    assert transmits == [] and [t.transaction_id for t in expired] == [b"a" * 12]
    assert len(table) == 0 and table.next_deadline() is None
