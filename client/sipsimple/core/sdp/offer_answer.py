"""RFC 3264 answers: building them from an offer and checking a received one.

The Session decides which streams it accepts; these functions make the
description follow the rules: one m-line per offered m-line in the same
order, port 0 for rejected streams, the answered direction derived from the
offered one (section 6.1), and a received answer that breaks any of this
reported as `SDPNegotiationError`.

An offer that does not parse or cannot be answered raises
`SDPNegotiationError` with `status` 488: the caller answers with it and
never lets the exception escape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sipsimple.core.sdp.connections import compact_connections, media_without_connection
from sipsimple.core.sdp.errors import SDPNegotiationError, SDPParseError
from sipsimple.core.sdp.frozen import FrozenSDPSession
from sipsimple.core.sdp.grammar import DIRECTIONS
from sipsimple.core.sdp.mutable import SDPMediaStream, SDPSession
from sipsimple.core.sdp.parser import parse_sdp

__all__ = [
    "answer_direction",
    "build_answer",
    "direction_allowed",
    "disabled_media",
    "parse_answer",
    "parse_offer",
    "validate_answer",
    "validate_offer",
]

_SENDS = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_RECEIVES = {"sendrecv": True, "sendonly": False, "recvonly": True, "inactive": False}


def _direction(sends: bool, receives: bool) -> str:
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def _check_direction(value: str) -> None:
    if value not in DIRECTIONS:
        raise ValueError(f"invalid direction: {value!r}")


def answer_direction(offered: str, local: str = "sendrecv") -> str:
    """The direction to answer `offered` with, given what the local side wants.

    We may send only if the offerer receives, and receive only if it sends:
    sendonly -> recvonly, recvonly -> sendonly, inactive -> inactive and
    sendrecv -> `local`.
    """
    _check_direction(offered)
    _check_direction(local)
    return _direction(
        _RECEIVES[offered] and _SENDS[local], _SENDS[offered] and _RECEIVES[local]
    )


def direction_allowed(offered: str, answered: str) -> bool:
    """Whether `answered` is a valid answer to `offered` (no sending the offerer refused)."""
    _check_direction(offered)
    _check_direction(answered)
    return (not _SENDS[answered] or _RECEIVES[offered]) and (
        not _RECEIVES[answered] or _SENDS[offered]
    )


def disabled_media(media: Any) -> SDPMediaStream:
    """A port-0 copy of an m-line: a rejected stream in an answer, a removed one in an offer.

    Same media type, transport and formats (SDP needs at least one); no
    attributes, c= or b=, which RFC 3264 (6 and 8.2) allows to leave out.
    """
    return SDPMediaStream(media.media, 0, media.transport, formats=list(media.formats))


def build_answer(
    offer: FrozenSDPSession, local: Any, media: Mapping[int, Any]
) -> SDPSession:
    """The answer to `offer`: `local`'s session-level fields and one m-line per offered one.

    `media` maps offered indexes to the accepted streams' m-lines (from
    `get_local_media`); every other index, and every m-line offered with port
    0, is rejected with port 0. Accepted m-lines get the direction
    `answer_direction(offered, theirs or "sendrecv")`. The o= version is left
    as in `local`: pass the result through `next_version`.
    """
    extra = [i for i in media if not 0 <= i < len(offer.media)]
    if extra:
        raise ValueError(f"no offered m-line for indexes {sorted(extra)}")
    answer = SDPSession.new(local)
    answer.media = []
    for index, offered in enumerate(offer.media):
        mine = media.get(index)
        if mine is None or offered.port == 0 or mine.port == 0:
            answer.media.append(disabled_media(offered))
            continue
        if mine.media != offered.media:
            raise ValueError(f"m-line {index}: {mine.media!r} cannot answer {offered.media!r}")
        accepted = SDPMediaStream.new(mine)
        accepted.direction = answer_direction(
            offer.media_direction(index), mine.direction or "sendrecv"
        )
        answer.media.append(accepted)
    compact_connections(answer)
    return answer


def validate_offer(offer: FrozenSDPSession) -> None:
    """Raise `SDPNegotiationError` (488) for an offer that cannot be answered at all."""
    missing = media_without_connection(offer)
    if missing:
        raise SDPNegotiationError(
            f"no connection address for m-lines {missing}", warning="Missing c= line"
        )


def parse_offer(body: bytes | str) -> FrozenSDPSession:
    """Parse and check a received offer; any problem is `SDPNegotiationError` (488)."""
    try:
        offer = parse_sdp(body)
    except SDPParseError as exc:
        raise SDPNegotiationError(f"malformed SDP: {exc}", warning="Malformed SDP") from exc
    validate_offer(offer)
    return offer


def validate_answer(offer: Any, answer: Any) -> None:
    """Raise `SDPNegotiationError` if `answer` does not answer `offer` (RFC 3264 6)."""
    if len(answer.media) != len(offer.media):
        raise SDPNegotiationError(
            f"the answer has {len(answer.media)} m-lines, the offer had {len(offer.media)}"
        )
    for index, (offered, answered) in enumerate(zip(offer.media, answer.media, strict=True)):
        if answered.media != offered.media:
            raise SDPNegotiationError(
                f"m-line {index}: answered {answered.media!r} to an offered {offered.media!r}"
            )
        if answered.port == 0:
            continue
        if offered.port == 0:
            raise SDPNegotiationError(f"m-line {index}: accepted a stream offered with port 0")
        offered_direction = offer.media_direction(index)
        answered_direction = answer.media_direction(index)
        if not direction_allowed(offered_direction, answered_direction):
            raise SDPNegotiationError(
                f"m-line {index}: {answered_direction} cannot answer {offered_direction}"
            )
    missing = media_without_connection(answer)
    if missing:
        raise SDPNegotiationError(f"no connection address for answered m-lines {missing}")


def parse_answer(offer: Any, body: bytes | str) -> FrozenSDPSession:
    """Parse and check a received answer; any problem is `SDPNegotiationError`."""
    try:
        answer = parse_sdp(body)
    except SDPParseError as exc:
        raise SDPNegotiationError(f"malformed SDP: {exc}", warning="Malformed SDP") from exc
    validate_answer(offer, answer)
    return answer
