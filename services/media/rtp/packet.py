"""RTP data packets (RFC 3550 section 5.1) and the rtcp-mux demultiplexing test.

A packet is a frozen value; `parse_rtp` takes a datagram and `serialize`
gives one back. The header extension is kept as opaque bytes with its profile
number: RFC 8285 one/two-byte elements are a later concern of whoever uses them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "RTP_HEADER_SIZE",
    "RTP_VERSION",
    "HeaderExtension",
    "RTPPacket",
    "RTPParseError",
    "looks_like_rtcp",
    "parse_rtp",
]

RTP_VERSION = 2
RTP_HEADER_SIZE = 12

_HEADER = struct.Struct("!BBHII")


class RTPParseError(ValueError):
    """The bytes are not a well-formed RTP packet."""


@dataclass(frozen=True)
class HeaderExtension:
    """The header extension: a 16-bit profile value and data in 32-bit words."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise ValueError(f"extension profile out of range: {self.profile}")
        if len(self.data) % 4 or len(self.data) > 0xFFFF * 4:
            raise ValueError("extension data must be whole 32-bit words (at most 65535)")


@dataclass(frozen=True)
class RTPPacket:
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    # Octets of padding including the final count octet; 0 means no padding.
    padding: int = 0

    def __post_init__(self) -> None:
        # One combined test first: this runs for every packet sent and received.
        if (
            0 <= self.payload_type <= 127
            and 0 <= self.sequence_number <= 0xFFFF
            and 0 <= self.timestamp <= 0xFFFFFFFF
            and 0 <= self.ssrc <= 0xFFFFFFFF
            and 0 <= self.padding <= 255
            and not self.csrc
        ):
            return
        for name, limit in (
            ("payload_type", 127),
            ("sequence_number", 0xFFFF),
            ("timestamp", 0xFFFFFFFF),
            ("ssrc", 0xFFFFFFFF),
            ("padding", 255),
        ):
            if not 0 <= getattr(self, name) <= limit:
                raise ValueError(f"{name} must be 0-{limit}, not {getattr(self, name)}")
        if len(self.csrc) > 15 or not all(0 <= c <= 0xFFFFFFFF for c in self.csrc):
            raise ValueError("at most 15 CSRCs, each 32 bits")

    def serialize(self) -> bytes:
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            ext = self.extension
            parts.append(struct.pack("!HH", ext.profile, len(ext.data) // 4))
            parts.append(ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def parse_rtp(data: bytes) -> RTPPacket:
    """Parse one RTP packet; raise RTPParseError for anything malformed."""
    if len(data) < RTP_HEADER_SIZE:
        raise RTPParseError(f"{len(data)} octets is shorter than the RTP header")
    first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
    if first >> 6 != RTP_VERSION:
        raise RTPParseError(f"RTP version {first >> 6}, expected {RTP_VERSION}")
    end = len(data)
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0:
            raise RTPParseError("padding flag set with a padding count of zero")
        if padding > len(data) - RTP_HEADER_SIZE:
            raise RTPParseError(f"padding of {padding} octets is longer than the packet body")
        end -= padding
    offset = RTP_HEADER_SIZE
    csrc_count = first & 0x0F
    if offset + 4 * csrc_count > end:
        raise RTPParseError("CSRC list runs past the end of the packet")
    csrc = struct.unpack_from(f"!{csrc_count}I", data, offset)
    offset += 4 * csrc_count
    extension = None
    if first & 0x10:
        if offset + 4 > end:
            raise RTPParseError("header extension runs past the end of the packet")
        profile, words = struct.unpack_from("!HH", data, offset)
        offset += 4
        if offset + 4 * words > end:
            raise RTPParseError("header extension runs past the end of the packet")
        extension = HeaderExtension(profile, bytes(data[offset : offset + 4 * words]))
        offset += 4 * words
    return RTPPacket(
        payload_type=second & 0x7F,
        sequence_number=seq,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        csrc=tuple(csrc),
        extension=extension,
        padding=padding,
    )


def looks_like_rtcp(data: bytes) -> bool:
    """Whether a datagram on a multiplexed port is RTCP (RFC 5761 section 4).

    RTCP packet types 192-223 occupy the RTP marker bit and payload types
    64-95, which is why those payload types must not be used with rtcp-mux.
    """
    return len(data) >= 2 and 64 <= (data[1] & 0x7F) <= 95
