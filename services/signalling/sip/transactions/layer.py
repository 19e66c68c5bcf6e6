"""The transaction layer (RFC 3261 section 17): owns, matches and ends transactions.

Sans-IO: every method takes ``now`` and returns a list of effects
(`sipsimple_services.signalling.sip.transactions.effects`) for the caller to carry out.

How the layers plug in:

- The transport below calls `receive(message, source, now)` for every parsed
  message, and `transport_error(key, now)` / `destination_failed(destination,
  now)` when it cannot deliver; it carries out every `Send`.
- A timer service carries out `StartTimer`/`CancelTimer` and calls
  `timer_fired(key, name, now)` when one expires.
- The transaction user above (dialogs, UA core) calls `send_request` and
  `send_response`, and consumes the `TUEvent`s.

Decisions:

- `send_request` requires a top Via whose branch starts with the magic
  cookie ``z9hG4bK`` (RFC 3261 8.1.1.7); `with_branch` adds a fresh one. The
  TU owns the branch because it needs it anyway (a CANCEL reuses it) and the
  request it sent is then exactly the one it holds. The client key is
  ``client_key_for_request(request)``. An ACK (for a 2xx: a transaction of its
  own, 17) is sent as is, with no transaction.
- Every new INVITE is answered 100 Trying at once by its server transaction.
- A CANCEL matching an INVITE server transaction goes up as `CancelReceived`
  (the TU answers both); a CANCEL matching nothing gets 481 here.
- ACKs matching no transaction and responses matching no transaction go up as
  `StrayAck` / `StrayResponse` (2xx retransmissions and forks for the dialog).
- At ``max_server_transactions`` live server transactions, a new request gets
  a stateless 503 with Retry-After (an INVITE flood cannot exhaust memory);
  ``max_client_transactions`` bounds our own requests (`TransactionLimitReached`).
- Terminated transactions are removed in the call that terminates them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import cast

from sipsimple.core import SIPParseError
from sipsimple.core.headers import MAGIC_COOKIE, GenericHeader
from sipsimple_services.signalling.sip.message.addresses import Destination, response_destination
from sipsimple_services.signalling.sip.message.values import (
    SIPMessage,
    SIPRequest,
    SIPResponse,
    make_response,
)
from sipsimple_services.signalling.sip.transactions import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    State,
    Transaction,
    TransactionError,
)
from sipsimple_services.signalling.sip.transactions.effects import (
    CancelReceived,
    Effect,
    MessageDropped,
    RequestReceived,
    Send,
    StrayAck,
    StrayResponse,
    TransactionKey,
    TransactionTerminated,
)
from sipsimple_services.signalling.sip.transactions.keys import (
    ClientKey,
    ServerKey,
    cancel_target_key,
    client_key,
    client_key_for_request,
    server_key,
)
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig

__all__ = [
    "LayerLimits",
    "TransactionLayer",
    "TransactionLimitReached",
    "UnknownTransaction",
]


class UnknownTransaction(TransactionError, KeyError):
    """`send_response` for a server transaction that does not exist (any more)."""


class TransactionLimitReached(TransactionError):
    """`send_request` while ``max_client_transactions`` client transactions live."""


@dataclass(frozen=True)
class LayerLimits:
    # A finished transaction lives 64*T1 = 32 s on UDP (Timers H, J, L; M, D on
    # the client side) and a call makes two (INVITE, BYE): 1,000 calls/s keep
    # 64,000 live, so 80,000 sustains 1,250 calls/s. bench/transaction_memory.py
    # measured ~3,700 bytes per answered server transaction (1.36x the ~2,700 of
    # its request and response alone, SIPp-sized INVITE with SDP and BYE), and the
    # engine's gevent timer adds ~1,600: ~5.3 KB, so ~430 MB at the limit. Bigger
    # messages cost more (a UDP datagram can be 64 KiB); lower the limit with
    # SIPSIMPLE_SIP_MAX_TRANSACTIONS where memory is tight.
    max_server_transactions: int = 80_000
    max_client_transactions: int = 80_000
    retry_after: int = 10  # seconds, in the 503 to requests beyond the limit

    def __post_init__(self) -> None:
        for name in ("max_server_transactions", "max_client_transactions", "retry_after"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, not {value!r}")


class TransactionLayer:
    def __init__(
        self,
        timers: TimerConfig | None = None,
        limits: LayerLimits | None = None,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        response_route: Callable[[SIPRequest, Destination], Destination] = response_destination,
        send_trying: bool = True,
    ) -> None:
        """``random_bytes`` feeds branches and tags (inject a seeded source in tests);
        ``response_route`` picks where responses of a server transaction go."""
        self.timers = timers if timers is not None else TimerConfig()
        self.limits = limits if limits is not None else LayerLimits()
        self._random_bytes = random_bytes
        self._response_route = response_route
        self._send_trying = send_trying
        self._clients: dict[ClientKey, ClientTransaction] = {}
        self._servers: dict[ServerKey, ServerTransaction] = {}

    # -- introspection -------------------------------------------------

    @property
    def client_transactions(self) -> Mapping[ClientKey, ClientTransaction]:
        return MappingProxyType(self._clients)

    @property
    def server_transactions(self) -> Mapping[ServerKey, ServerTransaction]:
        return MappingProxyType(self._servers)

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    def __iter__(self) -> Iterator[Transaction]:
        yield from self._clients.values()
        yield from self._servers.values()

    # -- identifiers ---------------------------------------------------

    def _token(self) -> str:
        return self._random_bytes(12).hex()

    def new_branch(self) -> str:
        return MAGIC_COOKIE + self._token()

    def new_tag(self) -> str:
        return self._token()[:16]

    def with_branch(self, request: SIPRequest) -> SIPRequest:
        """`request` with a fresh RFC 3261 branch on its top Via, unless it has one."""
        via = request.top_via
        if via is None:
            raise TransactionError("a request needs a Via")
        if via.is_rfc3261 and via.branch != MAGIC_COOKIE:
            return request
        index = request.headers.index(via)
        headers = list(request.headers)
        headers[index] = via.with_parameters(branch=self.new_branch())
        return replace(request, headers=tuple(headers))

    # -- the transaction user's side ------------------------------------

    def send_request(
        self, request: SIPRequest, destination: Destination, now: float
    ) -> list[Effect]:
        """Start a client transaction for `request` (an ACK is just sent)."""
        if request.method == "ACK":
            return [Send(request, destination)]
        via = request.top_via
        if via is None or not via.is_rfc3261 or via.branch == MAGIC_COOKIE:
            raise TransactionError("the top Via needs an RFC 3261 branch (see with_branch)")
        key = client_key_for_request(request)
        if key in self._clients:
            raise TransactionError(f"a client transaction {key!r} exists already")
        if len(self._clients) >= self.limits.max_client_transactions:
            raise TransactionLimitReached("too many client transactions")
        kind = (
            ClientInviteTransaction if request.method == "INVITE" else ClientNonInviteTransaction
        )
        transaction = kind(key, request, destination, self.timers)
        self._clients[key] = transaction
        return self._cleanup(transaction.start(now))

    def send_response(self, key: ServerKey, response: SIPResponse, now: float) -> list[Effect]:
        """Send the TU's response on the server transaction ``key``."""
        transaction = self._servers.get(key)
        if transaction is None:
            raise UnknownTransaction(key)
        return self._cleanup(transaction.send_response(response, now))

    # -- the transport's and the timers' side --------------------------

    def receive(self, message: SIPMessage, source: Destination, now: float) -> list[Effect]:
        """A message from the transport (``source``: where it came from)."""
        try:
            if isinstance(message, SIPResponse):
                return self._receive_response(message, source, now)
            if message.method == "ACK":
                return self._receive_ack(message, source, now)
            return self._receive_request(message, source, now)
        except SIPParseError as exc:
            # no Via branch/CSeq to match or answer with: nothing can be done
            return [MessageDropped(message, source, str(exc))]

    def timer_fired(self, key: TransactionKey, name: str, now: float) -> list[Effect]:
        """A timer expired; timers of transactions already gone are ignored."""
        transaction = self._find(key)
        if transaction is None:
            return []
        return self._cleanup(transaction.timer_fired(name, now))

    def transport_error(self, key: TransactionKey, now: float) -> list[Effect]:
        """The transport failed to deliver a message of transaction ``key``."""
        transaction = self._find(key)
        if transaction is None:
            return []
        return self._cleanup(transaction.transport_error(now))

    def destination_failed(self, destination: Destination, now: float) -> list[Effect]:
        """Every transaction sending to `destination` fails (a connection was lost)."""
        effects: list[Effect] = []
        for transaction in [t for t in self if t.destination == destination]:
            effects += self._cleanup(transaction.transport_error(now))
        return effects

    # -- matching --------------------------------------------------------

    def _find(self, key: TransactionKey) -> Transaction | None:
        # client keys are (branch, method) pairs, server keys start with "3261"/"2543"
        found: Transaction | None = self._clients.get(cast(ClientKey, key))
        return found if found is not None else self._servers.get(key)

    def _receive_response(
        self, response: SIPResponse, source: Destination, now: float
    ) -> list[Effect]:
        transaction = self._clients.get(client_key(response))
        if transaction is None:
            return [StrayResponse(response, source)]
        return self._cleanup(transaction.receive(response, now))

    def _receive_ack(self, ack: SIPRequest, source: Destination, now: float) -> list[Effect]:
        key = server_key(ack)
        transaction = self._servers.get(key)
        if not isinstance(transaction, ServerInviteTransaction) or not _ack_matches(
            key, ack, transaction
        ):
            return [StrayAck(ack, source)]
        return self._cleanup(transaction.receive(ack, now))

    def _receive_request(
        self, request: SIPRequest, source: Destination, now: float
    ) -> list[Effect]:
        key = server_key(request)
        transaction = self._servers.get(key)
        if transaction is not None:
            return self._cleanup(transaction.receive(request, now))
        target: ServerTransaction | None = None
        if request.method == "CANCEL":
            target = self._servers.get(cancel_target_key(request))
            if not isinstance(target, ServerInviteTransaction):
                target = None
        overloaded = len(self._servers) >= self.limits.max_server_transactions
        destination = self._response_route(request, source)
        if overloaded and target is None:
            # stateless: a transaction per refused request would defeat the limit
            if request.method == "CANCEL":
                response = make_response(request, 481, to_tag=self.new_tag())
            else:
                response = make_response(
                    request, 503, to_tag=self.new_tag(),
                    headers=(GenericHeader("Retry-After", str(self.limits.retry_after)),),
                )
            return [Send(response, destination)]
        created: ServerTransaction
        if request.method == "INVITE":
            created = ServerInviteTransaction(
                key, request, destination, self.timers, send_trying=self._send_trying
            )
        else:
            created = ServerNonInviteTransaction(key, request, destination, self.timers)
        self._servers[key] = created
        effects = created.start(now)
        if request.method != "CANCEL":
            effects.append(RequestReceived(key, request, source))
        elif target is not None:
            effects.append(CancelReceived(key, request, target.key, source))
        else:
            answer = make_response(request, 481, to_tag=self.new_tag())
            effects += created.send_response(answer, now)
        return self._cleanup(effects)

    def _cleanup(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, TransactionTerminated):
                self._clients.pop(cast(ClientKey, effect.key), None)
                self._servers.pop(effect.key, None)
        return effects


def _ack_matches(key: ServerKey, ack: SIPRequest, transaction: ServerInviteTransaction) -> bool:
    """17.2.3: an RFC 2543 ACK also needs the To tag of the response we sent."""
    if key[0] == "3261":
        return True
    final = transaction.final_response
    if final is None or transaction.state is State.PROCEEDING:
        return False
    ours = final.to.tag if final.to is not None else None
    theirs = ack.to.tag if ack.to is not None else None
    return ours == theirs


