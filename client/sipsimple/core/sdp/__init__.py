"""SDP (RFC 8866) model, parser and serializer, and RFC 3264 offer/answer helpers.

Two forms of every type: mutable (`SDPSession`, `SDPMediaStream`, ...) to
build a description, frozen (`FrozenSDPSession`, ...) to hold one. Convert
with `.new()` on the target type: `FrozenSDPSession.new(mutable)`,
`SDPSession.new(frozen)`. `FrozenSDPSession.parse(text)` and
`SDPSession.parse(text)` read text; `str()`/`bytes()` write it.

Offer/answer (RFC 3264): `build_offer`, `build_answer`, `next_version`,
`parse_offer`/`validate_offer` (488 on failure), `parse_answer`/
`validate_answer`, `validate_reoffer`/`compare_media`, `free_media_index`,
`answer_direction`. Only the types are re-exported from `sipsimple.core`.
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
from sipsimple.core.sdp.offer_answer import (
    answer_direction,
    build_answer,
    direction_allowed,
    disabled_media,
    parse_answer,
    parse_offer,
    validate_answer,
    validate_offer,
)
from sipsimple.core.sdp.parser import MAX_MEDIA, MAX_SDP_SIZE, parse_sdp
from sipsimple.core.sdp.reoffer import (
    MediaChanges,
    build_offer,
    compare_media,
    free_media_index,
    next_version,
    sdp_changed,
    validate_reoffer,
)

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
    "MediaChanges",
    "SDPAttribute",
    "SDPAttributeList",
    "SDPBandwidthInfo",
    "SDPConnection",
    "SDPMediaStream",
    "SDPNegotiationError",
    "SDPParseError",
    "SDPSession",
    "SDPTiming",
    "answer_direction",
    "build_answer",
    "build_offer",
    "compare_media",
    "direction_allowed",
    "disabled_media",
    "free_media_index",
    "next_version",
    "parse_answer",
    "parse_offer",
    "parse_sdp",
    "sdp_changed",
    "validate_answer",
    "validate_offer",
    "validate_reoffer",
]
