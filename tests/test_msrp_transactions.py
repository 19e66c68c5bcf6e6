"""Outstanding requests: responses matched, a local 408 when none comes (RFC 4975 7.3, 10)."""

from __future__ import annotations

import pytest
from msrp_strategies import ALICE, BOB

from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse, make_response
from sipsimple_services.msrp.protocol.transactions import (
    TABLE,
    TIMEOUT,
    Action,
    Event,
    State,
    TransactionTable,
)
from sipsimple_services.msrp.protocol.uri import parse_uri


def send(tid: str, *extra: tuple[str, str], method: str = "SEND") -> MSRPRequest:
    return MSRPRequest(tid, method, (("To-Path", BOB), ("From-Path", ALICE),
                                     ("Message-ID", "mid12345"), *extra))


def test_response_ends_the_transaction() -> None:
    table = TransactionTable()
    request = send("tid00001")
    assert table.start(request, 100.0)
    assert table.next_deadline() == 100.0 + TIMEOUT
    response = make_response(request, 200, local_uri=parse_uri(BOB))
    outcome = table.response(response)
    assert outcome is not None and outcome.response is response and not outcome.local
    assert len(table) == 0 and table.next_deadline() is None
    assert table.response(response) is None  # a second copy is dropped
    assert table.expire(1000.0) == []


def test_no_response_gives_a_local_408() -> None:
    table = TransactionTable(timeout=5)
    request = send("tid00001")
    table.start(request, 0.0)
    assert table.expire(4.9) == []
    (outcome,) = table.expire(5.0)
    assert outcome.local and outcome.response is not None and outcome.response.code == 408
    assert outcome.response.transaction_id == "tid00001"
    # the 408 reads as if the next hop had answered
    assert outcome.response.to_path == (parse_uri(ALICE),)
    assert outcome.response.from_path == (parse_uri(BOB),)
    late = MSRPResponse("tid00001", 200, "OK", ())
    assert table.response(late) is None


def test_failure_report_partial_waits_only_for_a_negative_response() -> None:
    table = TransactionTable(timeout=5)
    quiet = send("tid00001", ("Failure-Report", "partial"))
    assert table.start(quiet, 0.0)
    (forgotten,) = table.expire(10.0)  # forgotten, no 408
    assert forgotten.request is quiet and forgotten.response is None
    table.start(send("tid00002", ("Failure-Report", "partial")), 0.0)
    outcome = table.response(MSRPResponse("tid00002", 413, None, ()))
    assert outcome is not None and outcome.response is not None and outcome.response.code == 413


def test_requests_that_get_no_response_are_not_kept() -> None:
    table = TransactionTable()
    assert not table.start(send("tid00001", ("Failure-Report", "no")), 0.0)
    assert not table.start(send("tid00002", method="REPORT"), 0.0)
    assert table.start(send("tid00003", method="AUTH"), 0.0)
    assert len(table) == 1


def test_reused_transaction_id_is_an_error() -> None:
    table = TransactionTable()
    table.start(send("tid00001"), 0.0)
    with pytest.raises(MSRPError):
        table.start(send("tid00001"), 1.0)


def test_close_fails_what_was_awaited() -> None:
    table = TransactionTable()
    table.start(send("tid00001"), 0.0)
    table.start(send("tid00002", ("Failure-Report", "partial")), 0.0)
    outcomes = table.close()
    assert [(o.request.transaction_id, o.response and o.response.code) for o in outcomes] == [
        ("tid00001", 408), ("tid00002", None)]
    assert len(table) == 0 and table.next_deadline() is None


def test_deadlines_in_order_and_stale_entries_skipped() -> None:
    table = TransactionTable(timeout=10)
    first, second = send("tid00001"), send("tid00002")
    table.start(first, 0.0)
    table.start(second, 3.0)
    table.response(make_response(first, 200, local_uri=parse_uri(BOB)))
    assert table.next_deadline() == 13.0
    assert [o.request.transaction_id for o in table.expire(20.0)] == ["tid00002"]


def test_table_covers_every_waiting_state_and_event() -> None:
    for state in (State.WAITING, State.WAITING_NEGATIVE):
        for event in Event:
            assert (state, event) in TABLE
    assert TABLE[State.WAITING, Event.TIMER] == (State.DONE, Action.LOCAL_408)
