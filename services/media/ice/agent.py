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
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .candidate import Candidate, CandidateType, candidate_priority, foundation
from .checklist import CandidatePair, CheckList, LocalCandidate, PairState
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
        self.local_ufrag = ufrag
        self.local_pwd = pwd
        self.tie_breaker = tie_breaker
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
        self._list = CheckList(controlling=controlling, components=components, dropped=self.dropped)
        self._checks: dict[bytes, _Check] = {}
        self._transactions = Transactions()
        self._next_check = 0.0
        self._first_valid_at: float | None = None
        self._give_up_at: float | None = None  # `check_timeout` after `start`
        self._nominating: set[int] = set()  # components whose nomination check is out
        self._selected: dict[int, _Selected] = {}
        self._completed = False
        self._bucket = _Bucket(REQUEST_BURST, 0.0)
        self._early: list[_Early] = []

    @property
    def controlling(self) -> bool:
        return self._list.controlling

    @controlling.setter
    def controlling(self, controlling: bool) -> None:
        self._list.controlling = controlling

    @property
    def components(self) -> int:
        return self._list.components

    # --- candidates -------------------------------------------------------

    def _check_component(self, component: int) -> None:
        if not 1 <= component <= self.components:
            raise ValueError(f"component {component} of {self.components}")

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
        return self._list.add_local(candidate, address, pair=self.remote_pwd is not None)

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
        return self._list.add_local(candidate, base, pair=self.remote_pwd is not None)

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
        return self._list.add_local(candidate, relayed, pair=self.remote_pwd is not None)

    def use_rtcp_mux(self) -> None:
        """RTCP rides on the RTP component (RFC 5761): component 2 and its pairs go."""
        if self.components == 1:
            return
        if self.state is not IceState.NEW:
            raise ValueError("rtcp-mux is decided before the checks start")
        self._list.use_rtcp_mux()

    def local_candidates(self) -> list[Candidate]:
        local = self._list.local
        return [c.candidate for c in local if c.candidate.type is not CandidateType.PRFLX]

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
        self._list.add_remote(candidate)

    @property
    def pairs(self) -> list[CandidatePair]:
        return list(self._list.pairs)

    @property
    def valid_pairs(self) -> list[CandidatePair]:
        return list(self._list.valid)

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
            if check.local in self._list.local:  # not dropped by a restart or rtcp-mux meanwhile
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
        self._list.reset(keep_local_candidates=keep_local_candidates)
        self._early = []
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
            if self._list.next_pair(peek=True) is not None:
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
                and component not in self._list.nominated_components()
                and self._list.best_valid(component) is not None
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
                pair = self._list.next_pair()
                if pair is not None:
                    effects.append(self._send_check(pair, now, use_candidate=False))
                    self._next_check = now + self.ta
            self._maybe_nominate(now, effects)
            self._maybe_fail(effects)
        return effects

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

    def _maybe_nominate(self, now: float, effects: list[Effect]) -> None:
        """Regular nomination (RFC 8445 8.1.1): the chosen valid pair checked with USE-CANDIDATE."""
        if not self.controlling or self._completed or self._first_valid_at is None:
            return
        waited = now >= self._first_valid_at + self.nomination_wait
        for component in range(1, self.components + 1):
            if component in self._nominating or component in self._list.nominated_components():
                continue
            best = self._list.best_valid(component)
            if best is None:
                continue
            if not waited and self._list.pending(component, above=best.priority):
                continue
            self._nominating.add(component)
            effects.append(self._send_check(best, now, use_candidate=True))

    def _nominate(self, pair: CandidatePair, now: float, effects: list[Effect]) -> None:
        pair.nominated = True
        self._nominating.discard(pair.component)
        if self._completed:
            return
        chosen = self._list.nominated()
        if chosen is None:
            return
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
        if self._completed or not self._list.pairs:
            return
        if self._list.pending() or any(
            not c.consent and not c.cancelled for c in self._checks.values()
        ):
            return
        missing = self._list.missing_components()
        # with a valid pair for each component, the controlled agent waits for a nomination
        if missing:
            self._fail(f"no working pair for component {missing[0]}", effects)

    def _nomination_failed(self, valid: CandidatePair) -> None:
        """The nominating check of a valid pair went unanswered (or was refused): the pair
        no longer works; another valid pair is nominated, or the component fails. Checking
        it again and again would keep ICE from ever ending."""
        self._list.drop_valid(valid)

    def _give_up(self, effects: list[Effect]) -> None:
        missing = self._list.missing_components()
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
        self._list.triggered.clear()

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
        local = self._list.local_for_base(base)
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
        remote = self._list.remote_for(source, component)
        if remote is None:
            remote = self._list.add_peer_reflexive_remote(source, component, priority)
        pair = self._list.pair(local, remote)
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
            self._list.trigger(pair)

    def _switch_role(self) -> None:
        self._list.switch_role()
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
                self._list.triggered.append(pair)
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
        valid = self._list.valid_pair_for(pair, mapped, check.priority)
        pair.valid_pair = valid
        self._list.unfreeze_foundation(pair.foundation)
        if self._first_valid_at is None:
            self._first_valid_at = now
        if check.use_candidate or (not self.controlling and pair.nominate_on_success):
            self._nominate(valid, now, effects)
        else:
            self._maybe_nominate(now, effects)
        return effects
