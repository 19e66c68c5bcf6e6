"""SDP (RFC 8866) model, parser and serializer, and RFC 3264 offer/answer helpers.

Two forms of every type: mutable (`SDPSession`, `SDPMediaStream`, ...) to
build a description, frozen (`FrozenSDPSession`, ...) to hold one. Convert
with `.new()` on the target type: `FrozenSDPSession.new(mutable)`,
`SDPSession.new(frozen)`. `FrozenSDPSession.parse(text)` and
`SDPSession.parse(text)` read text; `str()`/`bytes()` write it.
"""

from sipsimple.core.sdp.attributes import (
    FrozenSDPAttribute,
    FrozenSDPAttributeList,
    SDPAttribute,
    SDPAttributeList,
)
from sipsimple.core.sdp.errors import SDPNegotiationError, SDPParseError
from sipsimple.core.sdp.frozen import (
    FrozenSDPBandwidthInfo,
    FrozenSDPConnection,
    FrozenSDPMediaStream,
    FrozenSDPSession,
    FrozenSDPTiming,
)
from sipsimple.core.sdp.grammar import DIRECTIONS
from sipsimple.core.sdp.mutable import (
    SDPBandwidthInfo,
    SDPConnection,
    SDPMediaStream,
    SDPSession,
    SDPTiming,
)
from sipsimple.core.sdp.parser import MAX_MEDIA, MAX_SDP_SIZE, parse_sdp

__all__ = [
    "DIRECTIONS",
    "MAX_MEDIA",
    "MAX_SDP_SIZE",
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
    "parse_sdp",
]
