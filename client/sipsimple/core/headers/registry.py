"""Header names: canonical spelling, compact forms, and the typed classes."""

from __future__ import annotations

from sipsimple.core.headers.address import (
    ContactHeader,
    FromHeader,
    RecordRouteHeader,
    ReferredByHeader,
    ReferToHeader,
    RouteHeader,
    ToHeader,
)
from sipsimple.core.headers.auth import (
    AuthorizationHeader,
    ProxyAuthenticateHeader,
    ProxyAuthorizationHeader,
    WWWAuthenticateHeader,
)
from sipsimple.core.headers.base import Header
from sipsimple.core.headers.events import EventHeader, ReplacesHeader, SubscriptionStateHeader
from sipsimple.core.headers.lists import (
    AllowEventsHeader,
    AllowHeader,
    ProxyRequireHeader,
    ReasonHeader,
    RequireHeader,
    SupportedHeader,
    UnsupportedHeader,
    WarningHeader,
)
from sipsimple.core.headers.scalar import (
    CallIDHeader,
    ContentLengthHeader,
    ContentTypeHeader,
    CSeqHeader,
    DateHeader,
    ExpiresHeader,
    MaxForwardsHeader,
    MinExpiresHeader,
    ServerHeader,
    SubjectHeader,
    UserAgentHeader,
)
from sipsimple.core.headers.via import ViaHeader

__all__ = ["COMPACT_FORMS", "HEADER_TYPES", "canonical_name", "header_type"]

_TYPES: tuple[type[Header], ...] = (
    AllowEventsHeader, AllowHeader, AuthorizationHeader, CallIDHeader, ContactHeader,
    ContentLengthHeader, ContentTypeHeader, CSeqHeader, DateHeader, EventHeader, ExpiresHeader,
    FromHeader, MaxForwardsHeader, MinExpiresHeader, ProxyAuthenticateHeader,
    ProxyAuthorizationHeader, ProxyRequireHeader, ReasonHeader, RecordRouteHeader,
    ReferredByHeader, ReferToHeader, ReplacesHeader, RequireHeader, RouteHeader, ServerHeader,
    SubjectHeader, SubscriptionStateHeader, SupportedHeader, ToHeader, UnsupportedHeader,
    UserAgentHeader, ViaHeader, WarningHeader, WWWAuthenticateHeader,
)

HEADER_TYPES: dict[str, type[Header]] = {cls.name.lower(): cls for cls in _TYPES}

# Compact forms (RFC 3261 7.3.3 and the IANA registry), including those of
# headers we carry as generic ones.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN_SPELLING: dict[str, str] = {cls.name.lower(): cls.name for cls in _TYPES}
for _full in COMPACT_FORMS.values():
    _KNOWN_SPELLING.setdefault(_full.lower(), _full)
for _short, _full in COMPACT_FORMS.items():
    _KNOWN_SPELLING[_short] = _full
for _extra in (
    "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Authentication-Info",
    "Call-Info", "Content-Disposition", "Content-Language", "Error-Info", "In-Reply-To",
    "MIME-Version", "Organization", "Priority", "Reply-To", "Retry-After", "Timestamp",
    "P-Asserted-Identity", "P-Preferred-Identity", "Privacy", "RSeq", "RAck", "Path",
    "Min-SE", "Content-Transfer-Encoding",
):
    _KNOWN_SPELLING[_extra.lower()] = _extra


def canonical_name(name: str) -> str:
    """The usual spelling of a header name (compact forms expanded); unknown names as given."""
    return _KNOWN_SPELLING.get(name.lower(), name)


def header_type(name: str) -> type[Header] | None:
    """The typed class for a header name (any case, compact forms too), or None."""
    return HEADER_TYPES.get(canonical_name(name).lower())
