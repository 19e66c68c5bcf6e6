"""ICE for one stream on its RTP/RTCP sockets: gathering, checks, the selected pair.

The glue between the sans-IO cores of `ice/` (agent, STUN binding, TURN) and
the engine's sockets, itself without sockets or clock: the engine gives it
every STUN/ChannelData datagram of the stream's sockets (RFC 7983, the first
byte) with the time, calls `poll(now)` each tick (checks are paced by the
media clock), and routes the stream's outgoing media through `send_media`.
It sends with `send(index, data, destination)` (0: the RTP socket, 1: the
RTCP one) and publishes the bus events (`media.ice_*`).

- `gather`: host candidates of the sockets, server-reflexive ones from STUN
  servers, relayed ones from a TURN server (one allocation per socket, long-
  term credentials); `media.ice_gathered` when every server answered or
  failed, or after `GATHER_TIMEOUT`. `relay_only` gathers relayed candidates
  only (the relay forced, as WebRTC's "relay" policy).
- `start`: the peer's credentials and candidates; the checks run; the pair
  selected for each component is where media goes (`send_media`) and the
  only source the stream takes RTP from (`on_selected` pins the latch).
- `plain`: the peer has no ICE; media goes to its SDP address from our
  default candidate (through the TURN relay when that is a relayed one).
- `restart`: new credentials, the candidates kept (RFC 8445 9); the old pair
  carries the audio until the new checks select one.

State names and event data follow the original SDK's RTPTransport (NULL,
GATHERING, GATHERING_COMPLETE, NEGOTIATING, RUNNING, FAILED).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sipsimple.core.sdp.errors import SDPParseError
from sipsimple.core.sdp.ice import parse_candidate
from sipsimple_services.media.ice.agent import IceAgent
from sipsimple_services.media.ice.binding import BindingClient, BindingFailed, MappedAddress
from sipsimple_services.media.ice.candidate import Candidate, CandidateType, new_credentials
from sipsimple_services.media.ice.checklist import CandidatePair
from sipsimple_services.media.ice.demux import Kind, classify
from sipsimple_services.media.ice.events import (
    ConsentLost,
    IceCompleted,
    IceFailed,
    IceState,
    IceStateChanged,
    PairSelected,
)
from sipsimple_services.media.ice.transaction import Transmit
from sipsimple_services.media.ice.turn import (
    Allocated,
    AllocationFailed,
    DataReceived,
    TurnClient,
)

__all__ = ["GATHER_TIMEOUT", "IceLink", "TurnServer"]

log = logging.getLogger("sipsimple.media")

Address = tuple[str, int]
Send = Callable[[int, bytes, Address], None]
Publish = Callable[[str, dict[str, Any]], None]
Selected = Callable[[Address, "Address | None", float], None]

GATHER_TIMEOUT = 3.0  # servers that did not answer by then are left out of the offer
MAX_STUN_SERVERS = 2
# how the original SDK's RTPTransport names the candidate types
_TYPE_NAMES = {
    CandidateType.HOST: "HOST",
    CandidateType.SRFLX: "SRFLX",
    CandidateType.PRFLX: "PRFLX",
    CandidateType.RELAY: "RELAY",
}
# counted by the agent with the drops, but they are the peer's candidates, not datagrams
_NOT_DATAGRAMS = frozenset({"unusable-candidate", "pair-limit", "bad-candidate"})
_DEFAULT_ORDER = (CandidateType.RELAY, CandidateType.SRFLX, CandidateType.HOST)


@dataclass(frozen=True)
class TurnServer:
    host: str  # an IP address: the facade resolved it
    port: int
    username: str
    password: str

    @property
    def address(self) -> Address:
        return (self.host, self.port)


def _address(value: Any) -> Address:
    return (str(value[0]), int(value[1]))


def candidate_data(candidate: Candidate) -> dict[str, Any]:
    """A candidate as the original SDK's ICECandidate describes it."""
    return {
        "component": "RTP" if candidate.component == 1 else "RTCP",
        "type": _TYPE_NAMES[candidate.type],
        "address": candidate.host,
        "port": candidate.port,
        "priority": candidate.priority,
        "rel_addr": candidate.related_host or "",
    }


def pair_data(pair: CandidatePair) -> dict[str, Any]:
    """A pair as the original SDK's ICECheck describes it."""
    return {
        "local_candidate": candidate_data(pair.local.candidate),
        "remote_candidate": candidate_data(pair.remote),
        "state": str(pair.state.value).upper(),
        "nominated": bool(pair.nominated),
    }


class IceLink:
    def __init__(
        self,
        stream_id: str,
        bases: Sequence[Address],
        send: Send,
        publish: Publish,
        on_selected: Selected,
        *,
        rng: random.Random | None = None,
        gather_timeout: float = GATHER_TIMEOUT,
    ) -> None:
        self.stream_id = stream_id
        self.bases = [_address(b) for b in bases]
        self._send = send
        self._publish = publish
        self._on_selected = on_selected
        self._rng = rng or random.SystemRandom()
        self.gather_timeout = gather_timeout
        self.state = "NULL"
        self.mode: str | None = None  # "ice" once checks run, "plain" for a peer without ICE
        self.dropped: Counter[str] = Counter()
        self.agent: IceAgent | None = None
        self.relay_only = False
        self.selected: dict[int, PairSelected] = {}
        self.consent_lost = False
        self.failure: str | None = None
        self._bindings: list[tuple[int, BindingClient]] = []
        self._turns: dict[int, TurnClient] = {}
        self._gather_deadline: float | None = None
        self._failures: list[str] = []
        self._started_at: float | None = None
        self._default: dict[int, Candidate] = {}

    # --- what the stream's statistics show --------------------------------------

    def _counts(self) -> Counter[str]:
        counts: Counter[str] = Counter(self.dropped)
        if self.agent is not None:
            counts.update(self.agent.dropped)
        for turn in self._turns.values():
            counts.update({f"turn-{reason}": n for reason, n in turn.dropped.items()})
        return counts

    def dropped_counts(self) -> dict[str, int]:
        """The datagrams dropped, by reason (candidates ignored are not datagrams)."""
        return {k: n for k, n in self._counts().items() if k not in _NOT_DATAGRAMS}

    def describe(self) -> dict[str, Any]:
        selected = self.selected.get(1)
        return {
            "state": self.state,
            "mode": self.mode,
            "local_candidate_type": _TYPE_NAMES[selected.local.type] if selected else None,
            "remote_candidate_type": _TYPE_NAMES[selected.remote.type] if selected else None,
            "local_address": list(selected.base) if selected else None,
            "remote_address": list(selected.remote.address) if selected else None,
            "candidates_ignored": sum(n for k, n in self._counts().items() if k in _NOT_DATAGRAMS),
        }

    def _set_state(self, state: str) -> None:
        if state != self.state:
            previous, self.state = self.state, state
            self._publish(
                "media.ice_state",
                {**self._tag(), "prev_state": previous, "state": state},
            )

    def _tag(self) -> dict[str, Any]:
        """What the checks' events carry: the stream, and the local ufrag that tells this
        link's (and this restart's) events from those of one it replaced."""
        return {"stream_id": self.stream_id,
                "ufrag": self.agent.local_ufrag if self.agent is not None else None}

    # --- gathering ----------------------------------------------------------------

    def gather(
        self,
        now: float,
        stun_servers: Sequence[Address] = (),
        turn: TurnServer | None = None,
        relay_only: bool = False,
    ) -> None:
        if self.agent is not None:
            raise ValueError("the candidates were gathered already")
        if relay_only and turn is None:
            raise ValueError("relay_only needs a TURN server")
        ufrag, pwd = new_credentials(self._rng)
        self.agent = IceAgent(
            controlling=True,
            ufrag=ufrag,
            pwd=pwd,
            tie_breaker=self._rng.getrandbits(64),
            components=len(self.bases),
            rng=self._rng,
        )
        self.relay_only = relay_only
        self._set_state("GATHERING")
        if not relay_only:
            for index, base in enumerate(self.bases):
                self.agent.add_host(index + 1, base)
            for server in list(stun_servers)[:MAX_STUN_SERVERS]:
                for index, base in enumerate(self.bases):
                    if (":" in base[0]) != (":" in server[0]):
                        continue  # a server of the other family cannot see this socket
                    client = BindingClient(_address(server))
                    self._bindings.append((index, client))
                    self._send(index, client.start(now).data, client.server)
        if turn is not None:
            for index, base in enumerate(self.bases):
                if (":" in base[0]) != (":" in turn.host):
                    continue
                allocation = TurnClient(turn.address, turn.username, turn.password)
                self._turns[index] = allocation
                self._turn_effects(index, allocation.start(now), now)
        self._gather_deadline = now + self.gather_timeout
        self._maybe_gathered(now)

    def _gathering(self) -> bool:
        return self.state == "GATHERING"

    def _maybe_gathered(self, now: float) -> None:
        if not self._gathering():
            return
        pending = any(client.result is None for _, client in self._bindings) or any(
            turn.relayed is None and turn.state.value in ("new", "allocating")
            for turn in self._turns.values()
        )
        if pending and self._gather_deadline is not None and now < self._gather_deadline:
            return
        if pending:
            self._failures.append(f"no answer within {self.gather_timeout:g} s")
        self._gather_deadline = None
        assert self.agent is not None
        candidates = self.agent.local_candidates()
        for component in range(1, len(self.bases) + 1):
            own = [c for c in candidates if c.component == component]
            for kind in _DEFAULT_ORDER:
                chosen = next((c for c in own if c.type is kind), None)
                if chosen is not None:
                    self._default[component] = chosen
                    break
        if 1 not in self._default:
            # nothing to offer (the relay forced and the TURN server failed): fail the
            # gathering; the facade goes on without ICE
            self._set_state("FAILED")
            self.failure = "no candidates: " + ("; ".join(self._failures) or "none gathered")
            self._publish(
                "media.ice_gathered",
                {"stream_id": self.stream_id, "error": self.failure},
            )
            return
        self._set_state("GATHERING_COMPLETE")
        self._publish(
            "media.ice_gathered", {"stream_id": self.stream_id, **self.local_description()}
        )

    def local_description(self) -> dict[str, Any]:
        """What goes into our SDP: credentials, candidates and the default candidate."""
        assert self.agent is not None
        rtp = self._default.get(1)
        rtcp = self._default.get(2)
        return {
            "ufrag": self.agent.local_ufrag,
            "pwd": self.agent.local_pwd,
            "candidates": [c.to_sdp() for c in self.agent.local_candidates()],
            "default": None
            if rtp is None
            else {
                "address": rtp.host,
                "port": rtp.port,
                "rtcp_address": rtcp.host if rtcp else rtp.host,
                "rtcp_port": rtcp.port if rtcp else rtp.port,
                "type": str(rtp.type.value),
            },
            "failures": list(self._failures),
        }

    # --- checks ---------------------------------------------------------------------

    def start(
        self,
        now: float,
        *,
        controlling: bool,
        ufrag: str,
        pwd: str,
        candidates: Sequence[str],
        rtcp_mux: bool,
    ) -> None:
        agent = self.agent
        if agent is None or self._gathering():
            raise ValueError("ICE starts after the candidates were gathered")
        remote = []
        for text in candidates:
            try:
                remote.append(parse_candidate(text))
            except SDPParseError:
                self.dropped["bad-candidate"] += 1  # RFC 8839 5.1: ignored, not fatal
        if agent.remote_ufrag is not None and not agent.is_restart(ufrag, pwd):
            # the same session again (a re-INVITE without restart): new candidates only
            for candidate in remote:
                agent.add_remote_candidate(candidate)
            self._permit(remote, now)
            return
        if agent.remote_ufrag is not None:
            raise ValueError("new remote credentials: restart first")
        if rtcp_mux and agent.components == 2:
            agent.use_rtcp_mux()
            self._default.pop(2, None)
        if agent.controlling != controlling:
            agent.controlling = controlling
        self.mode = "ice"
        self.failure = None
        self.consent_lost = False
        self._started_at = now
        agent.set_remote(ufrag, pwd, remote)
        self._permit(remote, now)
        self._agent_effects(agent.start(now), now)

    def _permit(self, remote: Sequence[Candidate], now: float) -> None:
        """A TURN server relays only from peers we permitted: every remote candidate's host."""
        for turn in self._turns.values():
            if turn.relayed is None:
                continue
            for candidate in remote:
                if (":" in candidate.host) == (":" in turn.relayed[0]):
                    self._turn_effects_for(turn, turn.create_permission(candidate.host, now), now)

    def plain(self, now: float) -> None:
        """The peer did not offer or answer ICE: plain RTP from the default candidate."""
        self.mode = "plain"
        self.selected = {}
        for index, turn in list(self._turns.items()):
            default = self._default.get(index + 1)
            if default is None or default.type is not CandidateType.RELAY:
                self._turn_effects(index, turn.close(now), now)
                del self._turns[index]

    def restart(self, now: float) -> dict[str, Any]:
        """New local credentials (RFC 8445 9); returns the new local description."""
        agent = self.agent
        if agent is None or self._gathering():
            raise ValueError("no candidates gathered yet")
        ufrag, pwd = new_credentials(self._rng)
        self._agent_effects(agent.restart(ufrag, pwd), now)
        return self.local_description()

    def close(self, now: float) -> None:
        for index, turn in self._turns.items():
            self._turn_effects(index, turn.close(now), now)
        self._turns = {}
        self._bindings = []
        self.mode = None

    # --- timers and datagrams ---------------------------------------------------------

    def poll(self, now: float) -> None:
        """The media clock's tick: whatever of the cores is due."""
        for index, client in self._bindings:
            deadline = client.next_deadline()
            if deadline is not None and now >= deadline:
                for effect in client.handle_timeout(now):
                    if isinstance(effect, Transmit):
                        self._send(index, effect.data, effect.destination)
                    else:
                        self._binding_result(index, effect, now)
        for index, turn in list(self._turns.items()):
            deadline = turn.next_deadline()
            if deadline is not None and now >= deadline:
                self._turn_effects(index, turn.handle_timeout(now), now)
        agent = self.agent
        if agent is not None and self.mode == "ice":
            deadline = agent.next_deadline()
            if deadline is not None and now >= deadline:
                self._agent_effects(agent.handle_timeout(now), now)
        if self._gathering():
            self._maybe_gathered(now)

    def handle_datagram(
        self, index: int, data: bytes, source: Any, now: float
    ) -> list[tuple[bytes, Address]]:
        """A STUN or ChannelData datagram of socket `index`; returns the media it carried
        (RTP/RTCP relayed by the TURN server) for the stream, with the peer's address."""
        source = _address(source)
        kind = classify(data)
        if kind is Kind.STUN:
            # a STUN server's answer (the TURN server may be one too, on the same port)
            for client_index, client in self._bindings:
                if client_index == index and client.result is None and source == client.server:
                    for event in client.handle_datagram(data, source):
                        self._binding_result(index, event, now)
                    if client.result is not None:
                        return []
        turn = self._turns.get(index)
        if turn is not None and source == turn.server:
            return self._turn_effects(index, turn.handle_datagram(data, source, now), now)
        if kind is not Kind.STUN:
            self.dropped["channel-data-not-from-server"] += 1
            return []
        agent = self.agent
        if agent is None or self.mode == "plain":
            self.dropped["no-ice"] += 1
            return []
        # before `start` too: the peer's checks may come before its answer does (the
        # agent answers them and acts on them once it has the peer's description)
        self._agent_effects(agent.handle_stun(data, source, self.bases[index], now), now)
        return []

    def send_media(self, data: bytes, on_rtcp: bool, destination: Any, now: float) -> bool:
        """Send RTP/RTCP the ICE way; False: the caller sends it as usual (no ICE, or
        ICE failed: plain RTP to the SDP address)."""
        if self.mode == "plain":
            default = self._default.get(2 if on_rtcp and 2 in self._default else 1)
            turn = self._turns.get((default.component - 1) if default else 0)
            if default is None or default.type is not CandidateType.RELAY or turn is None:
                return False
            self._turn_effects_for(turn, turn.send(_address(destination), data, now), now)
            return True
        if self.mode != "ice":
            return False
        if self.consent_lost:
            return True  # RFC 7675 5.1: no media without consent
        component = 2 if on_rtcp and 2 in self.selected else 1
        selected = self.selected.get(component)
        if selected is None:
            # checks still running: nothing goes out before a pair is chosen (RFC
            # 8445 12.1); after a failure, plain RTP to the SDP address
            return self.failure is None
        self._transmit(Transmit(data, selected.remote.address, selected.base), now)
        return True

    # --- effects ------------------------------------------------------------------------

    def _transmit(self, transmit: Transmit, now: float) -> None:
        source = transmit.source
        if source is not None:
            source = _address(source)
            for index, turn in self._turns.items():
                if turn.relayed is not None and source == tuple(turn.relayed):
                    self._turn_effects(
                        index, turn.send(transmit.destination, transmit.data, now), now
                    )
                    return
            if source in self.bases:
                self._send(self.bases.index(source), transmit.data, transmit.destination)
                return
            self.dropped["unknown-base"] += 1
            return
        self._send(0, transmit.data, transmit.destination)

    def _agent_effects(self, effects: Sequence[Any], now: float) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                self._transmit(effect, now)
            elif isinstance(effect, IceStateChanged):
                state = {
                    IceState.CHECKING: "NEGOTIATING",
                    IceState.COMPLETED: "RUNNING",
                    IceState.FAILED: "FAILED",
                }.get(effect.new)
                if state is not None:
                    self._set_state(state)
            elif isinstance(effect, PairSelected):
                self._selected(effect, now)
            elif isinstance(effect, IceCompleted):
                self._completed(now)
            elif isinstance(effect, IceFailed):
                self.failure = effect.reason
                self.selected = {}
                self._publish("media.ice_failed", {**self._tag(), "reason": effect.reason})
            elif isinstance(effect, ConsentLost):
                self.consent_lost = True
                log.info("stream %s: consent lost for %s", self.stream_id, effect.remote)

    def _selected(self, selected: PairSelected, now: float) -> None:
        self.selected[selected.component] = selected
        for turn in self._turns.values():
            if turn.relayed is not None and tuple(selected.base) == tuple(turn.relayed):
                # ChannelData costs 4 bytes a packet instead of a Send indication's 36
                self._turn_effects_for(turn, turn.bind_channel(selected.remote.address, now), now)
        rtp = self.selected.get(1)
        if rtp is not None:
            rtcp = self.selected.get(2)
            self._on_selected(rtp.remote.address, rtcp.remote.address if rtcp else None, now)

    def _completed(self, now: float) -> None:
        agent = self.agent
        assert agent is not None
        chosen = [self.selected[c] for c in sorted(self.selected)]
        duration = now - self._started_at if self._started_at is not None else 0.0
        valid_pairs = [
            p
            for p in agent.valid_pairs
            if any(p.local.candidate == s.local and p.remote == s.remote for s in chosen)
        ]
        self._publish(
            "media.ice_succeeded",
            {
                **self._tag(),
                "duration": round(duration, 6),
                "local_candidates": [candidate_data(c) for c in agent.local_candidates()],
                "remote_candidates": _unique([candidate_data(p.remote) for p in agent.pairs]),
                "valid_pairs": [pair_data(p) for p in valid_pairs],
                "valid_list": [pair_data(p) for p in agent.valid_pairs],
                "chosen": [
                    {
                        "component": "RTP" if s.component == 1 else "RTCP",
                        "local": candidate_data(s.local),
                        "remote": candidate_data(s.remote),
                    }
                    for s in chosen
                ],
            },
        )

    def _binding_result(self, index: int, event: Any, now: float) -> None:
        agent = self.agent
        if isinstance(event, MappedAddress) and agent is not None:
            if self._gathering():
                agent.add_server_reflexive(index + 1, self.bases[index], event.mapped, event.server)
        elif isinstance(event, BindingFailed):
            self._failures.append(f"STUN {event.server[0]}:{event.server[1]}: {event.reason}")
        self._maybe_gathered(now)

    def _turn_effects_for(self, turn: TurnClient, effects: Sequence[Any], now: float) -> None:
        for index, known in self._turns.items():
            if known is turn:
                self._turn_effects(index, effects, now)
                return

    def _turn_effects(
        self, index: int, effects: Sequence[Any], now: float
    ) -> list[tuple[bytes, Address]]:
        media: list[tuple[bytes, Address]] = []
        turn = self._turns.get(index)
        for effect in effects:
            if isinstance(effect, Transmit):
                self._send(index, effect.data, effect.destination)
            elif isinstance(effect, Allocated):
                agent = self.agent
                if agent is not None and self._gathering():
                    assert turn is not None
                    agent.add_relayed(index + 1, effect.relayed, effect.mapped, turn.server)
                    if not self.relay_only:
                        agent.add_server_reflexive(
                            index + 1, self.bases[index], effect.mapped, turn.server
                        )
                self._maybe_gathered(now)
            elif isinstance(effect, AllocationFailed):
                self._failures.append(f"TURN: {effect.reason}")
                self._maybe_gathered(now)
            elif isinstance(effect, DataReceived):
                peer = _address(effect.peer)
                if classify(effect.data) is Kind.STUN:
                    agent = self.agent
                    if (
                        agent is None
                        or self.mode == "plain"
                        or turn is None
                        or (turn.relayed is None)
                    ):
                        self.dropped["no-ice"] += 1
                        continue
                    relayed = _address(turn.relayed)
                    self._agent_effects(agent.handle_stun(effect.data, peer, relayed, now), now)
                else:
                    media.append((effect.data, peer))
        return media


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
