"""Property tests: random interleavings of inputs into the four transaction machines
and into the transaction layer.

Checked for every run: only `TransactionError`, and only for invalid calls;
the timer contract (`FakeClock` asserts it); the machine's own timers match
the effects; one `TransactionTerminated`, nothing after it; and once inputs
stop, termination within the longest single timer; absolute lifetimes
(64*T1 + T4 for non-INVITE clients, from the final response for servers).
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from sip_transaction_fixtures import (
    CLIENT_TCP,
    CLIENT_UDP,
    TCP,
    UDP,
    FakeClock,
    ack_for,
    cancel_for,
    clock_for,
    request,
    response,
)

from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
    Transaction,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelReceived,
    Effect,
    RequestReceived,
    TransactionTerminated,
    TUEvent,
)
from sipsimple_services.signalling.sip.transactions.keys import client_key_for_request, server_key
from sipsimple_services.signalling.sip.transactions.layer import LayerLimits, TransactionLayer

CONFIG = ClientInviteTransaction(client_key_for_request(request()), request(), UDP).config
T1, T4 = CONFIG.t1, CONFIG.t4
LONGEST = max(64 * T1, CONFIG.timer_c, CONFIG.timer_d)

CLIENT_ACTIONS = ["1xx", "2xx", "2xx-fork", "fail", "transport", "stale", "bad-timer", "start"]
SERVER_ACTIONS = [
    "request",
    "ack",
    "send-1xx",
    "send-2xx",
    "send-fail",
    "transport",
    "stale",
    "bad-timer",
    "start",
]

steps = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0, 3.0, 10.0, 31.9, 32.0, 40.0, 250.0]),
        st.integers(0, 100),
    ),
    max_size=25,
)


@dataclass
class Run:
    tx: Transaction
    clock: FakeClock
    effects: list[Effect]
    first_final_at: float | None = None

    def check(self, new: list[Effect], *, from_clock: bool = False) -> None:
        if not from_clock:  # the clock applied what its timers produced
            self.clock.apply(new)
        self.effects += new
        assert self.terminated_count() <= 1
        running = {name for (_key, name) in self.clock.timers}
        assert running == {t.value for t in self.tx.timers}
        if self.tx.state is State.TERMINATED:
            assert self.clock.timers == {}
            assert isinstance(self.effects[-1], TransactionTerminated)
        if self.tx.final_response is not None and self.first_final_at is None:
            self.first_final_at = self.clock.now

    def terminated_count(self) -> int:
        return sum(isinstance(e, TransactionTerminated) for e in self.effects)


def _stale_name(tx: Transaction) -> str:
    for name in "ABCDEFGHIJKLM":
        if name not in {t.value for t in tx.timers}:
            return name
    raise AssertionError("every timer runs")


def _client_input(run: Run, action: str) -> list[Effect]:
    tx = run.tx
    assert isinstance(tx, ClientInviteTransaction | ClientNonInviteTransaction)
    now = run.clock.now
    if action == "1xx":
        return tx.receive(response(tx.request, 180), now)
    if action == "2xx":
        return tx.receive(response(tx.request, 200), now)
    if action == "2xx-fork":
        return tx.receive(response(tx.request, 200, to_tag="fork"), now)
    if action == "fail":
        return tx.receive(response(tx.request, 486), now)
    if action == "transport":
        return tx.transport_error(now)
    if action == "stale":
        assert tx.timer_fired(_stale_name(tx), now) == []
        return []
    raise AssertionError(action)


def _server_input(run: Run, action: str) -> list[Effect]:
    tx = run.tx
    assert isinstance(tx, ServerInviteTransaction | ServerNonInviteTransaction)
    now = run.clock.now
    if action == "request":
        return tx.receive(tx.request, now)
    if action == "ack":
        return tx.receive(ack_for(tx.request, response(tx.request, 486)), now)
    if action == "send-1xx":
        return tx.send_response(response(tx.request, 180), now)
    if action == "send-2xx":
        return tx.send_response(response(tx.request, 200), now)
    if action == "send-fail":
        return tx.send_response(response(tx.request, 486), now)
    if action == "transport":
        return tx.transport_error(now)
    if action == "stale":
        assert tx.timer_fired(_stale_name(tx), now) == []
        return []
    raise AssertionError(action)


def _drive(tx: Transaction, actions: list[str], plan: list[tuple[float, int]]) -> Run:
    clock = clock_for(tx)
    run = Run(tx, clock, [])
    run.check(tx.start(0.0))
    server = isinstance(tx, ServerInviteTransaction | ServerNonInviteTransaction)
    last_input = 0.0
    for delay, choice in plan:
        run.check(clock.advance(delay), from_clock=True)
        action = actions[choice % len(actions)]
        invalid = action in ("start", "bad-timer") or (
            action.startswith("send-") and tx.state is State.TERMINATED
        )
        try:
            if action == "start":
                new = tx.start(clock.now)
            elif action == "bad-timer":
                new = tx.timer_fired("Z", clock.now)
            else:
                new = (_server_input if server else _client_input)(run, action)
        except TransactionError:
            assert invalid, f"{action} raised in {tx.state}"
            continue
        assert not invalid, f"{action} did not raise in {tx.state}"
        if tx.state is State.TERMINATED and run.terminated_count() == 1:
            assert new == [], "a terminated transaction has no more effects"
        run.check(new)
        last_input = clock.now
    if server and tx.state is not State.TERMINATED and tx.final_response is None:
        # the TU's duty: every request gets a final response
        assert isinstance(tx, ServerInviteTransaction | ServerNonInviteTransaction)
        run.check(tx.send_response(response(tx.request, 500), clock.now))
        last_input = clock.now
    run.check(clock.run_out(), from_clock=True)
    assert tx.state is State.TERMINATED and run.terminated_count() == 1
    assert tx.terminated_at is not None and tx.created_at == 0.0
    assert tx.terminated_at - last_input <= LONGEST + 1e-9
    return run


@settings(max_examples=150, deadline=None)
@given(plan=steps, reliable=st.booleans())
def test_client_invite_random(plan: list[tuple[float, int]], reliable: bool) -> None:
    req = request(transport="TCP" if reliable else "UDP")
    tx = ClientInviteTransaction(client_key_for_request(req), req, TCP if reliable else UDP)
    run = _drive(tx, CLIENT_ACTIONS, plan)
    got_provisional = any(
        getattr(e, "response", None) is not None and e.response.code < 200  # type: ignore[attr-defined]
        for e in run.effects
        if isinstance(e, TUEvent)
    )
    if not got_provisional:
        assert tx.terminated_at is not None
        assert tx.terminated_at <= 64 * T1 + max(CONFIG.timer_d, 64 * T1) + 1e-9


@settings(max_examples=150, deadline=None)
@given(plan=steps, reliable=st.booleans(), method=st.sampled_from(["OPTIONS", "BYE", "CANCEL"]))
def test_client_noninvite_random(
    plan: list[tuple[float, int]], reliable: bool, method: str
) -> None:
    req = request(method, transport="TCP" if reliable else "UDP")
    tx = ClientNonInviteTransaction(client_key_for_request(req), req, TCP if reliable else UDP)
    _drive(tx, CLIENT_ACTIONS, plan)
    assert tx.terminated_at is not None and tx.terminated_at <= 64 * T1 + T4 + 1e-9


@settings(max_examples=150, deadline=None)
@given(plan=steps, reliable=st.booleans(), trying=st.booleans())
def test_server_invite_random(plan: list[tuple[float, int]], reliable: bool, trying: bool) -> None:
    req = request(transport="TCP" if reliable else "UDP")
    destination = CLIENT_TCP if reliable else CLIENT_UDP
    tx = ServerInviteTransaction(server_key(req), req, destination, send_trying=trying)
    run = _drive(tx, SERVER_ACTIONS, plan)
    if run.first_final_at is not None:
        assert tx.terminated_at is not None
        assert tx.terminated_at - run.first_final_at <= 64 * T1 + T4 + 1e-9


@settings(max_examples=150, deadline=None)
@given(plan=steps, reliable=st.booleans())
def test_server_noninvite_random(plan: list[tuple[float, int]], reliable: bool) -> None:
    req = request("OPTIONS", transport="TCP" if reliable else "UDP")
    tx = ServerNonInviteTransaction(server_key(req), req, CLIENT_TCP if reliable else CLIENT_UDP)
    run = _drive(tx, SERVER_ACTIONS, plan)
    if run.first_final_at is not None:
        assert tx.terminated_at is not None
        assert tx.terminated_at - run.first_final_at <= 64 * T1 + 1e-9


# -- the layer ------------------------------------------------------------

BRANCHES = ["z9hG4bKa", "z9hG4bKb", None]
METHODS = ["INVITE", "OPTIONS", "BYE"]


@settings(max_examples=100, deadline=None)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.2, 1.0, 5.0, 33.0]),
            st.sampled_from(
                ["request", "ack", "cancel", "response", "send", "answer", "transport"]
            ),
            st.integers(0, 2),
            st.integers(0, 2),
            st.sampled_from([100, 180, 200, 486]),
        ),
        max_size=30,
    ),
    limit=st.integers(0, 4),
)
def test_layer_random(plan: list[tuple[float, str, int, int, int]], limit: int) -> None:
    layer = TransactionLayer(limits=LayerLimits(max_server_transactions=limit))
    clock = FakeClock(layer.timer_fired)
    open_requests: dict[tuple, SIPRequest] = {}

    def apply(effects: list[Effect]) -> None:
        track(clock.apply(effects))

    def track(effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, RequestReceived | CancelReceived):
                open_requests[effect.key] = effect.request
            elif isinstance(effect, TransactionTerminated):
                open_requests.pop(effect.key, None)  # type: ignore[arg-type]

    for delay, action, b, m, code in plan:
        track(clock.advance(delay))
        now = clock.now
        req = request(METHODS[m], branch=BRANCHES[b])
        try:
            if action == "request":
                apply(layer.receive(req, CLIENT_UDP, now))
            elif action == "ack":
                apply(layer.receive(ack_for(req, response(req, code)), CLIENT_UDP, now))
            elif action == "cancel":
                apply(layer.receive(cancel_for(req), CLIENT_UDP, now))
            elif action == "response":
                apply(layer.receive(response(req, code), UDP, now))
            elif action == "send":
                apply(layer.send_request(req, UDP, now))
            elif action == "answer" and open_requests:
                key = sorted(open_requests, key=repr)[b % len(open_requests)]
                target = open_requests[key]
                apply(layer.send_response(key, response(target, code), now))
            elif action == "transport":
                apply(layer.destination_failed(UDP if b else CLIENT_UDP, now))
        except TransactionError:
            # only documented misuse: a branch-less request, a duplicate client transaction
            assert action == "send"
        # CANCELs for live INVITEs are admitted beyond the limit; the method is
        # the last element of an RFC 3261 key, the one before the Via of an RFC 2543 key.
        cancels = [
            k for k in layer.server_transactions if (k[-1] if k[0] == "3261" else k[-2]) == "CANCEL"
        ]
        assert len(layer.server_transactions) <= max(limit, 0) + len(cancels)
    # the TU answers whatever is still open, then time runs out
    for key, target in list(open_requests.items()):
        apply(layer.send_response(key, response(target, 500), clock.now))
    track(clock.run_out())
    assert len(layer) == 0 and clock.timers == {}
