"""The table-driven runner the four transaction state machines share.

A machine is a class with a ``TABLE``: ``(state, event) -> (new state,
actions)``. Inputs become events; the runner looks the pair up, moves to the
new state and performs the actions in order, collecting effects. Network and
timer events without an entry are discarded (a late retransmission, a
response in the wrong state); TU calls without an entry (start twice, a
response after termination) and any input before `start` raise
`TransactionError`, the one documented exception of this package.

Shared rules, so that tables stay short:

- Entering Terminated cancels every running timer and emits
  `TransactionTerminated`.
- `Start` of a timer whose value is 0 on this transport (D, I, J, K over
  TCP) takes that timer's transition at once instead of arming it; `Start` of
  a timer unused on this transport (A, E, G over TCP) does nothing.
- A timer event is taken only while that timer runs; a stale `timer_fired`
  (a timer the machine no longer waits for) returns no effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar, Literal, TypeAlias, cast

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import (
    SIPMessage,
    SIPRequest,
    SIPResponse,
    make_response,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    AckReceived,
    CancelTimer,
    Effect,
    ResponseReceived,
    Send,
    StartTimer,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from sipsimple_services.signalling.sip.transactions.keys import ClientKey
from sipsimple_services.signalling.sip.transactions.timers import (
    TimerConfig,
    TimerName,
    initial_delay,
)

__all__ = [
    "Cancel",
    "ClientTransaction",
    "Do",
    "Event",
    "Restart",
    "ServerTransaction",
    "Start",
    "State",
    "Table",
    "Transaction",
    "TransactionError",
    "timer_event",
]


class TransactionError(Exception):
    """An invalid call on a transaction or the transaction layer."""


class State(StrEnum):
    IDLE = "idle"  # created, not started
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Event(StrEnum):
    START = "start"
    # responses received by a client transaction
    RECV_1XX = "recv 1xx"
    RECV_2XX = "recv 2xx"
    RECV_FAIL = "recv 3xx-6xx"
    # requests received by a server transaction
    RECV_REQUEST = "recv request"  # a retransmission of its request
    RECV_ACK = "recv ACK"
    # responses the TU passes to a server transaction
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_FAIL = "send 3xx-6xx"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "timer A"
    TIMER_B = "timer B"
    TIMER_C = "timer C"
    TIMER_D = "timer D"
    TIMER_E = "timer E"
    TIMER_F = "timer F"
    TIMER_G = "timer G"
    TIMER_H = "timer H"
    TIMER_I = "timer I"
    TIMER_J = "timer J"
    TIMER_K = "timer K"
    TIMER_L = "timer L"
    TIMER_M = "timer M"


def timer_event(name: TimerName) -> Event:
    return Event(f"timer {name.value}")


_TU_EVENTS = frozenset({Event.START, Event.SEND_1XX, Event.SEND_2XX, Event.SEND_FAIL})


class Do(Enum):
    SEND_REQUEST = "send the request"
    SEND_ACK = "send the ACK for the non-2xx final response (17.1.1.3)"
    SEND_TRYING = "send 100 Trying"
    SEND_RESPONSE = "send the TU's response and remember it"
    RESEND_RESPONSE = "resend the last response"
    TU_RESPONSE = "pass the response to the TU"
    TU_ACK = "pass the ACK to the TU"
    TU_TIMEOUT = "tell the TU: timeout (408)"
    TU_TRANSPORT_FAILED = "tell the TU: transport failure (503)"


@dataclass(frozen=True)
class Start:
    timer: TimerName


@dataclass(frozen=True)
class Cancel:
    timer: TimerName


@dataclass(frozen=True)
class Restart:
    """Re-arm a retransmission timer after it fired (or C after a provisional).

    ``double``: twice the last interval (A); ``capped``: twice the last, at
    most T2 (E in Trying, G); ``t2``: T2 (E in Proceeding); ``initial``: the
    timer's initial value.
    """

    timer: TimerName
    interval: Literal["double", "capped", "t2", "initial"]


Action: TypeAlias = Do | Start | Cancel | Restart
Table: TypeAlias = Mapping[tuple[State, Event], tuple[State, tuple[Action, ...]]]


def _check_request(request: SIPRequest) -> None:
    cseq = request.cseq
    if (
        request.top_via is None
        or request.from_ is None
        or request.to is None
        or request.call_id is None
        or cseq is None
    ):
        raise TransactionError("a transaction request needs Via, From, To, Call-ID and CSeq")
    if cseq.method != request.method:
        raise TransactionError("the CSeq method differs from the request method")


class Transaction:
    """State, timers and the runner; subclasses add a TABLE and the input methods."""

    TABLE: ClassVar[Table]

    @staticmethod
    def accepts(method: str) -> bool:
        """Whether a request with this method can create this kind of transaction."""
        return True

    def __init__(
        self,
        key: TransactionKey,
        request: SIPRequest,
        destination: Destination,
        config: TimerConfig | None = None,
    ) -> None:
        _check_request(request)
        if not self.accepts(request.method):
            raise TransactionError(f"{type(self).__name__} cannot carry a {request.method}")
        self.key = key
        self.request = request
        self.method = request.method
        self.destination = destination
        self.reliable = destination.reliable
        self.config = config if config is not None else TimerConfig()
        self.state = State.IDLE
        self.last_response: SIPResponse | None = None
        self.final_response: SIPResponse | None = None
        self.created_at: float | None = None
        self.terminated_at: float | None = None
        # running timers: name -> deadline; intervals: the last armed value
        self.timers: dict[TimerName, float] = {}
        self._intervals: dict[TimerName, float] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value} {self.key!r}>"

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    # -- inputs shared by all machines ---------------------------------

    def start(self, now: float) -> list[Effect]:
        if self.state is State.IDLE:
            self.created_at = now
        return self._handle(Event.START, now)

    def timer_fired(self, name: str, now: float) -> list[Effect]:
        """Timer ``name`` expired; stale or unknown-to-this-state timers are ignored."""
        try:
            timer = TimerName(name)
        except ValueError:
            raise TransactionError(f"no timer named {name!r}") from None
        if timer not in self.timers:
            return []
        del self.timers[timer]
        return self._handle(timer_event(timer), now)

    def transport_error(self, now: float) -> list[Effect]:
        """The transport failed to deliver a message of this transaction (17.1.4, 17.2.4)."""
        return self._handle(Event.TRANSPORT_ERROR, now)

    # -- the runner ----------------------------------------------------

    def _handle(self, event: Event, now: float, message: SIPMessage | None = None) -> list[Effect]:
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            if event in _TU_EVENTS or self.state is State.IDLE:
                raise TransactionError(
                    f"{event.value} is not allowed in state {self.state.value} of {self!r}"
                )
            return []
        new_state, actions = entry
        self.state = new_state
        effects: list[Effect] = []
        immediate: list[TimerName] = []
        for action in actions:
            self._perform(action, now, message, effects, immediate)
        if self.state is State.TERMINATED:
            self._terminate(now, effects)
        else:
            for timer in immediate:
                effects += self._handle(timer_event(timer), now)
        return effects

    def _terminate(self, now: float, effects: list[Effect]) -> None:
        for timer in list(self.timers):
            effects.append(CancelTimer(self.key, timer.value))
        self.timers.clear()
        self.terminated_at = now
        effects.append(TransactionTerminated(self.key, self.method, self.final_response))

    def _arm(self, timer: TimerName, delay: float, now: float, effects: list[Effect]) -> None:
        if timer in self.timers:
            effects.append(CancelTimer(self.key, timer.value))
        self.timers[timer] = now + delay
        self._intervals[timer] = delay
        effects.append(StartTimer(self.key, timer.value, delay))

    def _perform(
        self,
        action: Action,
        now: float,
        message: SIPMessage | None,
        effects: list[Effect],
        immediate: list[TimerName],
    ) -> None:
        if isinstance(action, Start):
            delay = initial_delay(action.timer, self.config, self.reliable)
            if delay is None:
                return
            if delay == 0:
                immediate.append(action.timer)
            else:
                self._arm(action.timer, delay, now, effects)
        elif isinstance(action, Restart):
            self._restart(action, now, effects)
        elif isinstance(action, Cancel):
            if self.timers.pop(action.timer, None) is not None:
                effects.append(CancelTimer(self.key, action.timer.value))
        else:
            self._do(action, message, effects)

    def _restart(self, action: Restart, now: float, effects: list[Effect]) -> None:
        initial = initial_delay(action.timer, self.config, self.reliable)
        if not initial:
            return
        last = self._intervals.get(action.timer, initial)
        if action.interval == "double":
            delay = 2 * last
        elif action.interval == "capped":
            delay = min(2 * last, self.config.t2)
        elif action.interval == "t2":
            delay = self.config.t2
        else:
            delay = initial
        self._arm(action.timer, delay, now, effects)

    def _do(self, action: Do, message: SIPMessage | None, effects: list[Effect]) -> None:
        if action is Do.SEND_REQUEST:
            effects.append(Send(self.request, self.destination))
        elif action is Do.TU_TIMEOUT:
            effects.append(TransactionTimedOut(self.key, self._local_response(408)))
        elif action is Do.TU_TRANSPORT_FAILED:
            effects.append(TransportFailed(self.key, self._local_response(503)))
        elif action is Do.TU_RESPONSE:
            assert isinstance(message, SIPResponse)
            if message.code >= 200 and self.final_response is None:
                self.final_response = message
            effects.append(ResponseReceived(cast(ClientKey, self.key), message))
        elif action is Do.SEND_RESPONSE:
            assert isinstance(message, SIPResponse)
            self.last_response = message
            if message.code >= 200 and self.final_response is None:
                self.final_response = message
            effects.append(Send(message, self.destination))
        elif action is Do.RESEND_RESPONSE:
            if self.last_response is not None:
                effects.append(Send(self.last_response, self.destination))
        elif action is Do.TU_ACK:
            assert isinstance(message, SIPRequest)
            effects.append(AckReceived(self.key, message))
        else:
            self._do_specific(action, message, effects)

    def _do_specific(
        self, action: Do, message: SIPMessage | None, effects: list[Effect]
    ) -> None:
        """Actions only one machine performs (the ACK, 100 Trying)."""
        raise AssertionError(f"{type(self).__name__} cannot {action.value}")

    def _local_response(self, code: int) -> SIPResponse:
        try:
            return make_response(self.request, code)
        except SIPParseError as exc:  # checked in __init__; kept for safety
            raise TransactionError(str(exc)) from None


class ClientTransaction(Transaction):
    """A transaction that sends a request and receives responses."""

    def receive(self, response: SIPResponse, now: float) -> list[Effect]:
        """A response matched to this transaction (17.1.3)."""
        if not isinstance(response, SIPResponse):
            raise TransactionError("a client transaction receives responses only")
        if response.code < 200:
            event = Event.RECV_1XX
        elif response.code < 300:
            event = Event.RECV_2XX
        else:
            event = Event.RECV_FAIL
        return self._handle(event, now, response)


class ServerTransaction(Transaction):
    """A transaction that receives a request and sends the TU's responses.

    ``destination`` is where responses go (`response_destination`).
    """

    def receive(self, request: SIPRequest, now: float) -> list[Effect]:
        """A request matched to this transaction (17.2.3): a retransmission, or an ACK."""
        if not isinstance(request, SIPRequest):
            raise TransactionError("a server transaction receives requests only")
        if request.method == "ACK":
            return self._handle(Event.RECV_ACK, now, request)
        if request.method != self.method:
            raise TransactionError(f"a {request.method} does not belong to {self!r}")
        return self._handle(Event.RECV_REQUEST, now, request)

    def send_response(self, response: SIPResponse, now: float) -> list[Effect]:
        """Send a response from the TU; final responses after the first are discarded."""
        if not isinstance(response, SIPResponse):
            raise TransactionError("a server transaction sends responses only")
        cseq = response.cseq
        via = response.top_via
        ours = self.request.cseq
        assert ours is not None and self.request.top_via is not None
        if (
            cseq is None
            or (cseq.number, cseq.method) != (ours.number, ours.method)
            or via is None
            or via.branch != self.request.top_via.branch
        ):
            raise TransactionError("the response does not answer this transaction's request")
        if response.code < 200:
            event = Event.SEND_1XX
        elif response.code < 300:
            event = Event.SEND_2XX
        else:
            event = Event.SEND_FAIL
        return self._handle(event, now, response)
