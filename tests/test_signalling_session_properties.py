"""Property: random API calls and network trouble never raise anything but
`SessionError`, and every session is gone within bounded time after end()."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sip_dialog_fixtures import call, pair

from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.invite.events import (
    IncomingInvite,
    InDialogRequest,
    SessionEnded,
    SessionFailed,
)
from sipsimple_services.signalling.sip.invite.session import SessionError

ACTIONS = st.sampled_from([
    "ring", "accept", "accept_nobody", "reject", "end_a", "end_b", "reinvite_a", "reinvite_b",
    "accept_reinvite_a", "accept_reinvite_b", "reject_reinvite_a", "reject_reinvite_b",
    "answer_a", "answer_b", "info_a", "respond_b", "advance", "advance_long",
    "cancel_reinvite_a", "cancel_reinvite_b",
])
STEPS = st.lists(st.tuples(ACTIONS, st.integers(0, 3)), max_size=25)


def _do(action: str, net, alice, bob, a: str, b: str) -> None:  # type: ignore[no-untyped-def]
    now = net.clock.now
    stack, sid = (alice, a) if action.endswith("_a") else (bob, b)
    layer = stack.layer
    if action == "ring":
        bob.take(bob.layer.provisional(b, now, 180))
    elif action in ("accept", "accept_nobody"):
        bob.take(bob.layer.accept(b, now, b"" if action == "accept_nobody" else b"answer"))
    elif action == "reject":
        bob.take(bob.layer.reject(b, now, 486))
    elif action.startswith("end"):
        stack.take(layer.end(sid, now, h.ReasonHeader.new("SIP", 200, "bye")))
    elif action.startswith("cancel_reinvite"):
        stack.take(layer.cancel_reinvite(sid, now))
    elif action.startswith("reinvite"):
        stack.take(layer.reinvite(sid, now, b"offer"))
    elif action.startswith("accept_reinvite"):
        stack.take(layer.accept_reinvite(sid, now, b"answer"))
    elif action.startswith("reject_reinvite"):
        stack.take(layer.reject_reinvite(sid, now, 488))
    elif action.startswith("answer"):
        stack.take(layer.answer(sid, now, b"answer"))
    elif action == "info_a":
        _, effects = alice.layer.request(a, "INFO", now)
        alice.take(effects)
    elif action == "respond_b":
        for event in bob.of(InDialogRequest):
            with contextlib.suppress(SessionError):
                bob.take(bob.layer.respond(b, event.server_key, 200, now))
    elif action == "advance":
        net.advance(0.7)
    else:
        net.advance(5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, drop_every=st.integers(0, 5), duplicate_every=st.integers(0, 5),
       glare_ticks=st.integers(0, 400))
def test_random_calls_end_cleanly(
    steps: list[tuple[str, int]], drop_every: int, duplicate_every: int, glare_ticks: int
) -> None:
    net, alice, bob = pair(random_below=lambda n: glare_ticks % n)
    a, b = call(net, alice, bob, b"offer" if glare_ticks % 2 else b"")
    counter = {"n": 0}

    def every(n: int) -> bool:
        counter["n"] += 1
        return n > 0 and counter["n"] % (n + 3) == 0

    net.drop = lambda m: every(drop_every)
    net.duplicate = lambda m: every(duplicate_every)
    for action, _ in steps:
        with contextlib.suppress(SessionError):
            _do(action, net, alice, bob, a, b)
        net.run()
    # hang up from both sides; everything ends within bounded time
    for stack, sid in ((alice, a), (bob, b)):
        with contextlib.suppress(SessionError):
            stack.take(stack.layer.end(sid, net.clock.now))
    net.advance(200)
    assert alice.layer.sessions == {} and bob.layer.sessions == {}
    for stack, sid in ((alice, a), (bob, b)):
        finals = [e for e in stack.session_events(sid)
                  if isinstance(e, SessionEnded | SessionFailed)]
        assert len(finals) == 1, (stack.name, finals)
        assert stack.states(sid)[-1] == "terminated"
    assert len(bob.of(IncomingInvite)) >= 1
    net.clock.run_out()
