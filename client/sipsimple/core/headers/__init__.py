"""Typed SIP headers: frozen dataclasses with ``parse(value)`` and ``str()``.

Parse problems raise `SIPParseError`. `header_type` maps a header name (any
case, compact forms included) to its class; names without a class are carried
as `GenericHeader`.
"""

from sipsimple.core.headers.address import (
    AddressHeader,
    ContactHeader,
    FromHeader,
    FrozenFromHeader,
    FrozenToHeader,
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
from sipsimple.core.headers.base import GenericHeader, Header
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
from sipsimple.core.headers.registry import (
    COMPACT_FORMS,
    HEADER_TYPES,
    canonical_name,
    header_type,
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
from sipsimple.core.headers.via import MAGIC_COOKIE, ViaHeader

__all__ = [
    "COMPACT_FORMS",
    "HEADER_TYPES",
    "MAGIC_COOKIE",
    "AddressHeader",
    "AllowEventsHeader",
    "AllowHeader",
    "AuthorizationHeader",
    "CSeqHeader",
    "CallIDHeader",
    "ContactHeader",
    "ContentLengthHeader",
    "ContentTypeHeader",
    "DateHeader",
    "EventHeader",
    "ExpiresHeader",
    "FromHeader",
    "FrozenFromHeader",
    "FrozenToHeader",
    "GenericHeader",
    "Header",
    "MaxForwardsHeader",
    "MinExpiresHeader",
    "ProxyAuthenticateHeader",
    "ProxyAuthorizationHeader",
    "ProxyRequireHeader",
    "ReasonHeader",
    "RecordRouteHeader",
    "ReferToHeader",
    "ReferredByHeader",
    "ReplacesHeader",
    "RequireHeader",
    "RouteHeader",
    "ServerHeader",
    "SubjectHeader",
    "SubscriptionStateHeader",
    "SupportedHeader",
    "ToHeader",
    "UnsupportedHeader",
    "UserAgentHeader",
    "ViaHeader",
    "WWWAuthenticateHeader",
    "WarningHeader",
    "canonical_name",
    "header_type",
]
