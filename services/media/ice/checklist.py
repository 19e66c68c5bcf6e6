"""The check list (RFC 8445 6.1.2): the pairs, their states as a table, their local
candidates, and the `CheckList` that makes and orders them. Sans-IO."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from enum import StrEnum

from sipsimple.core.sdp.ice import is_ip_address

from .candidate import Candidate, CandidateType, foundation, pair_priority

__all__ = [
    "MAX_PAIRS",
    "PAIR_TRANSITIONS",
    "CandidatePair",
    "CheckList",
    "LocalCandidate",
    "PairState",
]

Address = tuple[str, int]

MAX_PAIRS = 100  # RFC 8445 6.1.2.5's default limit


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


class CheckList:
    """The candidates of both sides and the pairs made of them (RFC 8445 6.1.2), the
    valid list and the triggered-check queue: what the agent checks, in which order.

    It holds no checks in flight and no clock; `dropped` is the agent's counter.
    """

    def __init__(self, *, controlling: bool, components: int, dropped: Counter[str]) -> None:
        self.controlling = controlling
        self.components = components
        self.dropped = dropped
        self.local: list[LocalCandidate] = []
        self.remote: list[Candidate] = []
        self.pairs: list[CandidatePair] = []
        self.valid: list[CandidatePair] = []
        self.triggered: deque[CandidatePair] = deque()
        self._prflx_count = 0

    def reset(self, *, keep_local_candidates: bool) -> None:
        """An ICE restart: the remote side and all pairs go."""
        if not keep_local_candidates:
            self.local = []
        self.remote, self.pairs, self.valid = [], [], []
        self.triggered.clear()

    def use_rtcp_mux(self) -> None:
        self.components = 1
        self.local = [c for c in self.local if c.candidate.component == 1]
        self.remote = [c for c in self.remote if c.component == 1]
        self.pairs = [p for p in self.pairs if p.component == 1]

    # --- candidates -------------------------------------------------------

    def add_local(self, candidate: Candidate, base: Address, *, pair: bool) -> Candidate:
        for known in self.local:
            if known.candidate.address == candidate.address and (
                known.candidate.component == candidate.component
            ):
                return known.candidate  # RFC 8445 5.1.3: redundant
        local = LocalCandidate(candidate, base)
        self.local.append(local)
        if pair and candidate.type is not CandidateType.SRFLX:
            for remote in self.remote:
                self.pair(local, remote)
        return candidate

    def add_remote(self, candidate: Candidate) -> None:
        if candidate.transport != "udp" or not 1 <= candidate.component <= self.components:
            self.dropped["unusable-candidate"] += 1
            return
        if any(
            r.address == candidate.address and r.component == candidate.component
            for r in self.remote
        ):
            return
        self.remote.append(candidate)
        for local in self.local:
            if local.candidate.type is not CandidateType.SRFLX:
                self.pair(local, candidate)

    def add_peer_reflexive_remote(
        self, source: Address, component: int, priority: int
    ) -> Candidate:
        """RFC 8445 7.3.1.3: a check came from an address the peer did not announce."""
        self._prflx_count += 1
        remote = Candidate(
            f"prflx{self._prflx_count}",
            component,
            "udp",
            priority,
            source[0],
            source[1],
            CandidateType.PRFLX,
        )
        self.remote.append(remote)
        return remote

    def local_for_base(self, base: Address) -> LocalCandidate | None:
        for local in self.local:
            if local.base == tuple(base) and local.candidate.type in (
                CandidateType.HOST,
                CandidateType.RELAY,
            ):
                return local
        return None

    def remote_for(self, source: Address, component: int) -> Candidate | None:
        for remote in self.remote:
            if remote.address == source and remote.component == component:
                return remote
        return None

    # --- pairs ------------------------------------------------------------

    def priority_of(self, local: Candidate, remote: Candidate) -> int:
        if self.controlling:
            return pair_priority(local.priority, remote.priority)
        return pair_priority(remote.priority, local.priority)

    def pair(self, local: LocalCandidate, remote: Candidate) -> CandidatePair | None:
        if local.candidate.component != remote.component or not is_ip_address(remote.host):
            return None  # an mDNS name is not resolved here
        if (":" in local.base[0]) != (":" in remote.host):
            return None  # RFC 8445 6.1.2.2: same address family
        for pair in self.pairs:
            if pair.local.base == local.base and pair.remote.address == remote.address:
                return pair  # RFC 8445 6.1.2.4: same base and remote, keep the first
        if len(self.pairs) >= MAX_PAIRS:
            self.dropped["pair-limit"] += 1
            return None
        pair = CandidatePair(local, remote, self.priority_of(local.candidate, remote))
        # RFC 8445 6.1.2.6: one pair per foundation starts waiting, the others frozen
        if not any(p.foundation == pair.foundation for p in self.pairs):
            pair.move("unfreeze")
        self.pairs.append(pair)
        self.pairs.sort(key=lambda p: p.priority, reverse=True)
        return pair

    def switch_role(self) -> None:
        """The pairs' priorities follow the role (RFC 8445 6.1.2.3)."""
        self.controlling = not self.controlling
        for pair in self.pairs:
            pair.priority = self.priority_of(pair.local.candidate, pair.remote)
        for pair in self.valid:
            pair.priority = self.priority_of(pair.local.candidate, pair.remote)
        self.pairs.sort(key=lambda p: p.priority, reverse=True)

    def trigger(self, pair: CandidatePair) -> None:
        waiting = pair.move("trigger") or pair.state is PairState.WAITING
        if waiting and pair not in self.triggered:
            self.triggered.append(pair)

    def next_pair(self, peek: bool = False) -> CandidatePair | None:
        """The pair to check next (RFC 8445 6.1.4.2); `peek` changes nothing."""
        for pair in self.triggered:
            if pair.state is PairState.WAITING:
                break
        else:
            pair = None
        if pair is not None:
            if not peek:
                while self.triggered.popleft() is not pair:
                    pass
            return pair
        if not peek:
            self.triggered.clear()  # none of them is waiting any more
        for pair in self.pairs:
            if pair.state is PairState.WAITING:
                return pair
        busy = {
            p.foundation
            for p in self.pairs
            if p.state in (PairState.WAITING, PairState.IN_PROGRESS)
        }
        for pair in self.pairs:
            if pair.state is PairState.FROZEN and pair.foundation not in busy:
                if not peek:
                    pair.move("unfreeze")
                return pair
        return None

    def unfreeze_foundation(self, foundation: str) -> None:
        """RFC 8445 7.2.5.3.3: a success unfreezes the pairs of its foundation."""
        for other in self.pairs:
            if other.foundation == foundation:
                other.move("unfreeze")

    def pending(self, component: int | None = None, above: int = -1) -> bool:
        """Whether a pair (of `component`, of a priority over `above`) may still succeed."""
        return any(
            (component is None or p.component == component)
            and p.priority > above
            and p.state in (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)
            for p in self.pairs
        )

    # --- the valid list -----------------------------------------------------

    def best_valid(self, component: int) -> CandidatePair | None:
        valid = [p for p in self.valid if p.component == component]
        return max(valid, key=lambda p: p.priority, default=None)

    def missing_components(self) -> list[int]:
        """The components without a valid pair."""
        return [c for c in range(1, self.components + 1) if self.best_valid(c) is None]

    def nominated_components(self) -> set[int]:
        return {p.component for p in self.valid if p.nominated}

    def nominated(self) -> dict[int, CandidatePair] | None:
        """The best nominated pair of each component; None while one has none."""
        chosen = {}
        for component in range(1, self.components + 1):
            nominated = [p for p in self.valid if p.component == component and p.nominated]
            if not nominated:
                return None
            chosen[component] = max(nominated, key=lambda p: p.priority)
        return chosen

    def drop_valid(self, valid: CandidatePair) -> None:
        """A valid pair that stopped working, and the pairs whose check found it, fail."""
        if valid in self.valid:
            self.valid.remove(valid)
        valid.move("nomination-failed")
        for pair in self.pairs:
            if pair.valid_pair is valid:
                pair.valid_pair = None
                pair.move("nomination-failed")

    def valid_pair_for(self, pair: CandidatePair, mapped: Address, priority: int) -> CandidatePair:
        """RFC 8445 7.2.5.3.1: the pair whose local candidate is the mapped address."""
        local = next(
            (
                c
                for c in self.local
                if c.candidate.address == tuple(mapped) and c.candidate.component == pair.component
            ),
            None,
        )
        if local is None:
            kind = CandidateType.PRFLX
            candidate = Candidate(
                foundation(kind, pair.local.base[0]),
                pair.component,
                "udp",
                priority,
                mapped[0],
                mapped[1],
                kind,
                pair.local.base[0],
                pair.local.base[1],
            )
            local = LocalCandidate(candidate, pair.local.base)
            self.local.append(local)
        if local.base != pair.local.base:
            local = pair.local  # the mapped address is another socket's: keep our own
        for valid in self.valid:
            if valid.local == local and valid.remote.address == pair.remote.address:
                return valid
        valid = CandidatePair(
            local,
            pair.remote,
            self.priority_of(local.candidate, pair.remote),
            PairState.SUCCEEDED,
        )
        self.valid.append(valid)
        return valid
