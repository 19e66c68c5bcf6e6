"""The check list's pairs (RFC 8445 6.1.2): their states as a table, their local candidates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .candidate import Candidate

__all__ = ["PAIR_TRANSITIONS", "CandidatePair", "LocalCandidate", "PairState"]

Address = tuple[str, int]


class PairState(StrEnum):
    FROZEN = "frozen"
    WAITING = "waiting"
    IN_PROGRESS = "in-progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# (state, what happened) -> next state; anything else leaves the pair as it is
PAIR_TRANSITIONS: dict[tuple[PairState, str], PairState] = {
    (PairState.FROZEN, "unfreeze"): PairState.WAITING,
    (PairState.FROZEN, "trigger"): PairState.WAITING,
    (PairState.FAILED, "trigger"): PairState.WAITING,
    # RFC 8445 7.3.1.4: a check from the peer cancels ours in progress and triggers another
    (PairState.IN_PROGRESS, "trigger"): PairState.WAITING,
    # ...and the cancelled check's answer still counts when it comes
    (PairState.WAITING, "success"): PairState.SUCCEEDED,
    (PairState.WAITING, "send"): PairState.IN_PROGRESS,
    (PairState.IN_PROGRESS, "success"): PairState.SUCCEEDED,
    (PairState.IN_PROGRESS, "failure"): PairState.FAILED,
    (PairState.IN_PROGRESS, "timeout"): PairState.FAILED,
    (PairState.IN_PROGRESS, "role-conflict"): PairState.WAITING,
    # the nominating check of a valid pair got no answer, or an error
    (PairState.SUCCEEDED, "nomination-failed"): PairState.FAILED,
}


@dataclass(frozen=True)
class LocalCandidate:
    candidate: Candidate
    base: Address  # where checks for it are sent from (a relayed address is its own base)


@dataclass(eq=False)
class CandidatePair:
    local: LocalCandidate
    remote: Candidate
    priority: int
    state: PairState = PairState.FROZEN
    nominated: bool = False
    nominate_on_success: bool = False  # controlled: USE-CANDIDATE came before our success
    valid_pair: CandidatePair | None = None

    @property
    def component(self) -> int:
        return self.remote.component

    @property
    def foundation(self) -> str:
        return f"{self.local.candidate.foundation}:{self.remote.foundation}"

    def move(self, happened: str) -> bool:
        new = PAIR_TRANSITIONS.get((self.state, happened))
        if new is None:
            return False
        self.state = new
        return True
