"""An ICE agent (RFC 8445) for one audio stream, sans-IO, with consent freshness (RFC 7675).

One stream, one or two components (RTP; RTCP when not muxed). The caller:

- adds its local candidates: `add_host` for each RTP (and RTCP) socket,
  `add_server_reflexive` / `add_relayed` with what the binding and TURN
  clients found; `local_candidates()` goes into the SDP;
- gives the peer's `set_remote(ufrag, pwd, candidates)` from its SDP, then
  `start(now)`;
- feeds every STUN datagram received on a media socket (RFC 7983: first byte
  0-3) to `handle_stun(data, source, base, now)`, `base` being the local
  address it arrived on (a relayed address for data from the TURN client);
- sends every `Transmit` it gets back (from `Transmit.source`, the base), and
  calls `handle_timeout(now)` at `next_deadline()`.

Every call returns effects: `Transmit`s and events (`IceStateChanged`,
`PairSelected`, `IceCompleted`, `IceFailed`, `ConsentLost`). `PairSelected`
tells the RTP latch where the peer is. Hostile STUN (malformed, wrong
integrity, unknown comprehension-required attributes, floods) is dropped
and counted in `dropped`; it never changes the selected pair.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

from sipsimple.core.sdp.ice import is_ip_address

from .candidate import (
    Candidate,
    CandidateType,
    candidate_priority,
    foundation,
    pair_priority,
)
from .checklist import CandidatePair, LocalCandidate, PairState
from .events import (
    ConsentLost,
    IceCompleted,
    IceEvent,
    IceFailed,
    IceState,
    IceStateChanged,
    PairSelected,
)
from .stun import (
    Attr,
    Class,
    Message,
    Method,
    StunError,
    check_integrity,
    encode,
    error_response,
    new_transaction_id,
    parse,
    short_term_key,
)
from .transaction import ClientTransaction, Transactions, Transmit

__all__ = [
    "CHECK_TIMEOUT",
    "CONSENT_INTERVAL",
    "CONSENT_TIMEOUT",
    "TA",
    "Effect",
    "IceAgent",
]

Address = tuple[str, int]

TA = 0.05  # pacing of checks (RFC 8445 14.2: 50 ms for a single stream)
CHECK_RTO = 0.5
CHECK_RC = 5  # sends at 0, 0.5, 1.5, 3.5, 7.5 s; the pair fails at 9.5 s
CHECK_RM = 4
NOMINATION_WAIT = 1.0  # how long better pairs may still finish before nominating
# ICE gives up this long after `start` when no pair was selected: the checks of a
# pair whose answers are lost can go on as long as the peer's checks keep
# triggering new ones (RFC 8445 7.3.1.4), and the session waits 15 s for its
# streams to start; the audio then goes plainly to the SDP address
CHECK_TIMEOUT = 10.0
CONSENT_INTERVAL = 5.0  # RFC 7675 5.1: 5 s, randomised by +-20 %
CONSENT_TIMEOUT = 30.0
MAX_PAIRS = 100  # RFC 8445 6.1.2.5's default limit
REQUEST_RATE = 100.0  # authenticated checks answered per second (a peer sends ~20)
REQUEST_BURST = 50.0
MAX_EARLY = 20  # checks kept from before `start`


Effect = Transmit | IceEvent


@dataclass
class _Check:
    pair: CandidatePair
    use_candidate: bool
    priority: int  # the PRIORITY we sent: a peer-reflexive local candidate gets it
    consent: bool = False
    cancelled: bool = False  # no more retransmissions (RFC 8445 7.3.1.4); answers count


@dataclass(frozen=True)
class _Early:
    """A valid check that came before `start`."""

    local: LocalCandidate
    source: Address
    priority: int
    use_candidate: bool


@dataclass
class _Selected:
    pair: CandidatePair
    remote_ufrag: str
    remote_pwd: str
    consent_at: float  # last proof of consent
    next_consent: float


@dataclass
class _Bucket:
    """Token bucket for the requests we answer: a flood costs us parsing only."""

    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(REQUEST_BURST, self.tokens + (now - self.at) * REQUEST_RATE)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class IceAgent:
    def __init__(
        self,
        *,
        controlling: bool,
        ufrag: str,
        pwd: str,
        tie_breaker: int,
        components: int = 1,
        rng: random.Random | None = None,
        ta: float = TA,
        check_rto: float = CHECK_RTO,
        check_rc: int = CHECK_RC,
        check_rm: int = CHECK_RM,
        nomination_wait: float = NOMINATION_WAIT,
        check_timeout: float = CHECK_TIMEOUT,
        consent_interval: float = CONSENT_INTERVAL,
        consent_timeout: float = CONSENT_TIMEOUT,
    ) -> None:
        if components not in (1, 2):
            raise ValueError("an audio stream has 1 (rtcp-mux) or 2 components")
        if not 0 <= tie_breaker < 1 << 64:
            raise ValueError("the tie-breaker is 64 bits")
        self.controlling = controlling
        self.local_ufrag = ufrag
        self.local_pwd = pwd
        self.tie_breaker = tie_breaker
        self.components = components
        self.rng = rng or random.Random()
        self.ta = ta
        self.check_rto, self.check_rc, self.check_rm = check_rto, check_rc, check_rm
        self.nomination_wait = nomination_wait
        self.check_timeout = check_timeout
        self.consent_interval = consent_interval
        self.consent_timeout = consent_timeout
        self.state = IceState.NEW
        self.dropped: Counter[str] = Counter()
        self.remote_ufrag: str | None = None
        self.remote_pwd: str | None = None
        self._local: list[LocalCandidate] = []
        self._remote: list[Candidate] = []
        self._pairs: list[CandidatePair] = []
        self._valid: list[CandidatePair] = []
        self._triggered: deque[CandidatePair] = deque()
        self._checks: dict[bytes, _Check] = {}
        self._transactions = Transactions()
        self._next_check = 0.0
        self._first_valid_at: float | None = None
        self._give_up_at: float | None = None  # `check_timeout` after `start`
        self._nominating: set[int] = set()  # components whose nomination check is out
        self._selected: dict[int, _Selected] = {}
        self._completed = False
        self._bucket = _Bucket(REQUEST_BURST, 0.0)
        self._prflx_count = 0
        self._early: list[_Early] = []

    # --- candidates -------------------------------------------------------

    def _check_component(self, component: int) -> None:
        if not 1 <= component <= self.components:
            raise ValueError(f"component {component} of {self.components}")

    def _add_local(self, candidate: Candidate, base: Address) -> Candidate:
        for known in self._local:
            if known.candidate.address == candidate.address and (
                known.candidate.component == candidate.component
            ):
                return known.candidate  # RFC 8445 5.1.3: redundant
        local = LocalCandidate(candidate, base)
        self._local.append(local)
        if self.remote_pwd is not None and candidate.type is not CandidateType.SRFLX:
            for remote in self._remote:
                self._pair(local, remote)
        return candidate

    def add_host(
        self, component: int, address: Address, local_preference: int = 65535
    ) -> Candidate:
        self._check_component(component)
        kind = CandidateType.HOST
        candidate = Candidate(
            foundation(kind, address[0]),
            component,
            "udp",
            candidate_priority(kind, component, local_preference),
            address[0],
            address[1],
            kind,
        )
        return self._add_local(candidate, address)

    def add_server_reflexive(
        self,
        component: int,
        base: Address,
        mapped: Address,
        server: Address,
        local_preference: int = 65535,
    ) -> Candidate | None:
        """The binding client's result for the socket `base`; None when not behind a NAT."""
        self._check_component(component)
        if tuple(mapped) == tuple(base):
            return None
        kind = CandidateType.SRFLX
        candidate = Candidate(
            foundation(kind, base[0], server[0]),
            component,
            "udp",
            candidate_priority(kind, component, local_preference),
            mapped[0],
            mapped[1],
            kind,
            base[0],
            base[1],
        )
        return self._add_local(candidate, base)

    def add_relayed(
        self,
        component: int,
        relayed: Address,
        mapped: Address,
        server: Address,
        local_preference: int = 65535,
    ) -> Candidate:
        """A TURN allocation's relayed address (`mapped`: its XOR-MAPPED-ADDRESS)."""
        self._check_component(component)
        kind = CandidateType.RELAY
        candidate = Candidate(
            foundation(kind, mapped[0], server[0]),
            component,
            "udp",
            candidate_priority(kind, component, local_preference),
            relayed[0],
            relayed[1],
            kind,
            mapped[0],
            mapped[1],
        )
        return self._add_local(candidate, relayed)

    def use_rtcp_mux(self) -> None:
        """RTCP rides on the RTP component (RFC 5761): component 2 and its pairs go."""
        if self.components == 1:
            return
        if self.state is not IceState.NEW:
            raise ValueError("rtcp-mux is decided before the checks start")
        self.components = 1
        self._local = [c for c in self._local if c.candidate.component == 1]
        self._remote = [c for c in self._remote if c.component == 1]
        self._pairs = [p for p in self._pairs if p.component == 1]

    def local_candidates(self) -> list[Candidate]:
        return [c.candidate for c in self._local if c.candidate.type is not CandidateType.PRFLX]

    # --- remote side and the check list -------------------------------------

    def is_restart(self, ufrag: str, pwd: str) -> bool:
        """A new offer or answer with these credentials restarts ICE (RFC 8839 4.4.1.1.1)."""
        return self.remote_ufrag is not None and (ufrag, pwd) != (
            self.remote_ufrag,
            self.remote_pwd,
        )

    def set_remote(self, ufrag: str, pwd: str, candidates: Iterable[Candidate]) -> None:
        """The peer's credentials and candidates; new credentials need `restart` first."""
        if self.is_restart(ufrag, pwd):
            raise ValueError("new remote credentials: call restart first")
        self.remote_ufrag, self.remote_pwd = ufrag, pwd
        for candidate in candidates:
            self.add_remote_candidate(candidate)

    def add_remote_candidate(self, candidate: Candidate) -> None:
        """A candidate of the peer; one of another transport or component is ignored."""
        if candidate.transport != "udp" or not 1 <= candidate.component <= self.components:
            self.dropped["unusable-candidate"] += 1
            return
        if any(
            r.address == candidate.address and r.component == candidate.component
            for r in self._remote
        ):
            return
        self._remote.append(candidate)
        for local in self._local:
            if local.candidate.type is not CandidateType.SRFLX:
                self._pair(local, candidate)

    def _priority_of(self, local: Candidate, remote: Candidate) -> int:
        if self.controlling:
            return pair_priority(local.priority, remote.priority)
        return pair_priority(remote.priority, local.priority)

    def _pair(self, local: LocalCandidate, remote: Candidate) -> CandidatePair | None:
        if local.candidate.component != remote.component or not is_ip_address(remote.host):
            return None  # an mDNS name is not resolved here
        if (":" in local.base[0]) != (":" in remote.host):
            return None  # RFC 8445 6.1.2.2: same address family
        for pair in self._pairs:
            if pair.local.base == local.base and pair.remote.address == remote.address:
                return pair  # RFC 8445 6.1.2.4: same base and remote, keep the first
        if len(self._pairs) >= MAX_PAIRS:
            self.dropped["pair-limit"] += 1
            return None
        pair = CandidatePair(local, remote, self._priority_of(local.candidate, remote))
        # RFC 8445 6.1.2.6: one pair per foundation starts waiting, the others frozen
        if not any(p.foundation == pair.foundation for p in self._pairs):
            pair.move("unfreeze")
        self._pairs.append(pair)
        self._pairs.sort(key=lambda p: p.priority, reverse=True)
        return pair

    @property
    def pairs(self) -> list[CandidatePair]:
        return list(self._pairs)

    @property
    def valid_pairs(self) -> list[CandidatePair]:
        return list(self._valid)

    def selected(self, component: int = 1) -> CandidatePair | None:
        selected = self._selected.get(component)
        return selected.pair if selected else None

    # --- running ----------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        if self.remote_pwd is None:
            raise ValueError("start needs the remote ufrag and pwd")
        self._next_check = now
        self._give_up_at = now + self.check_timeout
        effects: list[Effect] = []
        self._set_state(IceState.CHECKING, effects)
        early, self._early = self._early, []
        for check in early:
            if check.local in self._local:  # not dropped by a restart or rtcp-mux meanwhile
                self._checked_by_peer(
                    check.local, check.source, check.priority, check.use_candidate, now, effects
                )
        effects += self.handle_timeout(now)
        return effects

    def restart(self, ufrag: str, pwd: str, *, keep_local_candidates: bool = True) -> list[Effect]:
        """New local credentials; checks start again after `set_remote` and `start`.

        The selected pairs (and their consent checks) stay until the new checks
        select others, so audio goes on through the restart (RFC 8445 9). After
        an address change pass `keep_local_candidates=False` and add the new ones.
        """
        self.local_ufrag, self.local_pwd = ufrag, pwd
        self.remote_ufrag = self.remote_pwd = None
        if not keep_local_candidates:
            self._local = []
        self._remote, self._pairs, self._valid = [], [], []
        self._early = []
        self._triggered.clear()
        for transaction_id, check in list(self._checks.items()):
            if not check.consent:
                self._checks.pop(transaction_id)
                self._transactions.pop(transaction_id)
        self._first_valid_at = None
        self._nominating = set()
        self._completed = False
        effects: list[Effect] = []
        self._set_state(IceState.NEW, effects)
        return effects

    def _set_state(self, state: IceState, effects: list[Effect]) -> None:
        if state is not self.state:
            effects.append(IceStateChanged(self.state, state))
            self.state = state

    def next_deadline(self) -> float | None:
        deadlines = []
        if self.state is IceState.CHECKING:
            if self._next_pair(peek=True) is not None:
                deadlines.append(self._next_check)
            nomination = self._nomination_due()
            if nomination is not None:
                deadlines.append(nomination)
            if not self._completed and self._give_up_at is not None:
                deadlines.append(self._give_up_at)
        transactions = self._transactions.next_deadline()
        if transactions is not None:
            deadlines.append(transactions)
        for selected in self._selected.values():
            deadlines.append(selected.next_consent)
            deadlines.append(selected.consent_at + self.consent_timeout)
        return min(deadlines, default=None)

    def _nomination_due(self) -> float | None:
        """When the controlling agent nominates without waiting for better pairs any longer."""
        if not self.controlling or self._completed or self._first_valid_at is None:
            return None
        for component in range(1, self.components + 1):
            if (
                component not in self._nominating
                and component not in self._nominated_components()
                and self._best_valid(component) is not None
            ):
                return self._first_valid_at + self.nomination_wait
        return None

    def handle_timeout(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        transmits, expired = self._transactions.handle_timeout(now)
        effects += transmits
        for transaction in expired:
            check = self._checks.pop(transaction.transaction_id, None)
            if check is not None and not check.consent:
                if check.use_candidate:
                    self._nomination_failed(check.pair)
                else:
                    check.pair.move("timeout")
                self._nominating.discard(check.pair.component)
        self._consent(now, effects)
        if self.state is IceState.CHECKING:
            if not self._completed and self._give_up_at is not None and now >= self._give_up_at:
                self._give_up(effects)
                return effects
            if now >= self._next_check:
                pair = self._next_pair()
                if pair is not None:
                    effects.append(self._send_check(pair, now, use_candidate=False))
                    self._next_check = now + self.ta
            self._maybe_nominate(now, effects)
            self._maybe_fail(effects)
        return effects

    def _next_pair(self, peek: bool = False) -> CandidatePair | None:
        """The pair to check next (RFC 8445 6.1.4.2); `peek` changes nothing."""
        for pair in self._triggered:
            if pair.state is PairState.WAITING:
                break
        else:
            pair = None
        if pair is not None:
            if not peek:
                while self._triggered.popleft() is not pair:
                    pass
            return pair
        if not peek:
            self._triggered.clear()  # none of them is waiting any more
        for pair in self._pairs:
            if pair.state is PairState.WAITING:
                return pair
        busy = {
            p.foundation
            for p in self._pairs
            if p.state in (PairState.WAITING, PairState.IN_PROGRESS)
        }
        for pair in self._pairs:
            if pair.state is PairState.FROZEN and pair.foundation not in busy:
                if not peek:
                    pair.move("unfreeze")
                return pair
        return None

    def _request(
        self, pair: CandidatePair, use_candidate: bool, ufrag: str, transaction_id: bytes
    ) -> tuple[Message, int]:
        priority = candidate_priority(
            CandidateType.PRFLX, pair.component, (pair.local.candidate.priority >> 8) & 0xFFFF
        )
        role = Attr.ICE_CONTROLLING if self.controlling else Attr.ICE_CONTROLLED
        attributes: list[tuple[int, object]] = [
            (Attr.USERNAME, f"{ufrag}:{self.local_ufrag}"),
            (Attr.PRIORITY, priority),
            (role, self.tie_breaker),
        ]
        if use_candidate:
            attributes.append((Attr.USE_CANDIDATE, True))
        return Message(Method.BINDING, Class.REQUEST, transaction_id, tuple(attributes)), priority

    def _send_check(
        self,
        pair: CandidatePair,
        now: float,
        use_candidate: bool,
        consent: _Selected | None = None,
    ) -> Transmit:
        transaction_id = new_transaction_id()
        ufrag = consent.remote_ufrag if consent else self.remote_ufrag
        pwd = consent.remote_pwd if consent else self.remote_pwd
        assert ufrag is not None and pwd is not None
        message, priority = self._request(pair, use_candidate, ufrag, transaction_id)
        data = encode(message, short_term_key(pwd), fingerprint=True)
        transmit = Transmit(data, pair.remote.address, pair.local.base)
        if consent is None:
            pair.move("send")
        self._checks[transaction_id] = _Check(pair, use_candidate, priority, consent is not None)
        return self._transactions.add(
            ClientTransaction(
                transaction_id, transmit, now, self.check_rto, self.check_rc, self.check_rm
            )
        )

    # --- nomination, completion, failure --------------------------------------

    def _best_valid(self, component: int) -> CandidatePair | None:
        valid = [p for p in self._valid if p.component == component]
        return max(valid, key=lambda p: p.priority, default=None)

    def _maybe_nominate(self, now: float, effects: list[Effect]) -> None:
        """Regular nomination (RFC 8445 8.1.1): the chosen valid pair checked with USE-CANDIDATE."""
        if not self.controlling or self._completed or self._first_valid_at is None:
            return
        waited = now >= self._first_valid_at + self.nomination_wait
        for component in range(1, self.components + 1):
            if component in self._nominating or component in self._nominated_components():
                continue
            best = self._best_valid(component)
            if best is None:
                continue
            pending = any(
                p.component == component
                and p.priority > best.priority
                and p.state in (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)
                for p in self._pairs
            )
            if pending and not waited:
                continue
            self._nominating.add(component)
            effects.append(self._send_check(best, now, use_candidate=True))

    def _nominated_components(self) -> set[int]:
        return {p.component for p in self._valid if p.nominated}

    def _nominate(self, pair: CandidatePair, now: float, effects: list[Effect]) -> None:
        pair.nominated = True
        self._nominating.discard(pair.component)
        if self._completed:
            return
        chosen = {}
        for component in range(1, self.components + 1):
            nominated = [p for p in self._valid if p.component == component and p.nominated]
            if not nominated:
                return
            chosen[component] = max(nominated, key=lambda p: p.priority)
        self._completed = True
        assert self.remote_ufrag is not None and self.remote_pwd is not None
        selections = []
        for component, chosen_pair in chosen.items():
            self._selected[component] = _Selected(
                chosen_pair,
                self.remote_ufrag,
                self.remote_pwd,
                consent_at=now,
                next_consent=now + self._consent_interval(),
            )
            selections.append(
                PairSelected(
                    component,
                    chosen_pair.local.candidate,
                    chosen_pair.remote,
                    chosen_pair.local.base,
                )
            )
        effects.extend(selections)
        self._set_state(IceState.COMPLETED, effects)
        effects.append(IceCompleted(tuple(selections)))
        # checks still out for other pairs are no longer needed
        for transaction_id, check in list(self._checks.items()):
            if not check.consent:
                self._checks.pop(transaction_id)
                self._transactions.pop(transaction_id)

    def _maybe_fail(self, effects: list[Effect]) -> None:
        if self._completed or not self._pairs:
            return
        if any(
            p.state in (PairState.FROZEN, PairState.WAITING, PairState.IN_PROGRESS)
            for p in self._pairs
        ) or any(not c.consent and not c.cancelled for c in self._checks.values()):
            return
        missing = [c for c in range(1, self.components + 1) if self._best_valid(c) is None]
        # with a valid pair for each component, the controlled agent waits for a nomination
        if missing:
            self._fail(f"no working pair for component {missing[0]}", effects)

    def _nomination_failed(self, valid: CandidatePair) -> None:
        """The nominating check of a valid pair went unanswered (or was refused): the pair
        no longer works; another valid pair is nominated, or the component fails. Checking
        it again and again would keep ICE from ever ending."""
        if valid in self._valid:
            self._valid.remove(valid)
        valid.move("nomination-failed")
        for pair in self._pairs:
            if pair.valid_pair is valid:
                pair.valid_pair = None
                pair.move("nomination-failed")

    def _give_up(self, effects: list[Effect]) -> None:
        missing = [c for c in range(1, self.components + 1) if self._best_valid(c) is None]
        what = (
            f"no working pair for component {missing[0]}"
            if missing
            else "no pair nominated"
        )
        for transaction_id, check in list(self._checks.items()):
            if not check.consent:
                self._checks.pop(transaction_id)
                self._transactions.pop(transaction_id)
        self._fail(f"{what} within {self.check_timeout:g} s", effects)

    def _fail(self, reason: str, effects: list[Effect]) -> None:
        self._set_state(IceState.FAILED, effects)
        effects.append(IceFailed(reason))
        self._triggered.clear()

    # --- consent freshness (RFC 7675) ---------------------------------------

    def _consent_interval(self) -> float:
        return self.consent_interval * self.rng.uniform(0.8, 1.2)

    def _consent(self, now: float, effects: list[Effect]) -> None:
        for component, selected in list(self._selected.items()):
            if now >= selected.consent_at + self.consent_timeout:
                del self._selected[component]
                effects.append(ConsentLost(component, selected.pair.remote.address))
                self._completed = False
                if self.state is not IceState.FAILED:
                    self._fail("consent lost", effects)
                continue
            if now >= selected.next_consent:
                selected.next_consent = now + self._consent_interval()
                effects.append(self._send_check(selected.pair, now, False, consent=selected))

    # --- incoming STUN ----------------------------------------------------

    def _local_for_base(self, base: Address) -> LocalCandidate | None:
        for local in self._local:
            if local.base == tuple(base) and local.candidate.type in (
                CandidateType.HOST,
                CandidateType.RELAY,
            ):
                return local
        return None

    def handle_stun(self, data: bytes, source: Address, base: Address, now: float) -> list[Effect]:
        """A STUN datagram from `source` received on the local address `base`."""
        try:
            message = parse(data)
        except StunError:
            self.dropped["malformed"] += 1
            return []
        source, base = (source[0], source[1]), (base[0], base[1])
        if message.method != Method.BINDING:
            self.dropped["not-binding"] += 1
            return []
        if message.cls is Class.REQUEST:
            return self._request_received(message, source, base, now)
        if message.cls in (Class.SUCCESS, Class.ERROR):
            return self._response_received(message, source, base, now)
        return []  # a Binding indication: a keepalive, nothing to do

    def _reply(
        self, message: Message, source: Address, base: Address, sign: bool = True
    ) -> Transmit:
        key = short_term_key(self.local_pwd) if sign else None
        return Transmit(encode(message, key, fingerprint=True), source, base)

    def _request_received(
        self, request: Message, source: Address, base: Address, now: float
    ) -> list[Effect]:
        local = self._local_for_base(base)
        if local is None:
            self.dropped["unknown-base"] += 1
            return []
        username = request.get(Attr.USERNAME)
        if not request.has_integrity or username is None:
            self.dropped["unauthenticated"] += 1
            return []
        if not (
            isinstance(username, str)
            and username.startswith(self.local_ufrag + ":")
            and check_integrity(request, short_term_key(self.local_pwd))
        ):
            # no 401: answering unauthenticated requests would make us a reflector
            self.dropped["integrity"] += 1
            return []
        if not self._bucket.take(now):
            self.dropped["flood"] += 1
            return []
        if request.unknown_required:
            self.dropped["unknown-attributes"] += 1
            answer = error_response(
                request,
                420,
                "Unknown Attribute",
                (Attr.UNKNOWN_ATTRIBUTES, request.unknown_required),
            )
            return [self._reply(answer, source, base)]
        priority = request.get(Attr.PRIORITY)
        if not isinstance(priority, int) or priority == 0:
            self.dropped["no-priority"] += 1
            return [self._reply(error_response(request, 400, "Bad Request"), source, base)]
        effects: list[Effect] = []
        # RFC 8445 7.3.1.1: role conflict
        theirs_controlling = request.get(Attr.ICE_CONTROLLING)
        theirs_controlled = request.get(Attr.ICE_CONTROLLED)
        if self.controlling and theirs_controlling is not None:
            if self.tie_breaker >= theirs_controlling:
                return [self._reply(error_response(request, 487, "Role Conflict"), source, base)]
            self._switch_role()
        elif not self.controlling and theirs_controlled is not None:
            if self.tie_breaker >= theirs_controlled:
                self._switch_role()
            else:
                return [self._reply(error_response(request, 487, "Role Conflict"), source, base)]
        response = request.reply(Class.SUCCESS, ((Attr.XOR_MAPPED_ADDRESS, source),))
        effects.append(self._reply(response, source, base))
        use_candidate = bool(request.get(Attr.USE_CANDIDATE, False))
        if self.state is IceState.FAILED:
            return effects
        if self.remote_pwd is None or self.state is IceState.NEW:
            # RFC 8445 7.3.1.3: a check before the peer's description arrived (its offer
            # or answer travels through SIP): remembered, acted on at `start`
            if len(self._early) < MAX_EARLY:
                self._early.append(_Early(local, source, priority, use_candidate))
            return effects
        self._checked_by_peer(local, source, priority, use_candidate, now, effects)
        return effects

    def _checked_by_peer(
        self,
        local: LocalCandidate,
        source: Address,
        priority: int,
        use_candidate: bool,
        now: float,
        effects: list[Effect],
    ) -> None:
        """What a valid check from the peer teaches: a peer-reflexive candidate, a
        triggered check, a nomination (RFC 8445 7.3.1.3-7.3.1.5)."""
        component = local.candidate.component
        remote = self._remote_for(source, component)
        if remote is None:
            # RFC 8445 7.3.1.3: a peer-reflexive remote candidate
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
            self._remote.append(remote)
        pair = self._pair(local, remote)
        if pair is None:
            return
        # RFC 8445 7.3.1.4: the triggered check
        if pair.state is PairState.SUCCEEDED:
            if use_candidate and not self.controlling and pair.valid_pair is not None:
                self._nominate(pair.valid_pair, now, effects)
        else:
            if use_candidate and not self.controlling:
                pair.nominate_on_success = True
            if pair.state is PairState.IN_PROGRESS:
                # RFC 8445 7.3.1.4: our check may be lost (a TURN server without the
                # permission yet): it is not sent again, a triggered one goes now, and
                # the first one's answer still counts if it comes
                for transaction_id, check in self._checks.items():
                    if check.pair is pair and not check.consent and not check.cancelled:
                        check.cancelled = True
                        self._transactions.pop(transaction_id)
            waiting = pair.move("trigger") or pair.state is PairState.WAITING
            if waiting and pair not in self._triggered:
                self._triggered.append(pair)

    def _remote_for(self, source: Address, component: int) -> Candidate | None:
        for remote in self._remote:
            if remote.address == source and remote.component == component:
                return remote
        return None

    def _switch_role(self) -> None:
        self.controlling = not self.controlling
        for pair in self._pairs:
            pair.priority = self._priority_of(pair.local.candidate, pair.remote)
        for pair in self._valid:
            pair.priority = self._priority_of(pair.local.candidate, pair.remote)
        self._pairs.sort(key=lambda p: p.priority, reverse=True)
        self._nominating = set()

    def _response_received(
        self, response: Message, source: Address, base: Address, now: float
    ) -> list[Effect]:
        check = self._checks.get(response.transaction_id)
        if check is None:
            self.dropped["unmatched-response"] += 1
            return []
        selected = next((s for s in self._selected.values() if s.pair is check.pair), None)
        pwd = selected.remote_pwd if check.consent and selected else self.remote_pwd
        if pwd is None or not check_integrity(response, short_term_key(pwd)):
            self.dropped["integrity"] += 1
            return []  # the transaction goes on: a forged answer must not end it
        self._checks.pop(response.transaction_id)
        self._transactions.pop(response.transaction_id)
        pair = check.pair
        effects: list[Effect] = []
        symmetric = source == pair.remote.address and base == pair.local.base
        if check.consent:
            if response.cls is Class.SUCCESS and symmetric and selected is not None:
                selected.consent_at = now
            return effects
        if response.cls is Class.ERROR:
            if response.error_code == 487:
                # RFC 8445 7.2.5.1: switch to the role the peer did not claim, check again
                self._switch_role()
                pair.move("role-conflict")
                self._triggered.append(pair)
            elif check.use_candidate:
                self._nomination_failed(pair)
                self._nominating.discard(pair.component)
            else:
                pair.move("failure")
                self._nominating.discard(pair.component)
            self._maybe_fail(effects)
            return effects
        if not symmetric:
            pair.move("failure")  # RFC 8445 7.2.5.2.1: non-symmetric addresses
            self._maybe_fail(effects)
            return effects
        mapped = response.get(Attr.XOR_MAPPED_ADDRESS)
        if mapped is None:
            pair.move("failure")
            self._maybe_fail(effects)
            return effects
        pair.move("success")
        valid = self._valid_pair_for(pair, mapped, check.priority)
        pair.valid_pair = valid
        for other in self._pairs:  # RFC 8445 7.2.5.3.3: unfreeze the same foundation
            if other.foundation == pair.foundation:
                other.move("unfreeze")
        if self._first_valid_at is None:
            self._first_valid_at = now
        if check.use_candidate or (not self.controlling and pair.nominate_on_success):
            self._nominate(valid, now, effects)
        else:
            self._maybe_nominate(now, effects)
        return effects

    def _valid_pair_for(self, pair: CandidatePair, mapped: Address, priority: int) -> CandidatePair:
        """RFC 8445 7.2.5.3.1: the pair whose local candidate is the mapped address."""
        local = next(
            (
                c
                for c in self._local
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
            self._local.append(local)
        if local.base != pair.local.base:
            local = pair.local  # the mapped address is another socket's: keep our own
        for valid in self._valid:
            if valid.local == local and valid.remote.address == pair.remote.address:
                return valid
        valid = CandidatePair(
            local,
            pair.remote,
            self._priority_of(local.candidate, pair.remote),
            PairState.SUCCEEDED,
        )
        self._valid.append(valid)
        return valid
