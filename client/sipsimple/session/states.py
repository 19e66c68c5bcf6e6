"""The Session state machine as the Middleware API document draws it, as a table.

`CALLS` says, for each public method of the Session, the states it may be
called in and the state it moves the session to (None: the state is
unchanged). Everything else that changes the state (responses, the remote
party's requests) happens inside the session and follows the same diagram.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ACTIVE", "CALLS", "STATES", "IllegalStateError", "check_call"]

STATES: Final = (
    None,
    "connecting",
    "incoming",
    "accepting",
    "connected",
    "sending_proposal",
    "received_proposal",
    "accepting_proposal",
    "rejecting_proposal",
    "cancelling_proposal",
    "terminating",
    "terminated",
)

# States in which the session is in SessionManager.sessions.
ACTIVE: Final = frozenset(STATES) - {None, "terminated"}

_STARTED: Final = frozenset(STATES) - {None, "terminating", "terminated"}

CALLS: Final[dict[str, tuple[frozenset[str | None], str | None]]] = {
    "connect": (frozenset({None}), "connecting"),
    "send_ring_indication": (frozenset({"incoming"}), None),
    "accept": (frozenset({"incoming"}), "accepting"),
    "reject": (frozenset({"incoming"}), "terminating"),
    "accept_proposal": (frozenset({"received_proposal"}), "accepting_proposal"),
    "reject_proposal": (frozenset({"received_proposal"}), "rejecting_proposal"),
    "add_stream": (frozenset({"connected"}), "sending_proposal"),
    "remove_stream": (frozenset({"connected"}), "sending_proposal"),
    "cancel_proposal": (frozenset({"sending_proposal"}), "cancelling_proposal"),
    "transfer": (frozenset({"connected"}), None),
    "accept_transfer": (frozenset({"connected", "sending_proposal", "received_proposal"}), None),
    "reject_transfer": (frozenset({"connected", "sending_proposal", "received_proposal"}), None),
    # hold and unhold are allowed in any state: they are queued until possible
    "end": (_STARTED, "terminating"),
}


class IllegalStateError(RuntimeError):
    """A Session method was called in a state where the document forbids it."""


def check_call(method: str, state: str | None) -> str | None:
    """The state after `method`, or IllegalStateError if `state` does not allow it."""
    allowed, after = CALLS[method]
    if state not in allowed:
        wanted = ", ".join(sorted(str(s) for s in allowed))
        raise IllegalStateError(f"cannot {method} a session in state {state} (allowed: {wanted})")
    return state if after is None else after
