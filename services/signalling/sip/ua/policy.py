"""What the UA core does with a new request, as a pure function (`decide`).

Outcomes:

- `Answer`: the service answers at once (OPTIONS capabilities, 480 for an
  INVITE nobody owns, 405/501/481/416/420 errors).
- `Deliver`: publish the request for the client owning the target account;
  ``code`` is the answer sent at once, None when the client answers it itself
  (MESSAGE always: a 200 says an application took the message, RFC 3428
  section 7, so only the client that posted it may send one; OPTIONS when
  the client asked for them).
- `ToDialogLayer`: dialogs, sessions and subscriptions are the dialog layer's;
  ``fallback`` is the answer while there is no dialog layer or it declines.

Rules, in order: a Request-URI that is not sip/sips gets 416; a Require
naming an extension not in `SUPPORTED` gets 420 with Unsupported (RFC 3261
8.2.2.3); a request with a To tag belongs to a dialog (481 without one);
then by method, see `decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipsimple.core import SIPURI
from sipsimple.core.headers import (
    AllowHeader,
    GenericHeader,
    Header,
    RequireHeader,
    SupportedHeader,
    UnsupportedHeader,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.ua.accounts import AccountRegistry, Claim

__all__ = [
    "ACCEPT",
    "ALLOWED",
    "SUPPORTED",
    "Answer",
    "Decision",
    "Deliver",
    "ToDialogLayer",
    "capability_headers",
    "decide",
]

# What the user agent as a whole handles (the dialog layer's methods included).
ALLOWED = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "MESSAGE", "SUBSCRIBE", "NOTIFY",
           "REFER", "INFO")
SUPPORTED = ("replaces",)
ACCEPT = ("application/sdp", "text/plain", "message/cpim", "message/sipfrag",
          "application/im-iscomposing+xml")
# Methods that exist only inside a dialog: without a To tag there is none to find.
_DIALOG_ONLY = frozenset({"BYE", "INFO", "PRACK", "UPDATE", "NOTIFY"})
# Methods that start dialogs or subscriptions (the dialog layer's business).
_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER"})
# Known methods we do not serve (we are no registrar or presence server).
_NOT_ALLOWED = frozenset({"REGISTER", "PUBLISH"})


@dataclass(frozen=True)
class Answer:
    code: int
    headers: tuple[Header, ...] = ()


@dataclass(frozen=True)
class Deliver:
    claim: Claim
    code: int | None


@dataclass(frozen=True)
class ToDialogLayer:
    claim: Claim | None
    fallback: Answer


Decision = Answer | Deliver | ToDialogLayer


def capability_headers() -> tuple[Header, ...]:
    """Allow, Accept and Supported: what an OPTIONS 200 (and a 405) tells."""
    return (
        AllowHeader(ALLOWED),
        GenericHeader("Accept", ", ".join(ACCEPT)),
        SupportedHeader(SUPPORTED),
    )


def _unsupported(request: SIPRequest) -> tuple[str, ...]:
    wanted: list[str] = []
    for header in request.headers:
        if isinstance(header, RequireHeader):
            wanted += [tag for tag in header.values if tag.lower() not in SUPPORTED]
    return tuple(wanted)


def decide(request: SIPRequest, accounts: AccountRegistry) -> Decision:
    """What to do with a new request (not ACK or CANCEL: the transaction layer has those)."""
    method = request.method
    if not isinstance(request.uri, SIPURI):
        return Answer(416)
    unsupported = _unsupported(request)
    if unsupported:
        return Answer(420, (UnsupportedHeader(unsupported),))
    to = request.to
    claim = accounts.match(request)
    if to is not None and to.tag is not None:
        return ToDialogLayer(claim, Answer(481))
    if method == "OPTIONS":
        if claim is not None and claim.options:
            return Deliver(claim, None)
        return Answer(200, capability_headers())
    if method == "MESSAGE":
        if claim is not None:
            return Deliver(claim, None)
        # No client holds the account (now): temporarily unavailable, as for
        # an INVITE; the user may come back with another client.
        return Answer(480)
    if method in _DIALOG_CREATING:
        # An INVITE nobody owns gets 480 (no user agent to ring).
        return ToDialogLayer(claim, Answer(480)) if claim is not None else Answer(480)
    if method in _DIALOG_ONLY:
        return Answer(481)
    if method in _NOT_ALLOWED:
        return Answer(405, (AllowHeader(ALLOWED),))
    return Answer(501, (AllowHeader(ALLOWED),))
