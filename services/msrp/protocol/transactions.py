"""Client transactions of the sender of requests (RFC 4975 sections 7.1, 7.3, 10).

Each request that can be answered is remembered under its transaction id
until its response arrives or its timer fires. A request whose sender waits
for a response (`reports.expects_response`: SEND with ``Failure-Report: yes``,
AUTH) that gets none in `TIMEOUT` seconds (30 s, as RFC 4975 and 4976
use) ends with a 408 made locally: 408 is never sent on the wire. A SEND with
``Failure-Report: partial`` is kept as long, so that a negative response is
still matched, and then forgotten without a 408.

The machine is a table ``(state, event) -> (new state, action)``; the
`TransactionTable` holds the live ones, their deadlines and gives
`next_deadline` for the caller's timer; ``now`` comes from the caller.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum, StrEnum

from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse, make_response
from sipsimple_services.msrp.protocol.reports import expects_response

__all__ = ["TIMEOUT", "Action", "Event", "State", "TransactionEnded", "TransactionTable"]

TIMEOUT = 30.0


class State(StrEnum):
    WAITING = "waiting for any response"
    WAITING_NEGATIVE = "waiting for a negative response only"
    DONE = "done"


class Event(StrEnum):
    RESPONSE = "response"
    TIMER = "timer"
    CLOSED = "connection closed"


class Action(Enum):
    DELIVER = "pass the response on"
    LOCAL_408 = "pass on a local 408"
    FORGET = "forget silently"


TABLE: dict[tuple[State, Event], tuple[State, Action]] = {
    (State.WAITING, Event.RESPONSE): (State.DONE, Action.DELIVER),
    (State.WAITING, Event.TIMER): (State.DONE, Action.LOCAL_408),
    (State.WAITING, Event.CLOSED): (State.DONE, Action.LOCAL_408),
    (State.WAITING_NEGATIVE, Event.RESPONSE): (State.DONE, Action.DELIVER),
    (State.WAITING_NEGATIVE, Event.TIMER): (State.DONE, Action.FORGET),
    (State.WAITING_NEGATIVE, Event.CLOSED): (State.DONE, Action.FORGET),
}


@dataclass(frozen=True)
class TransactionEnded:
    """A transaction's outcome: its request and the response (maybe a local 408).

    ``response`` None: a request that awaited only a negative response
    (``Failure-Report: partial``) timed out without one: nothing to report,
    but the caller can forget what it kept for it.
    """

    request: MSRPRequest
    response: MSRPResponse | None
    local: bool  # True: made here (408, or None), not received


@dataclass
class _Transaction:
    request: MSRPRequest
    state: State
    deadline: float


class TransactionTable:
    """The outstanding requests of one connection."""

    def __init__(self, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._live: dict[str, _Transaction] = {}
        self._deadlines: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, transaction_id: object) -> bool:
        return transaction_id in self._live

    def start(self, request: MSRPRequest, now: float) -> bool:
        """Remember a request just sent; False if no response can come (REPORT)."""
        if request.method == "REPORT" or request.failure_report == "no":
            return False
        if request.transaction_id in self._live:
            raise MSRPError(f"transaction id {request.transaction_id} already in use")
        state = State.WAITING if expects_response(request) else State.WAITING_NEGATIVE
        deadline = now + self.timeout
        self._live[request.transaction_id] = _Transaction(request, state, deadline)
        heapq.heappush(self._deadlines, (deadline, request.transaction_id))
        return True

    def response(self, response: MSRPResponse) -> TransactionEnded | None:
        """The outcome `response` ends, or None for a response to nothing (dropped)."""
        transaction = self._live.get(response.transaction_id)
        if transaction is None:
            return None
        return self._run(transaction, Event.RESPONSE, response)

    def next_deadline(self) -> float | None:
        while self._deadlines:
            deadline, tid = self._deadlines[0]
            live = self._live.get(tid)
            if live is not None and live.deadline == deadline:
                return deadline
            heapq.heappop(self._deadlines)  # ended before its timer
        return None

    def expire(self, now: float) -> list[TransactionEnded]:
        """The outcomes of the transactions whose time is up."""
        ended: list[TransactionEnded] = []
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, tid = heapq.heappop(self._deadlines)
            outcome = self._run(self._live[tid], Event.TIMER, None)
            if outcome is not None:
                ended.append(outcome)
        return ended

    def close(self) -> list[TransactionEnded]:
        """The connection is gone: every waiting request ends (408 where awaited)."""
        ended = []
        for transaction in list(self._live.values()):
            outcome = self._run(transaction, Event.CLOSED, None)
            if outcome is not None:
                ended.append(outcome)
        self._deadlines.clear()
        return ended

    def _run(
        self, transaction: _Transaction, event: Event, response: MSRPResponse | None
    ) -> TransactionEnded | None:
        state, action = TABLE[transaction.state, event]
        transaction.state = state
        if state is State.DONE:
            del self._live[transaction.request.transaction_id]
        if action is Action.DELIVER:
            assert response is not None
            return TransactionEnded(transaction.request, response, False)
        if action is Action.LOCAL_408:
            return TransactionEnded(transaction.request, _local_408(transaction.request), True)
        return TransactionEnded(transaction.request, None, True)


def _local_408(request: MSRPRequest) -> MSRPResponse:
    # As if the next hop had answered: To-Path ours, From-Path the next hop.
    to_path = request.to_path
    if to_path and request.from_path:
        return make_response(request, 408, local_uri=to_path[0])
    return MSRPResponse(request.transaction_id, 408, "Request Timeout", ())
