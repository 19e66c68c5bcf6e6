"""SIP value types shared by the facade and the services.

URIs (`SIPURI`, `TelURI`, `AbsoluteURI`, `parse_uri`, `equivalent`),
name-addr values (`NameAddress`), typed headers (`sipsimple.core.headers`),
the one parse exception (`SIPParseError`) and `Route` (a lookup result).
SDP types, parser and offer/answer helpers live in `sipsimple.core.sdp`; the
SDP types and exceptions are re-exported here, where the original SDK had them,
and so is `Message` (`sipsimple.messages`, imported on first use).
"""

from typing import TYPE_CHECKING, Any

from sipsimple.core.anyuri import URI, equivalent, parse_uri
from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import Params
from sipsimple.core.headers import *  # noqa: F403
from sipsimple.core.headers import __all__ as _header_names
from sipsimple.core.nameaddr import NameAddress
from sipsimple.core.route import Route
from sipsimple.core.sdp import (
    FrozenSDPAttribute,
    FrozenSDPAttributeList,
    FrozenSDPBandwidthInfo,
    FrozenSDPConnection,
    FrozenSDPMediaStream,
    FrozenSDPSession,
    FrozenSDPTiming,
    SDPAttribute,
    SDPAttributeList,
    SDPBandwidthInfo,
    SDPConnection,
    SDPMediaStream,
    SDPNegotiationError,
    SDPParseError,
    SDPSession,
    SDPTiming,
)
from sipsimple.core.teluri import AbsoluteURI, TelURI
from sipsimple.core.uri import SIPURI, SIPURIError

if TYPE_CHECKING:
    from sipsimple.messages.outgoing import Message as Message
else:
    def __getattr__(name: str) -> Any:
        # Message sends through the bus: loaded on first use, so that the
        # services, which import this package for its value types, never load
        # the facade's machinery.
        if name == "Message":
            from sipsimple.messages.outgoing import Message

            return Message
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "SIPURI",
    "URI",
    "AbsoluteURI",
    "NameAddress",
    "Params",
    "Route",
    "SIPParseError",
    "SIPURIError",
    "TelURI",
    "equivalent",
    "parse_uri",
    *_header_names,
    "FrozenSDPAttribute",
    "FrozenSDPAttributeList",
    "FrozenSDPBandwidthInfo",
    "FrozenSDPConnection",
    "FrozenSDPMediaStream",
    "FrozenSDPSession",
    "FrozenSDPTiming",
    "SDPAttribute",
    "SDPAttributeList",
    "SDPBandwidthInfo",
    "SDPConnection",
    "SDPMediaStream",
    "SDPNegotiationError",
    "SDPParseError",
    "SDPSession",
    "SDPTiming",
]
