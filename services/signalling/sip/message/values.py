"""SIP requests and responses as frozen values (RFC 3261 section 7).

`SIPRequest` and `SIPResponse` hold the start line, the headers in wire
order (typed where `sipsimple.core.headers` has a type, `GenericHeader`
otherwise; a comma-separated Via/Contact/Route... value becomes one header
object per element) and the body as bytes. `bytes(message)` serializes with a
Content-Length matching the body. `make_response` builds a response per RFC
3261 section 8.2.6; it also accepts the `PartialMessage` a parse error
carries, so that a malformed request can still be answered with a 400.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sipsimple.core import URI, SIPParseError
from sipsimple.core.headers import (
    CallIDHeader,
    ContactHeader,
    ContentLengthHeader,
    ContentTypeHeader,
    CSeqHeader,
    FromHeader,
    Header,
    MaxForwardsHeader,
    RecordRouteHeader,
    RouteHeader,
    ToHeader,
    ViaHeader,
    WarningHeader,
    canonical_name,
)
from sipsimple.core.reasons import REASONS

__all__ = [
    "REASONS",
    "PartialMessage",
    "SIPMessage",
    "SIPRequest",
    "SIPResponse",
    "make_response",
    "reject_malformed",
]

H = TypeVar("H", bound=Header)


class _HeaderAccess:
    """Typed accessors over an ordered ``headers`` tuple."""

    headers: tuple[Header, ...]

    def headers_named(self, name: str) -> list[Header]:
        """Every header with this name (any case, compact form allowed), in order."""
        key = canonical_name(name).lower()
        return [header for header in self.headers if header.name.lower() == key]

    def header(self, name: str) -> Header | None:
        """The first header with this name, or None."""
        key = canonical_name(name).lower()
        for header in self.headers:
            if header.name.lower() == key:
                return header
        return None

    def _all(self, kind: type[H]) -> list[H]:
        return [header for header in self.headers if isinstance(header, kind)]

    def _first(self, kind: type[H]) -> H | None:
        for header in self.headers:
            if isinstance(header, kind):
                return header
        return None

    @property
    def via(self) -> list[ViaHeader]:
        return self._all(ViaHeader)

    @property
    def top_via(self) -> ViaHeader | None:
        return self._first(ViaHeader)

    @property
    def from_(self) -> FromHeader | None:
        return self._first(FromHeader)

    @property
    def to(self) -> ToHeader | None:
        return self._first(ToHeader)

    @property
    def cseq(self) -> CSeqHeader | None:
        return self._first(CSeqHeader)

    @property
    def call_id(self) -> str | None:
        header = self._first(CallIDHeader)
        return header.value if header is not None else None

    @property
    def max_forwards(self) -> int | None:
        header = self._first(MaxForwardsHeader)
        return header.value if header is not None else None

    @property
    def contact(self) -> list[ContactHeader]:
        return self._all(ContactHeader)

    @property
    def route(self) -> list[RouteHeader]:
        return self._all(RouteHeader)

    @property
    def record_route(self) -> list[RecordRouteHeader]:
        return self._all(RecordRouteHeader)

    @property
    def content_type(self) -> ContentTypeHeader | None:
        return self._first(ContentTypeHeader)


def _check_headers(headers: Any) -> tuple[Header, ...]:
    headers = tuple(headers)
    for header in headers:
        if not isinstance(header, Header):
            raise TypeError(f"expected a header, not {type(header).__name__}")
    return headers


def _serialize(start: str, headers: Iterable[Header], body: bytes) -> bytes:
    lines = [start]
    length_written = False
    for header in headers:
        if isinstance(header, ContentLengthHeader):
            if length_written:
                continue
            length_written = True
            lines.append(f"Content-Length: {len(body)}")
        else:
            lines.append(f"{header.name}: {header}")
    if not length_written:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode("utf-8") + body


@dataclass(frozen=True)
class SIPRequest(_HeaderAccess):
    method: str
    uri: URI
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _check_headers(self.headers))
        if not isinstance(self.body, bytes):
            raise TypeError("body must be bytes")

    def to_bytes(self) -> bytes:
        return _serialize(f"{self.method} {self.uri} SIP/2.0", self.headers, self.body)

    __bytes__ = to_bytes


@dataclass(frozen=True)
class SIPResponse(_HeaderAccess):
    code: int
    reason: str
    headers: tuple[Header, ...] = ()
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 100 <= self.code <= 699:
            raise SIPParseError(f"status code {self.code!r} is not in 100..699")
        if any(ch in self.reason for ch in "\r\n"):
            raise SIPParseError("reason phrase holds CR or LF")
        object.__setattr__(self, "headers", _check_headers(self.headers))
        if not isinstance(self.body, bytes):
            raise TypeError("body must be bytes")

    def to_bytes(self) -> bytes:
        return _serialize(f"SIP/2.0 {self.code} {self.reason}", self.headers, self.body)

    __bytes__ = to_bytes

    @property
    def is_provisional(self) -> bool:
        return self.code < 200


SIPMessage = SIPRequest | SIPResponse


@dataclass(frozen=True)
class PartialMessage(_HeaderAccess):
    """What the parser could read of a message it rejected.

    ``headers`` holds every header that parsed; the start line fields are
    None when the start line itself was unreadable.
    """

    is_request: bool
    method: str | None = None
    uri: URI | None = None
    code: int | None = None
    headers: tuple[Header, ...] = field(default=())
    # Headers that did not parse, raw (`GenericHeader` under their canonical
    # name), and the name of the one that made the message fail, if a header did.
    rejected: tuple[Header, ...] = field(default=())
    bad_header: str | None = None

    def copied(self, kind: type[Header], name: str) -> Header | None:
        """The header a response copies: parsed if it did, else as it came."""
        found = self._first(kind)
        if found is not None:
            return found
        key = name.lower()
        for header in self.rejected:
            if header.name.lower() == key:
                return header
        return None

    @property
    def can_respond(self) -> bool:
        """A response can be built: a request other than ACK with a Via that parsed and
        From, To, Call-ID and CSeq, parsed or not (8.2.6 copies them as they came)."""
        return (
            self.is_request
            and self.method is not None
            and self.method != "ACK"
            and bool(self.via)
            and self.copied(FromHeader, "From") is not None
            and self.copied(ToHeader, "To") is not None
            and self.copied(CallIDHeader, "Call-ID") is not None
            and self.copied(CSeqHeader, "CSeq") is not None
        )


def make_response(
    request: SIPRequest | PartialMessage,
    code: int,
    reason: str | None = None,
    to_tag: str | None = None,
    headers: Sequence[Header] = (),
    body: bytes = b"",
) -> SIPResponse:
    """A response to `request` per RFC 3261 section 8.2.6.

    Copies the Via headers (in order), From, Call-ID and CSeq, and To with
    `to_tag` added unless the request's To already has a tag (a 100 never
    gets one). `headers` are appended after those.
    """
    to: Header | None
    if isinstance(request, PartialMessage):
        # A bad From, To, Call-ID or CSeq is copied as it came (RFC 4475 expects a 400).
        to = request.copied(ToHeader, "To")
        from_ = request.copied(FromHeader, "From")
        cseq = request.copied(CSeqHeader, "CSeq")
        call_id = request.copied(CallIDHeader, "Call-ID")
    else:
        to, from_, cseq = request.to, request.from_, request.cseq
        call_id = request._first(CallIDHeader)
    vias = request.via
    if not vias or to is None or from_ is None or cseq is None or call_id is None:
        raise SIPParseError("the request lacks a header a response must copy")
    if to_tag is not None and isinstance(to, ToHeader) and to.tag is None and code > 100:
        to = to.with_tag(to_tag)
    copied: list[Header] = [*vias, from_, to, call_id, cseq]
    if code == 100:
        copied.extend(request.headers_named("Timestamp"))
    return SIPResponse(
        code, REASONS.get(code, "Unknown") if reason is None else reason,
        (*copied, *headers), body,
    )



def reject_malformed(
    partial: PartialMessage, status: int, detail: str, to_tag: str | None = None,
    agent: str = "sipsimple",
) -> SIPResponse:
    """The answer to a request the parser rejected (`SIPParseError` ``status``/``partial``).

    A Warning 399 names the header that did not parse and says what is wrong
    with it (RFC 3261 20.43: "CSeq: invalid CSeq 'x INVITE'"), so that the
    sender learns what to fix. The reason phrase stays the standard one: a
    header name in the status line misleads peers that look for the first
    "CSeq" in a message (SIPp does), and the Warning comes after the copied
    headers. Raises `SIPParseError` when `partial` cannot be answered (see
    `PartialMessage.can_respond`).
    """
    reason = REASONS.get(status, "Bad Request")
    text = " ".join(detail.split())
    if partial.bad_header is not None and not text.startswith(f"{partial.bad_header}:"):
        text = f"{partial.bad_header}: {text}"
    if len(text) > 200:
        text = text[:197] + "..."
    try:
        warnings: tuple[Header, ...] = (WarningHeader(399, agent, text),)
    except SIPParseError:
        warnings = ()
    return make_response(partial, status, reason=reason, to_tag=to_tag, headers=warnings)
