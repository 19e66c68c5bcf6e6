"""What a page-mode message carries, as pure functions (no bus, no threads).

`read_message` turns the Content-Type and body of an incoming MESSAGE into a
`Received` (the content, unwrapped from CPIM when it came wrapped, with the
CPIM fields, the IMDN request and, for RFC 3994 bodies, the composing
indication) or a `Refusal` (the answer to send instead of 200). `wrap_cpim`
builds the CPIM body (RFC 3862) of an outgoing message, with the IMDN request
headers (RFC 5438) when dispositions are asked for. Both use the one CPIM,
IMDN and is-composing implementation of the tree, `sipsimple.payloads`.

Content types are compared without parameters and case-insensitively;
``type/*`` and ``*/*`` in the accepted list match any subtype or any type.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sipsimple.core import SIPParseError
from sipsimple.core.headers import ContentTypeHeader, FromHeader, ToHeader
from sipsimple.payloads.cpim import (
    CPIM_CONTENT_TYPE,
    CPIMIdentity,
    CPIMMessage,
)
from sipsimple.payloads.errors import BuilderError, ParserError
from sipsimple.payloads.imdn import CONTENT_TYPE as IMDN_CONTENT_TYPE
from sipsimple.payloads.imdn import IMDNRequest
from sipsimple.payloads.iscomposing import CONTENT_TYPE as COMPOSING_CONTENT_TYPE
from sipsimple.payloads.iscomposing import IsComposingMessage

__all__ = [
    "COMPOSING_CONTENT_TYPE",
    "CPIM_CONTENT_TYPE",
    "DEFAULT_ACCEPTED_TYPES",
    "IMDN_CONTENT_TYPE",
    "Received",
    "Refusal",
    "accepts",
    "check_types",
    "new_message_id",
    "read_message",
    "wrap_cpim",
]

DEFAULT_ACCEPTED_TYPES = (
    "text/plain",
    "text/html",
    CPIM_CONTENT_TYPE,
    COMPOSING_CONTENT_TYPE,
    IMDN_CONTENT_TYPE,
)


@dataclass(frozen=True)
class Received:
    """An incoming message the application may take (the answer is then 200)."""

    content_type: str  # bare, lower case; the wrapped content's when CPIM
    charset: str | None
    body: bytes  # the wrapped content's when CPIM
    cpim: CPIMMessage | None = None  # the CPIM message it came in, if wrapped
    imdn: IMDNRequest | None = None  # the dispositions the sender asks for, if any
    composing: IsComposingMessage | None = None  # an RFC 3994 indication, not a message


@dataclass(frozen=True)
class Refusal:
    """The answer to a message that no application can take."""

    code: int
    reason: str
    warning: str | None = None  # for a Warning: 399 header, why
    accept: tuple[str, ...] = ()  # for a 415's Accept header


def check_types(types: Iterable[str]) -> tuple[str, ...]:
    """`types` as bare lower-case media types; ValueError for anything else."""
    checked: list[str] = []
    for item in types:
        if not isinstance(item, str):
            raise ValueError(f"a content type must be a string, not {type(item).__name__}")
        text = item.strip().lower()
        kind, slash, subtype = text.partition("/")
        if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
            raise ValueError(f"invalid content type {item!r}")
        if not (kind == "*" or _is_token(kind)) or not (subtype == "*" or _is_token(subtype)):
            raise ValueError(f"invalid content type {item!r}")
        if text not in checked:
            checked.append(text)
    return tuple(checked)


def _is_token(text: str) -> bool:
    try:
        ContentTypeHeader(text, "x")
    except (SIPParseError, ValueError):
        return False
    return True


def accepts(accepted: Iterable[str], content_type: str) -> bool:
    kind, _, subtype = content_type.lower().partition("/")
    for item in accepted:
        a_kind, _, a_subtype = item.partition("/")
        if a_kind in ("*", kind) and a_subtype in ("*", subtype):
            return True
    return False


def _unsupported(what: str, accepted: Sequence[str]) -> Refusal:
    return Refusal(415, "Unsupported Media Type", f"{what} is not accepted", tuple(accepted))


def _bad(warning: str) -> Refusal:
    return Refusal(400, "Bad Request", warning[:200])


def read_message(
    content_type: str | None, body: bytes, accepted: Sequence[str]
) -> Received | Refusal:
    """The content of a MESSAGE with this Content-Type and body, or the answer refusing it.

    400 for a body without a (valid) Content-Type, an empty one, malformed CPIM,
    a CPIM message wrapping CPIM, or a malformed is-composing document; 415 for a
    type (or a wrapped type) not in `accepted`.
    """
    if not body:
        return _bad("the MESSAGE has no body")
    if not content_type:
        return _bad("the MESSAGE has no Content-Type")
    try:
        header = ContentTypeHeader.parse(content_type)
    except (SIPParseError, ValueError):
        return _bad("invalid Content-Type")
    outer = f"{header.type}/{header.subtype}"
    if not accepts(accepted, outer):
        return _unsupported(outer, accepted)
    if outer != CPIM_CONTENT_TYPE:
        return _content(outer, header.parameters.get("charset"), body, None, None)
    try:
        message = CPIMMessage.decode(body)
        imdn = IMDNRequest.from_message(message)
    except ParserError as exc:  # CPIM, or the IMDN headers it carries
        return _bad(f"malformed CPIM: {exc}")
    inner = message.content_type
    if inner == CPIM_CONTENT_TYPE:
        return _bad("CPIM wrapping CPIM")
    if not accepts(accepted, inner):
        return _unsupported(f"{inner} (in CPIM)", accepted)
    return _content(inner, message.charset, message.content, message, imdn)


def _content(
    content_type: str, charset: str | None, body: bytes, cpim: CPIMMessage | None,
    imdn: IMDNRequest | None,
) -> Received | Refusal:
    composing = None
    if content_type == COMPOSING_CONTENT_TYPE:
        try:
            composing = IsComposingMessage.parse(body)
        except ParserError as exc:
            return _bad(f"malformed is-composing document: {exc}")
    return Received(content_type, charset, body, cpim, imdn, composing)


def new_message_id() -> str:
    """An imdn.Message-ID: random, unique per sender (RFC 5438 section 6.3)."""
    return secrets.token_hex(16)


def wrap_cpim(
    content_type: str,
    body: bytes,
    from_header: FromHeader,
    to_header: ToHeader,
    *,
    timestamp: datetime | None = None,
    dispositions: Sequence[str] = (),
    message_id: str | None = None,
) -> bytes:
    """The message/cpim body wrapping `body` (ValueError for what cannot be encoded).

    The CPIM From and To are the SIP From and To (URI and display name);
    DateTime is `timestamp` (now, UTC, by default). With `dispositions`
    (positive-delivery, negative-delivery, display, processing) the message asks
    for those notifications under `message_id` (a new one by default).
    """
    header = ContentTypeHeader.parse(content_type)
    message = CPIMMessage(
        content=body,
        content_type=f"{header.type}/{header.subtype}",
        content_parameters=tuple((k, v) for k, v in header.parameters.items() if v is not None),
        sender=CPIMIdentity(from_header.uri, from_header.display_name),
        recipients=(CPIMIdentity(to_header.uri, to_header.display_name),),
        timestamp=timestamp or datetime.now(UTC),
    )
    if dispositions:
        request = IMDNRequest(message_id or new_message_id(), message.timestamp or
                              datetime.now(UTC), tuple(dispositions))
        message = request.apply(message)
    try:
        return message.encode()
    except BuilderError as exc:
        raise ValueError(str(exc)) from None
