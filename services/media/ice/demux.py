"""Which protocol a datagram on an RTP socket belongs to, by its first byte (RFC 7983, 9443).

STUN, ZRTP, DTLS, TURN ChannelData and RTP/RTCP share the media sockets when
ICE runs; the ranges do not overlap, so one byte decides.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Kind", "classify"]


class Kind(StrEnum):
    STUN = "stun"  # 0..3
    ZRTP = "zrtp"  # 16..19
    DTLS = "dtls"  # 20..63
    CHANNEL_DATA = "channel-data"  # 64..79 (TURN)
    RTP = "rtp"  # 128..191, RTCP too (RFC 5761 tells them apart)
    UNKNOWN = "unknown"


_RANGES = (
    (0, 3, Kind.STUN),
    (16, 19, Kind.ZRTP),
    (20, 63, Kind.DTLS),
    (64, 79, Kind.CHANNEL_DATA),
    (128, 191, Kind.RTP),
)


def classify(datagram: bytes) -> Kind:
    if not datagram:
        return Kind.UNKNOWN
    first = datagram[0]
    for low, high, kind in _RANGES:
        if low <= first <= high:
            return kind
    return Kind.UNKNOWN
