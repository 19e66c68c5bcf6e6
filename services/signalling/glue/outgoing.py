"""Requests outside dialogs that we send (OPTIONS, MESSAGE), with digest retry.

`build_request` makes a request per RFC 3261 8.1.1; `send_out_of_dialog`
sends it through the engine and waits (in the calling greenlet) for the
final response, answering 401/407 challenges with an `AuthSession` (same
Call-ID and From tag, CSeq + 1, a new branch). `headers_from_pairs` and
`header_pairs` convert headers to and from the bus's [name, value] pairs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence, Set

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core.grammar import split_commas
from sipsimple.core.headers import (
    CallIDHeader,
    ContentTypeHeader,
    CSeqHeader,
    FromHeader,
    GenericHeader,
    Header,
    MaxForwardsHeader,
    ToHeader,
    UserAgentHeader,
    ViaHeader,
    canonical_name,
    header_type,
)
from sipsimple_services.signalling.glue.engine import Outcome, SignallingEngine
from sipsimple_services.signalling.sip.auth import AuthRetry, AuthSession, Credentials
from sipsimple_services.signalling.sip.message.addresses import Destination
from sipsimple_services.signalling.sip.message.values import SIPRequest, make_response

__all__ = [
    "RESERVED_HEADERS",
    "build_request",
    "header_pairs",
    "headers_from_pairs",
    "send_out_of_dialog",
]

# Headers the service writes itself; a client may not supply them.
RESERVED_HEADERS = frozenset(
    {"via", "call-id", "cseq", "from", "to", "content-length", "content-type", "max-forwards"}
)
MAX_AUTH_ATTEMPTS = 4


def header_pairs(headers: Iterable[Header]) -> list[list[str]]:
    return [[header.name, str(header)] for header in headers]


def headers_from_pairs(pairs: Sequence[object]) -> list[Header]:
    """Typed headers from [name, value] pairs (SIPParseError/ValueError when malformed)."""
    headers: list[Header] = []
    for pair in pairs:
        if not isinstance(pair, list | tuple) or len(pair) != 2 or not all(
            isinstance(item, str) for item in pair
        ):
            raise ValueError(f"a header must be a [name, value] pair of strings, not {pair!r}")
        name, value = pair
        kind = header_type(name)
        if kind is None:
            headers.append(GenericHeader(canonical_name(name), value))
        elif kind.kind == "list":
            headers += [kind.parse(element) for element in split_commas(value)]
        else:
            headers.append(kind.parse(value))
    return headers


def build_request(
    engine: SignallingEngine,
    method: str,
    uri: SIPURI,
    destination: Destination,
    *,
    from_header: FromHeader,
    to_header: ToHeader,
    call_id: str,
    cseq: int,
    user_agent: str,
    headers: Sequence[Header] = (),
    content_type: str | None = None,
    body: bytes = b"",
) -> SIPRequest:
    host, port = engine.via_address(destination)
    via = ViaHeader(destination.transport, host, port, {"rport": None})
    fixed: list[Header] = [
        via, MaxForwardsHeader(70), from_header, to_header, CallIDHeader(call_id),
        CSeqHeader(cseq, method), UserAgentHeader(user_agent),
    ]
    if content_type is not None:
        fixed.append(ContentTypeHeader.parse(content_type))
    return SIPRequest(method, uri, (*fixed, *headers), body)


def send_out_of_dialog(
    engine: SignallingEngine,
    method: str,
    uri: SIPURI,
    destination: Destination,
    *,
    from_uri: SIPURI,
    to_uri: SIPURI,
    user_agent: str,
    headers: Sequence[Header] = (),
    content_type: str | None = None,
    body: bytes = b"",
    credentials: Credentials | None = None,
    realms: Set[str] | None = None,
    server_name: str | None = None,
    timeout: float = 40.0,
    from_display: str | None = None,
    to_display: str | None = None,
) -> Outcome:
    """Send a request, retrying on challenges; blocks this greenlet until the outcome.

    ``realms``: those credentials without a realm answer (None: any);
    ``from_display``/``to_display``: the display names of From and To.
    """
    for header in headers:
        if header.name.lower() in RESERVED_HEADERS:
            raise SIPParseError(f"the {header.name} header is set by the service")
    auth = AuthSession(credentials, realms=realms) if credentials is not None else None
    from_header = FromHeader(from_uri, from_display, parameters={"tag": engine.new_tag()})
    to_header = ToHeader(to_uri, to_display)
    call_id = os.urandom(12).hex()
    cseq = 1
    while True:
        extra = auth.authorize(method, uri, body) if auth is not None else ()
        request = build_request(
            engine, method, uri, destination, from_header=from_header, to_header=to_header,
            call_id=call_id, cseq=cseq, user_agent=user_agent, headers=(*headers, *extra),
            content_type=content_type, body=body,
        )
        result = engine.request(request, destination, server_name=server_name)
        outcome: Outcome | None = result.get() if result.wait(timeout) else None
        if outcome is None:
            reason = f"no answer within {timeout:g} s"
            return Outcome(make_response(request, 408, reason), True, reason)
        if auth is None or outcome.local:
            return outcome
        # AuthSession bounds the retries (refused credentials, stale nonces).
        if cseq >= MAX_AUTH_ATTEMPTS or not isinstance(
            auth.handle_response(outcome.response), AuthRetry
        ):
            return outcome
        cseq += 1
