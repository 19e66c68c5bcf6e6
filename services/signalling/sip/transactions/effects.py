"""What the transaction layer asks of the world: effects, as frozen values.

Every input to a transaction or to the `TransactionLayer` returns a list of
these, in the order they must be carried out:

- `Send`: hand a message to the transport layer.
- `StartTimer` / `CancelTimer`: arm or disarm the timer ``name`` of the
  transaction ``key``; when an armed timer expires, call
  ``timer_fired(key, name, now)``. A timer is never started while it runs
  (a restart is a `CancelTimer` followed by a `StartTimer`), and every started
  timer is eventually cancelled or fired.
- `TUEvent` subclasses: news for the transaction user (the dialog and UA core).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPMessage, SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.keys import ClientKey, ServerKey

__all__ = [
    "AckReceived",
    "CancelReceived",
    "CancelTimer",
    "Effect",
    "MessageDropped",
    "RequestReceived",
    "ResponseReceived",
    "Send",
    "StartTimer",
    "StrayAck",
    "StrayResponse",
    "TUEvent",
    "TransactionKey",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
]

TransactionKey: TypeAlias = ClientKey | ServerKey


@dataclass(frozen=True)
class Send:
    message: SIPMessage
    destination: Destination


@dataclass(frozen=True)
class StartTimer:
    key: TransactionKey
    name: str
    delay: float


@dataclass(frozen=True)
class CancelTimer:
    key: TransactionKey
    name: str


@dataclass(frozen=True)
class TUEvent:
    """Base of everything passed up to the transaction user."""


@dataclass(frozen=True)
class ResponseReceived(TUEvent):
    """A response of a client transaction: every 1xx, the final response, and
    every 2xx to an INVITE (retransmissions and other forks included, RFC 6026)."""

    key: ClientKey
    response: SIPResponse


@dataclass(frozen=True)
class RequestReceived(TUEvent):
    """A new request: its server transaction ``key`` is where the answer goes."""

    key: ServerKey
    request: SIPRequest
    source: Destination


@dataclass(frozen=True)
class CancelReceived(TUEvent):
    """A CANCEL for the INVITE server transaction ``invite_key``.

    The TU answers the CANCEL (``key``, normally 200) and, if the INVITE has
    no final response yet, the INVITE with 487 (RFC 3261 9.2).
    """

    key: ServerKey
    request: SIPRequest
    invite_key: ServerKey
    source: Destination


@dataclass(frozen=True)
class AckReceived(TUEvent):
    """An ACK matched to an INVITE server transaction in the Accepted state
    (an ACK for a 2xx that reused the INVITE's transaction identifiers)."""

    key: ServerKey
    request: SIPRequest


@dataclass(frozen=True)
class StrayAck(TUEvent):
    """An ACK matching no transaction: normally the ACK for a 2xx (the dialog's)."""

    request: SIPRequest
    source: Destination


@dataclass(frozen=True)
class StrayResponse(TUEvent):
    """A response matching no client transaction: normally a 2xx retransmission
    or a late fork after Timer M, which the dialog layer must ACK."""

    response: SIPResponse
    source: Destination


@dataclass(frozen=True)
class TransactionTimedOut(TUEvent):
    """Timer B, C, F (client: no final response) or H (server: no ACK) fired;
    ``response`` is a locally made 408 for the TU to treat as the outcome."""

    key: TransactionKey
    response: SIPResponse


@dataclass(frozen=True)
class TransportFailed(TUEvent):
    """The transport could not deliver a message of the transaction;
    ``response`` is a locally made 503."""

    key: TransactionKey
    response: SIPResponse


@dataclass(frozen=True)
class TransactionTerminated(TUEvent):
    """The transaction ended; ``final`` is its final response (sent or received), if any."""

    key: TransactionKey
    method: str
    final: SIPResponse | None


@dataclass(frozen=True)
class MessageDropped(TUEvent):
    """A message the layer could not match to anything (e.g. no Via branch and
    no CSeq), dropped without an answer; for tracing."""

    message: SIPMessage
    source: Destination
    reason: str


Effect: TypeAlias = Send | StartTimer | CancelTimer | TUEvent
