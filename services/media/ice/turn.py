"""A TURN client allocation over UDP (RFC 8656), sans-IO.

One allocation on one server, from one local socket. The caller sends every
`Transmit` to the server (all of them go there), feeds each datagram from
the server to `handle_datagram` (STUN or ChannelData: RFC 7983 tells them
apart), and calls `handle_timeout(now)` at `next_deadline()`.

- `start` sends Allocate without credentials; the 401's REALM and NONCE
  give the long-term key (MD5 of username:realm:password) for the retry and
  every later request; a 438 (stale nonce) is retried with the new nonce.
- The allocation is refreshed a minute before its LIFETIME ends (halfway
  for short lifetimes); permissions (5 min) and channels (10 min) likewise.
- `send(peer, data)` makes sure of a permission and uses the peer's channel
  when it has one (ChannelData, 4 bytes of overhead), a Send indication
  otherwise. Data from the server comes out as `DataReceived(peer, data)`.

Responses are checked: the transaction id must be ours and, once the key
is known, MESSAGE-INTEGRITY must match; anything else is dropped and counted
in `dropped`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .channeldata import CHANNEL_MAX, CHANNEL_MIN, ChannelData
from .demux import Kind, classify
from .stun import (
    Attr,
    Class,
    Message,
    Method,
    StunError,
    check_integrity,
    encode,
    long_term_key,
    new_transaction_id,
    parse,
)
from .transaction import RC, RM, RTO, ClientTransaction, Transactions, Transmit

__all__ = [
    "Allocated",
    "AllocationFailed",
    "ChannelBound",
    "DataReceived",
    "PermissionCreated",
    "TurnClient",
    "TurnState",
]

Address = tuple[str, int]

UDP = 17
DEFAULT_LIFETIME = 600
PERMISSION_LIFETIME = 300.0
CHANNEL_LIFETIME = 600.0
REFRESH_MARGIN = 60.0  # refresh this long before something expires


class TurnState(StrEnum):
    NEW = "new"
    ALLOCATING = "allocating"
    ALLOCATED = "allocated"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class Allocated:
    relayed: Address
    mapped: Address  # our address as the server sees it: a server-reflexive candidate
    lifetime: int


@dataclass(frozen=True)
class AllocationFailed:
    reason: str


@dataclass(frozen=True)
class PermissionCreated:
    peer_host: str


@dataclass(frozen=True)
class ChannelBound:
    peer: Address
    channel: int


@dataclass(frozen=True)
class DataReceived:
    peer: Address
    data: bytes


TurnEvent = Allocated | AllocationFailed | PermissionCreated | ChannelBound | DataReceived
Effect = Transmit | TurnEvent


@dataclass
class _Request:
    method: Method
    attributes: tuple[tuple[int, Any], ...]
    retried: bool = False  # already retried after a 401/438


def _refresh_at(now: float, lifetime: float) -> float:
    return now + (lifetime - REFRESH_MARGIN if lifetime > 2 * REFRESH_MARGIN else lifetime / 2)


class TurnClient:
    def __init__(
        self,
        server: Address,
        username: str,
        password: str,
        *,
        lifetime: int = DEFAULT_LIFETIME,
        software: str | None = None,
        rto: float = RTO,
        rc: int = RC,
        rm: int = RM,
    ) -> None:
        self.server = server
        self.username = username
        self.password = password
        self.lifetime = lifetime
        self.software = software
        self.rto, self.rc, self.rm = rto, rc, rm
        self.state = TurnState.NEW
        self.realm: str | None = None
        self.nonce: str | None = None
        self.key: bytes | None = None
        self.relayed: Address | None = None
        self.mapped: Address | None = None
        self.dropped: Counter[str] = Counter()
        self._requests: dict[bytes, _Request] = {}
        self._transactions = Transactions()
        self._refresh_at: float | None = None
        self._permissions: dict[str, float | None] = {}  # peer host -> refresh time
        self._permitted: set[str] = set()  # hosts the server confirmed
        self._channels: dict[Address, int] = {}  # peer -> channel (requested or bound)
        self._bound: dict[int, Address] = {}  # channel -> peer, once the server said yes
        self._channel_refresh: dict[Address, float | None] = {}
        self._next_channel = CHANNEL_MIN

    # --- requests ---------------------------------------------------------

    def _send(self, request: _Request, now: float) -> Transmit:
        transaction_id = new_transaction_id()
        attributes = request.attributes
        if self.software and request.method == Method.ALLOCATE:
            attributes = (*attributes, (Attr.SOFTWARE, self.software))
        if self.key is not None:
            attributes = (
                *attributes,
                (Attr.USERNAME, self.username),
                (Attr.REALM, self.realm),
                (Attr.NONCE, self.nonce),
            )
        message = Message(request.method, Class.REQUEST, transaction_id, attributes)
        data = encode(message, self.key, fingerprint=True)
        self._requests[transaction_id] = request
        return self._transactions.add(
            ClientTransaction(
                transaction_id, Transmit(data, self.server), now, self.rto, self.rc, self.rm
            )
        )

    def start(self, now: float) -> list[Effect]:
        if self.state is not TurnState.NEW:
            raise ValueError(f"start in state {self.state}")
        self.state = TurnState.ALLOCATING
        request = _Request(
            Method.ALLOCATE,
            ((Attr.REQUESTED_TRANSPORT, UDP), (Attr.LIFETIME, self.lifetime)),
        )
        return [self._send(request, now)]

    def close(self, now: float) -> list[Effect]:
        """Release the allocation (Refresh with LIFETIME 0); nothing more is sent after."""
        effects: list[Effect] = []
        if self.state is TurnState.ALLOCATED:
            effects.append(self._send(_Request(Method.REFRESH, ((Attr.LIFETIME, 0),)), now))
        self.state = TurnState.CLOSED
        self._refresh_at = None
        self._permissions = {}
        self._channel_refresh = {}
        return effects

    def create_permission(self, peer_host: str, now: float) -> list[Effect]:
        if self.state is not TurnState.ALLOCATED:
            raise ValueError("no allocation yet")
        if peer_host in self._permissions:
            return []
        self._permissions[peer_host] = None  # requested
        return [self._permission_request(peer_host, now)]

    def _permission_request(self, peer_host: str, now: float) -> Transmit:
        request = _Request(Method.CREATE_PERMISSION, ((Attr.XOR_PEER_ADDRESS, (peer_host, 0)),))
        return self._send(request, now)

    def bind_channel(self, peer: Address, now: float) -> list[Effect]:
        if self.state is not TurnState.ALLOCATED:
            raise ValueError("no allocation yet")
        if peer in self._channels:
            return []
        if self._next_channel > CHANNEL_MAX:
            raise ValueError("no channel numbers left")
        self._channels[peer] = self._next_channel
        self._next_channel += 1
        self._channel_refresh[peer] = None
        return [self._channel_request(peer, now)]

    def _channel_request(self, peer: Address, now: float) -> Transmit:
        request = _Request(
            Method.CHANNEL_BIND,
            ((Attr.CHANNEL_NUMBER, self._channels[peer]), (Attr.XOR_PEER_ADDRESS, peer)),
        )
        return self._send(request, now)

    def send(self, peer: Address, data: bytes, now: float) -> list[Effect]:
        """Relay `data` to `peer`: ChannelData on a bound channel, else a Send indication."""
        if self.state is not TurnState.ALLOCATED:
            return []
        effects = self.create_permission(peer[0], now)
        channel = self._channels.get(peer)
        if channel is not None and channel in self._bound:
            effects.append(Transmit(ChannelData(channel, data).encode(pad=True), self.server))
            return effects
        indication = Message(
            Method.SEND,
            Class.INDICATION,
            new_transaction_id(),
            ((Attr.XOR_PEER_ADDRESS, peer), (Attr.DATA, data)),
        )
        effects.append(Transmit(encode(indication, fingerprint=True), self.server))
        return effects

    # --- timers -----------------------------------------------------------

    def next_deadline(self) -> float | None:
        deadlines = [self._transactions.next_deadline(), self._refresh_at]
        deadlines += self._permissions.values()
        deadlines += self._channel_refresh.values()
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timeout(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        transmits, expired = self._transactions.handle_timeout(now)
        effects += transmits
        for transaction in expired:
            request = self._requests.pop(transaction.transaction_id, None)
            if request is not None:
                effects += self._request_failed(request, "timeout")
        if self.state is not TurnState.ALLOCATED:
            return effects
        if self._refresh_at is not None and now >= self._refresh_at:
            self._refresh_at = None
            request = _Request(Method.REFRESH, ((Attr.LIFETIME, self.lifetime),))
            effects.append(self._send(request, now))
        for host, at in list(self._permissions.items()):
            if at is not None and now >= at:
                self._permissions[host] = None
                effects.append(self._permission_request(host, now))
        for peer, at in list(self._channel_refresh.items()):
            if at is not None and now >= at:
                self._channel_refresh[peer] = None
                effects.append(self._channel_request(peer, now))
        return effects

    # --- incoming ---------------------------------------------------------

    def handle_datagram(self, data: bytes, source: Address, now: float) -> list[Effect]:
        if (source[0], source[1]) != tuple(self.server):
            self.dropped["not-from-server"] += 1
            return []
        if classify(data) is Kind.CHANNEL_DATA:
            return self._channel_data(data)
        try:
            message = parse(data)
        except StunError:
            self.dropped["malformed"] += 1
            return []
        if message.cls is Class.INDICATION:
            return self._indication(message)
        request = self._requests.get(message.transaction_id)
        if request is None:
            self.dropped["unmatched-response"] += 1
            return []
        authenticated = self.key is not None and check_integrity(message, self.key)
        if self.key is not None and not authenticated and message.error_code not in (401, 438):
            self.dropped["integrity"] += 1
            return []
        self._requests.pop(message.transaction_id)
        self._transactions.pop(message.transaction_id)
        if message.cls is Class.ERROR:
            return self._error(request, message, now)
        return self._success(request, message, now)

    def _channel_data(self, data: bytes) -> list[Effect]:
        try:
            frame = ChannelData.parse(data)
        except StunError:
            self.dropped["malformed"] += 1
            return []
        peer = self._bound.get(frame.channel)
        if peer is None:
            self.dropped["unknown-channel"] += 1
            return []
        return [DataReceived(peer, frame.data)]

    def _indication(self, message: Message) -> list[Effect]:
        peer, data = message.get(Attr.XOR_PEER_ADDRESS), message.get(Attr.DATA)
        if message.method != Method.DATA or peer is None or data is None:
            self.dropped["bad-indication"] += 1
            return []
        if peer[0] not in self._permissions:
            self.dropped["no-permission"] += 1
            return []
        return [DataReceived(peer, data)]

    def _error(self, request: _Request, message: Message, now: float) -> list[Effect]:
        code = message.error_code
        realm, nonce = message.get(Attr.REALM), message.get(Attr.NONCE)
        if code == 401 and not request.retried and self.key is None and realm and nonce:
            self.realm, self.nonce = realm, nonce
            self.key = long_term_key(self.username, realm, self.password)
            request.retried = True
            return [self._send(request, now)]
        if code == 438 and not request.retried and nonce:
            self.nonce = nonce
            if realm:
                self.realm = realm
            request.retried = True
            return [self._send(request, now)]
        reason = message.get(Attr.ERROR_CODE, (0, "no ERROR-CODE"))
        return self._request_failed(request, f"{reason[0]} {reason[1]}".strip())

    def _request_failed(self, request: _Request, reason: str) -> list[Effect]:
        if request.method == Method.ALLOCATE or (
            request.method == Method.REFRESH and self.state is TurnState.ALLOCATED
        ):
            self.state = TurnState.FAILED
            self._refresh_at = None
            self._permissions, self._channel_refresh = {}, {}
            return [AllocationFailed(reason)]
        if request.method == Method.CREATE_PERMISSION:
            host = request.attributes[0][1][0]
            self._permissions.pop(host, None)  # asked again at the next send
        elif request.method == Method.CHANNEL_BIND:
            peer = request.attributes[1][1]
            self._channel_refresh.pop(peer, None)
        return []

    def _success(self, request: _Request, message: Message, now: float) -> list[Effect]:
        if request.method == Method.ALLOCATE:
            relayed = message.get(Attr.XOR_RELAYED_ADDRESS)
            mapped = message.get(Attr.XOR_MAPPED_ADDRESS)
            if relayed is None or mapped is None:  # RFC 8656 7.3: both are mandatory
                return self._request_failed(request, "no XOR-RELAYED/MAPPED-ADDRESS")
            lifetime = int(message.get(Attr.LIFETIME, self.lifetime))
            self.relayed, self.mapped = relayed, mapped
            self.state = TurnState.ALLOCATED
            self._refresh_at = _refresh_at(now, lifetime)
            return [Allocated(relayed, mapped, lifetime)]
        if request.method == Method.REFRESH:
            if self.state is TurnState.ALLOCATED:
                lifetime = int(message.get(Attr.LIFETIME, self.lifetime))
                self._refresh_at = _refresh_at(now, lifetime)
            return []
        if request.method == Method.CREATE_PERMISSION:
            host = request.attributes[0][1][0]
            if host not in self._permissions:
                return []  # closed meanwhile
            self._permissions[host] = _refresh_at(now, PERMISSION_LIFETIME)
            first = host not in self._permitted
            self._permitted.add(host)
            return [PermissionCreated(host)] if first else []
        if request.method == Method.CHANNEL_BIND:
            peer = request.attributes[1][1]
            channel = request.attributes[0][1]
            if peer not in self._channel_refresh:
                return []
            first = channel not in self._bound
            self._bound[channel] = peer
            self._channel_refresh[peer] = _refresh_at(now, CHANNEL_LIFETIME)
            # a channel binding installs a permission for the peer's host too
            self._permissions.setdefault(peer[0], _refresh_at(now, PERMISSION_LIFETIME))
            self._permitted.add(peer[0])
            return [ChannelBound(peer, channel)] if first else []
        return []
