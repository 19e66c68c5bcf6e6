"""What an `InviteSession` needs from its surroundings, and message helpers.

`SessionContext` carries everything a session may not do itself (sans-IO):
branches, the local Via for a destination, resolving a URI to a
destination, randomness and the timer values. The `DialogLayer` builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sipsimple.core import SIPURI, URI, TelURI
from sipsimple.core.headers import (
    AuthorizationHeader,
    CSeqHeader,
    Header,
    ProxyAuthorizationHeader,
    ViaHeader,
)
from sipsimple_services.signalling.sip.invite.glare import RandomBelow, urandom_below
from sipsimple_services.signalling.sip.message.addresses import DEFAULT_PORTS, Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest
from sipsimple_services.signalling.sip.transactions.timers import TimerConfig

__all__ = [
    "Pending",
    "Purpose",
    "SessionContext",
    "build_cancel",
    "default_resolve",
    "reissue",
    "session_timer_key",
]


def default_resolve(uri: URI) -> Destination:
    """A URI's host, port and transport as they stand (names left to the transport).

    A tel: URI has no host; it cannot be a next hop, which is a `ValueError`.
    """
    if not isinstance(uri, SIPURI):
        kind = "tel" if isinstance(uri, TelURI) else "non-SIP"
        raise ValueError(f"a {kind} URI is no next hop")
    transport = (uri.transport or ("tls" if uri.secure else "udp")).upper()
    host = uri.maddr or uri.host
    return Destination(host.strip("[]"), uri.port or DEFAULT_PORTS.get(transport, 5060), transport)


@dataclass(frozen=True)
class SessionContext:
    new_branch: Callable[[], str]
    local_via: Callable[[Destination], ViaHeader]
    resolve: Callable[[URI], Destination] = default_resolve
    random_below: RandomBelow = urandom_below
    timers: TimerConfig = field(default_factory=TimerConfig)
    user_agent: str | None = None


def session_timer_key(session: str) -> tuple[str, str]:
    """The key of a session's timers in StartTimer/CancelTimer (no branch starts so)."""
    return ("session", session)


class Purpose(StrEnum):
    INVITE = "invite"  # the initial INVITE
    REINVITE = "reinvite"
    BYE = "bye"
    CANCEL = "cancel"
    FORK_BYE = "fork_bye"  # ends a dialog a late fork created
    REQUEST = "request"  # INFO, MESSAGE... from `request()`


@dataclass
class Pending:
    """A client transaction of the session."""

    purpose: Purpose
    request: SIPRequest
    destination: Destination
    request_id: int = 0
    final_seen: bool = False


_AUTH_TYPES = (AuthorizationHeader, ProxyAuthorizationHeader)


def reissue(
    request: SIPRequest,
    via: ViaHeader,
    branch: str,
    cseq: int | None = None,
    credentials: Iterable[Header] | None = None,
) -> SIPRequest:
    """`request` with a new top Via and branch, optionally a new CSeq number and credentials."""
    headers: list[Header] = []
    via_done = False
    for header in request.headers:
        if isinstance(header, ViaHeader):
            if not via_done:
                headers.append(via.with_parameters(branch=branch))
                via_done = True
            continue
        if isinstance(header, CSeqHeader) and cseq is not None:
            header = CSeqHeader(cseq, header.method)
        if isinstance(header, _AUTH_TYPES) and credentials is not None:
            continue
        headers.append(header)
    if not via_done:
        headers.insert(0, via.with_parameters(branch=branch))
    if credentials is not None:
        headers.extend(credentials)
    return replace(request, headers=tuple(headers))


def credentials_of(request: SIPRequest) -> tuple[Header, ...]:
    return tuple(h for h in request.headers if isinstance(h, _AUTH_TYPES))


def build_cancel(invite: SIPRequest) -> SIPRequest:
    """CANCEL for `invite` (9.1): its Request-URI, top Via, Route, From, To, Call-ID, CSeq."""
    cseq = invite.cseq
    via = invite.top_via
    if cseq is None or via is None:
        raise ValueError("the INVITE lacks CSeq or Via")
    headers: list[Header] = [via, *invite.headers_named("Max-Forwards"), *invite.route]
    for name in ("From", "To", "Call-ID"):
        headers.extend(invite.headers_named(name))
    headers.append(CSeqHeader(cseq.number, "CANCEL"))
    return SIPRequest("CANCEL", invite.uri, tuple(headers))
