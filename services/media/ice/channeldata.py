"""TURN ChannelData messages (RFC 8656 12.4): a channel number, a length, the data.

Over UDP the padding to 4 bytes is optional; a datagram longer than the
length field says (padding, or junk) is accepted and the extra ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .stun import StunError

__all__ = ["CHANNEL_MAX", "CHANNEL_MIN", "ChannelData"]

CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x4FFF
_HEADER = struct.Struct("!HH")


@dataclass(frozen=True)
class ChannelData:
    channel: int
    data: bytes

    def __post_init__(self) -> None:
        if not CHANNEL_MIN <= self.channel <= CHANNEL_MAX:
            raise StunError(f"channel number {self.channel:#x} outside 0x4000-0x4FFF")
        if len(self.data) > 0xFFFF:
            raise StunError("ChannelData longer than 65535 bytes")

    def encode(self, pad: bool = False) -> bytes:
        data = _HEADER.pack(self.channel, len(self.data)) + self.data
        return data + bytes(-len(data) % 4) if pad else data

    @classmethod
    def parse(cls, datagram: bytes) -> ChannelData:
        if len(datagram) < _HEADER.size:
            raise StunError("ChannelData shorter than its header")
        channel, length = _HEADER.unpack_from(datagram)
        if _HEADER.size + length > len(datagram):
            raise StunError("ChannelData length runs past the datagram")
        return cls(channel, bytes(datagram[4 : 4 + length]))
