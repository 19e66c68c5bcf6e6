"""Transaction matching keys (RFC 3261 sections 17.1.3 and 17.2.3), as pure functions.

A server transaction is found by `server_key(request)`: for an RFC 3261
branch (magic cookie followed by an identifier) the branch, the top Via's
sent-by and the method, with ACK mapped to INVITE (an ACK for a non-2xx
belongs to the INVITE transaction); CANCEL is its own transaction, and
`cancel_target_key(cancel)` finds the INVITE it cancels. Without the cookie
(RFC 2543 peers, or a bare cookie as in RFC 4475 3.2.1) the key falls back to
Request-URI, From tag, Call-ID, CSeq number and method, and the top Via. The
To tag is left out of that key, since the ACK of a non-2xx carries the tag
the server added; the transaction layer compares it with its response.

A client transaction is found by `client_key(response)`: the top Via branch
and the CSeq method; `client_key_for_request` gives the same key for the
request that created the transaction.
"""

from __future__ import annotations

from typing import TypeAlias

from sipsimple.core import SIPParseError
from sipsimple.core.headers import MAGIC_COOKIE
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse

__all__ = [
    "ClientKey",
    "ServerKey",
    "cancel_target_key",
    "client_key",
    "client_key_for_request",
    "server_key",
]

ServerKey: TypeAlias = tuple[str | int | None, ...]
ClientKey: TypeAlias = tuple[str, str]


def _has_cookie(branch: str | None) -> bool:
    return branch is not None and len(branch) > len(MAGIC_COOKIE) and branch.startswith(
        MAGIC_COOKIE
    )


def _server_key(request: SIPRequest, method: str) -> ServerKey:
    via = request.top_via
    cseq = request.cseq
    if via is None or cseq is None:
        raise SIPParseError("a request needs Via and CSeq to be matched")
    branch = via.branch
    if _has_cookie(branch):
        host, port = via.sent_by
        return ("3261", branch, host, port, method)
    from_ = request.from_
    return (
        "2543",
        str(request.uri),
        from_.tag if from_ is not None else None,
        request.call_id,
        cseq.number,
        method,
        str(via),
    )


def server_key(request: SIPRequest) -> ServerKey:
    """The server transaction an incoming request belongs to (ACK maps to INVITE)."""
    return _server_key(request, "INVITE" if request.method == "ACK" else request.method)


def cancel_target_key(cancel: SIPRequest) -> ServerKey:
    """The key of the INVITE server transaction a CANCEL refers to (RFC 3261 9.2)."""
    if cancel.method != "CANCEL":
        raise ValueError("not a CANCEL")
    return _server_key(cancel, "INVITE")


def client_key(response: SIPResponse) -> ClientKey:
    """The client transaction a response belongs to (top Via branch, CSeq method)."""
    via = response.top_via
    cseq = response.cseq
    if via is None or via.branch is None or cseq is None:
        raise SIPParseError("a response needs a Via branch and CSeq to be matched")
    return (via.branch, cseq.method)


def client_key_for_request(request: SIPRequest) -> ClientKey:
    """The key under which the client transaction sending `request` is stored."""
    via = request.top_via
    if via is None or via.branch is None:
        raise SIPParseError("a request needs a Via branch")
    return (via.branch, request.method)
