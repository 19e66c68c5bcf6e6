"""What INVITE sessions tell the facade, and what they ask of the dialog layer.

Session events (`SessionEvent` subclasses) are frozen values the
`DialogLayer` returns among its effects, next to the transaction layer's
`Send`/`StartTimer`/`CancelTimer`. Each names its session by the handle the
layer gave it (``session``). The glue publishes them on the bus; bodies are
the application's bytes, never looked into.

`SendRequest` and `SendResponse` are requests of a session to the layer (run
through the `TransactionLayer`); they never leave the layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

from sipsimple.core import URI
from sipsimple.core.headers import Header, ReasonHeader
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse
from sipsimple_services.signalling.sip.transactions.effects import TUEvent
from sipsimple_services.signalling.sip.transactions.keys import ServerKey

__all__ = [
    "AnswerReceived",
    "InDialogRequest",
    "InDialogResponse",
    "IncomingInvite",
    "OfferReceived",
    "OfferRequested",
    "Originator",
    "ProvisionalResponse",
    "ReinviteCancelled",
    "ReinviteRejected",
    "ReinviteRetryScheduled",
    "SendRequest",
    "SendResponse",
    "SessionEnded",
    "SessionEstablished",
    "SessionEvent",
    "SessionFailed",
    "SessionStateChanged",
    "TransactionCompleted",
]

Originator: TypeAlias = Literal["local", "remote"]


@dataclass(frozen=True)
class SendRequest:
    """Start a client transaction (an ACK: just send) for the session."""

    session: str
    request: SIPRequest
    destination: Destination


@dataclass(frozen=True)
class SendResponse:
    """Answer on the server transaction ``key``."""

    session: str
    key: ServerKey
    response: SIPResponse


@dataclass(frozen=True)
class SessionEvent(TUEvent):
    session: str


@dataclass(frozen=True)
class IncomingInvite(SessionEvent):
    """A new INVITE (session state ``incoming``): the facade accepts or rejects it.

    ``replaces`` is the INVITE's Replaces header, when it has one, and
    ``replaced_session`` the session it names (see `DialogLayer.find_replaced`;
    an INVITE whose Replaces may not replace anything was answered already).
    """

    request: SIPRequest
    source: Destination
    offer: bytes
    replaces: Header | None
    replaced_session: str | None = None


@dataclass(frozen=True)
class SessionStateChanged(SessionEvent):
    old: str
    new: str


@dataclass(frozen=True)
class ProvisionalResponse(SessionEvent):
    """A 1xx other than 100 to our INVITE (a 180 is the ring indication)."""

    code: int
    reason: str
    headers: tuple[Header, ...]
    body: bytes


@dataclass(frozen=True)
class SessionEstablished(SessionEvent):
    """The INVITE was answered 2xx (UAC) or ACKed (UAS).

    ``local_body``/``remote_body`` are the last bodies each side sent in the
    INVITE exchange (offer and answer, in either order).
    """

    local_body: bytes
    remote_body: bytes
    remote_contact: URI
    remote_user_agent: str | None
    headers: tuple[Header, ...]
    # of the remote Contact header (RFC 4579 ``isfocus``...)
    remote_contact_params: Mapping[str, str | None]
    # the dialog's tags, which a Replaces header (RFC 3891) naming it needs
    local_tag: str = ""
    remote_tag: str = ""


@dataclass(frozen=True)
class OfferReceived(SessionEvent):
    """An offer to answer: in a re-INVITE (answer with `accept_reinvite` /
    `reject_reinvite`) or in the 2xx to a body-less INVITE (answer with `answer`)."""

    body: bytes
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class OfferRequested(SessionEvent):
    """A body-less re-INVITE: `accept_reinvite` carries our offer, the ACK the answer."""

    headers: tuple[Header, ...]


@dataclass(frozen=True)
class AnswerReceived(SessionEvent):
    """The answer to our offer (2xx of our (re-)INVITE, or the ACK of our 2xx)."""

    body: bytes


@dataclass(frozen=True)
class ReinviteRejected(SessionEvent):
    """Our re-INVITE failed; the session continues with the previous bodies.

    ``cancel_reinvite`` ends in this event with 487 (the peer's answer, or made
    here when the glare retry was dropped or no final answer came 64*T1 after
    the CANCEL), unless a final response was first: then that one is reported.
    """

    code: int
    reason: str
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class ReinviteCancelled(SessionEvent):
    """The peer CANCELled its re-INVITE before we answered it (we sent 487)."""


@dataclass(frozen=True)
class ReinviteRetryScheduled(SessionEvent):
    """Our re-INVITE met 491 (glare); it is sent again after ``delay`` seconds (14.1)."""

    delay: float


@dataclass(frozen=True)
class SessionEnded(SessionEvent):
    """An established session ended (BYE either way, or missing ACK)."""

    originator: Originator
    code: int
    reason: str
    reason_header: ReasonHeader | None


@dataclass(frozen=True)
class SessionFailed(SessionEvent):
    """The session ended before it was established: rejected, cancelled, timed out.

    ``headers`` are the final response's (a 3xx's Contact, a Warning...).
    """

    originator: Originator
    code: int
    reason: str
    headers: tuple[Header, ...]


@dataclass(frozen=True)
class TransactionCompleted(SessionEvent):
    """Every transaction of the session, once final (SIPSessionDidProcessTransaction).

    ``ack_received`` is True/False for a 2xx we sent to an INVITE (reported
    when the ACK came or stopped being awaited), None otherwise.
    """

    originator: Originator
    method: str
    code: int
    reason: str
    ack_received: bool | None


@dataclass(frozen=True)
class InDialogRequest(SessionEvent):
    """INFO, MESSAGE, NOTIFY, REFER, OPTIONS in the dialog: answer with `respond`."""

    method: str
    headers: tuple[Header, ...]
    body: bytes
    server_key: ServerKey


@dataclass(frozen=True)
class InDialogResponse(SessionEvent):
    """The final response to a request we sent with `request` (``request_id``)."""

    request_id: int
    method: str
    code: int
    reason: str
    headers: tuple[Header, ...]
    body: bytes
