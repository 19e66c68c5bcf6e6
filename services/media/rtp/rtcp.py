"""Compound RTCP packets (RFC 3550 section 6): SR, RR, SDES, BYE, and the rest opaque.

`parse_compound` applies the validity checks of RFC 3550 appendix A.2: every
packet is version 2, the first is an SR or RR, only the last may be padded,
and the length fields add up to the datagram exactly. Packet types this module
does not know (APP, RTPFB, XR...) are kept as `UnknownRTCP` so that a caller
can still see and forward them.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "BYE",
    "RR",
    "SDES",
    "SDES_CNAME",
    "SR",
    "Bye",
    "RTCPPacket",
    "RTCPParseError",
    "ReceiverReport",
    "ReportBlock",
    "SDESChunk",
    "SDESItem",
    "SenderInfo",
    "SenderReport",
    "SourceDescription",
    "UnknownRTCP",
    "parse_compound",
    "reports_about",
    "serialize_compound",
]

SR = 200
RR = 201
SDES = 202
BYE = 203

SDES_CNAME = 1

_REPORT_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!QIII")


class RTCPParseError(ValueError):
    """The bytes are not a valid compound RTCP packet."""


def _check(value: int, bits: int, name: str) -> None:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{name} must fit in {bits} bits, not {value}")


@dataclass(frozen=True)
class ReportBlock:
    """One reception report (RFC 3550 6.4.1) about the source `ssrc`."""

    ssrc: int
    fraction_lost: int  # fixed point, lost/expected * 256
    cumulative_lost: int  # signed 24 bits: duplicates can make it negative
    highest_sequence: int  # extended: cycles << 16 | highest sequence number
    jitter: int  # in timestamp units
    lsr: int = 0  # middle 32 bits of the NTP timestamp of the last SR, 0 if none
    dlsr: int = 0  # delay since that SR, in 1/65536 s

    def __post_init__(self) -> None:
        _check(self.ssrc, 32, "ssrc")
        _check(self.fraction_lost, 8, "fraction_lost")
        if not -(1 << 23) <= self.cumulative_lost < (1 << 23):
            raise ValueError(f"cumulative_lost must fit in 24 signed bits: {self.cumulative_lost}")
        for name in ("highest_sequence", "jitter", "lsr", "dlsr"):
            _check(getattr(self, name), 32, name)

    def serialize(self) -> bytes:
        lost = (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT_BLOCK.pack(
            self.ssrc, lost, self.highest_sequence, self.jitter, self.lsr, self.dlsr
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


@dataclass(frozen=True)
class SenderInfo:
    ntp_timestamp: int  # 64-bit NTP: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int

    def __post_init__(self) -> None:
        _check(self.ntp_timestamp, 64, "ntp_timestamp")
        for name in ("rtp_timestamp", "packet_count", "octet_count"):
            _check(getattr(self, name), 32, name)


@dataclass(frozen=True)
class SenderReport:
    ssrc: int
    sender_info: SenderInfo
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""  # profile-specific, whole 32-bit words

    packet_type = SR

    def __post_init__(self) -> None:
        _check(self.ssrc, 32, "ssrc")
        _check_reports(self.reports, self.extension)

    def body(self) -> tuple[int, bytes]:
        info = self.sender_info
        head = struct.pack("!I", self.ssrc) + _SENDER_INFO.pack(
            info.ntp_timestamp, info.rtp_timestamp, info.packet_count, info.octet_count
        )
        blocks = b"".join(block.serialize() for block in self.reports)
        return len(self.reports), head + blocks + self.extension


@dataclass(frozen=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    extension: bytes = b""

    packet_type = RR

    def __post_init__(self) -> None:
        _check(self.ssrc, 32, "ssrc")
        _check_reports(self.reports, self.extension)

    def body(self) -> tuple[int, bytes]:
        blocks = b"".join(block.serialize() for block in self.reports)
        return len(self.reports), struct.pack("!I", self.ssrc) + blocks + self.extension


def _check_reports(reports: tuple[ReportBlock, ...], extension: bytes) -> None:
    if len(reports) > 31:
        raise ValueError("at most 31 report blocks per packet")
    if len(extension) % 4:
        raise ValueError("a profile extension is whole 32-bit words")


@dataclass(frozen=True)
class SDESItem:
    type: int  # 1 CNAME, 2 NAME, ... 8 PRIV; 0 is the list terminator, not an item
    value: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.type <= 255:
            raise ValueError(f"SDES item type must be 1-255, not {self.type}")
        if len(self.value) > 255:
            raise ValueError("an SDES item holds at most 255 octets")


@dataclass(frozen=True)
class SDESChunk:
    ssrc: int
    items: tuple[SDESItem, ...] = ()

    def __post_init__(self) -> None:
        _check(self.ssrc, 32, "ssrc")

    @property
    def cname(self) -> str | None:
        for item in self.items:
            if item.type == SDES_CNAME:
                return item.value.decode("utf-8", "replace")
        return None

    def serialize(self) -> bytes:
        parts = [struct.pack("!I", self.ssrc)]
        for item in self.items:
            parts.append(bytes((item.type, len(item.value))) + item.value)
        size = sum(map(len, parts))
        # At least one zero octet ends the item list, then pad to a 32-bit boundary.
        parts.append(bytes(4 - size % 4))
        return b"".join(parts)


@dataclass(frozen=True)
class SourceDescription:
    chunks: tuple[SDESChunk, ...] = ()

    packet_type = SDES

    def __post_init__(self) -> None:
        if len(self.chunks) > 31:
            raise ValueError("at most 31 SDES chunks per packet")

    @classmethod
    def with_cname(cls, ssrc: int, cname: str) -> SourceDescription:
        return cls((SDESChunk(ssrc, (SDESItem(SDES_CNAME, cname.encode()),)),))

    def body(self) -> tuple[int, bytes]:
        return len(self.chunks), b"".join(chunk.serialize() for chunk in self.chunks)


@dataclass(frozen=True)
class Bye:
    sources: tuple[int, ...]
    reason: str | None = None

    packet_type = BYE

    def __post_init__(self) -> None:
        if len(self.sources) > 31:
            raise ValueError("at most 31 sources per BYE")
        for ssrc in self.sources:
            _check(ssrc, 32, "ssrc")
        if self.reason is not None and len(self.reason.encode()) > 255:
            raise ValueError("a BYE reason is at most 255 octets")

    def body(self) -> tuple[int, bytes]:
        data = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason is not None:
            text = self.reason.encode()
            data += bytes((len(text),)) + text
            data += bytes(-len(data) % 4)
        return len(self.sources), data


@dataclass(frozen=True)
class UnknownRTCP:
    """A packet of a type this module does not interpret, kept whole."""

    packet_type: int
    count: int  # the 5-bit field after the padding bit (a subtype for APP and feedback)
    payload: bytes  # after the 4-octet header, whole 32-bit words

    def __post_init__(self) -> None:
        _check(self.packet_type, 8, "packet_type")
        _check(self.count, 5, "count")
        if len(self.payload) % 4:
            raise ValueError("an RTCP packet body is whole 32-bit words")

    def body(self) -> tuple[int, bytes]:
        return self.count, self.payload


RTCPPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRTCP


def _serialize_one(packet: RTCPPacket) -> bytes:
    count, body = packet.body()
    if len(body) // 4 > 0xFFFF:
        raise ValueError("RTCP packet too long")
    return struct.pack("!BBH", 0x80 | count, packet.packet_type, len(body) // 4) + body


def serialize_compound(packets: Iterable[RTCPPacket]) -> bytes:
    """Concatenate packets into one compound packet (the caller orders them)."""
    return b"".join(_serialize_one(packet) for packet in packets)


def parse_compound(data: bytes) -> tuple[RTCPPacket, ...]:
    """Parse and validate a compound RTCP packet; raise RTCPParseError if invalid."""
    if len(data) < 4:
        raise RTCPParseError("shorter than an RTCP header")
    if data[1] not in (SR, RR):
        raise RTCPParseError(f"a compound packet starts with SR or RR, not type {data[1]}")
    packets: list[RTCPPacket] = []
    offset = 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise RTCPParseError("trailing octets after the last RTCP packet")
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            raise RTCPParseError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RTCPParseError("an RTCP length runs past the end of the datagram")
        body_end = end
        if first & 0x20:
            if end != len(data):
                raise RTCPParseError("only the last packet of a compound may be padded")
            padding = data[end - 1]
            if padding == 0 or padding > 4 * words:
                raise RTCPParseError(f"bad RTCP padding count {padding}")
            body_end -= padding
        packets.append(_parse_one(packet_type, first & 0x1F, data[offset + 4 : body_end]))
        offset = end
    return tuple(packets)


def _parse_one(packet_type: int, count: int, body: bytes) -> RTCPPacket:
    if packet_type == SR:
        need = 4 + _SENDER_INFO.size + 24 * count
        if len(body) < need:
            raise RTCPParseError(f"SR with {count} report blocks needs {need} octets")
        (ssrc,) = struct.unpack_from("!I", body)
        info = SenderInfo(*_SENDER_INFO.unpack_from(body, 4))
        reports = _parse_reports(body, 4 + _SENDER_INFO.size, count)
        return SenderReport(ssrc, info, reports, _extension(body[need:]))
    if packet_type == RR:
        need = 4 + 24 * count
        if len(body) < need:
            raise RTCPParseError(f"RR with {count} report blocks needs {need} octets")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, _parse_reports(body, 4, count), _extension(body[need:]))
    if packet_type == SDES:
        return SourceDescription(_parse_chunks(body, count))
    if packet_type == BYE:
        return _parse_bye(body, count)
    if len(body) % 4:
        raise RTCPParseError("padding leaves a partial word in an opaque packet")
    return UnknownRTCP(packet_type, count, bytes(body))


def _extension(data: bytes) -> bytes:
    if len(data) % 4:
        raise RTCPParseError("padding leaves a partial word in a report extension")
    return bytes(data)


def _parse_reports(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock.parse(body, offset + 24 * i) for i in range(count))


def _parse_chunks(body: bytes, count: int) -> tuple[SDESChunk, ...]:
    chunks = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(body):
            raise RTCPParseError("SDES chunk count exceeds the packet")
        (ssrc,) = struct.unpack_from("!I", body, offset)
        offset += 4
        items = []
        while True:
            if offset >= len(body):
                raise RTCPParseError("SDES item list is not terminated")
            item_type = body[offset]
            if item_type == 0:
                # The terminator, then null octets up to the next 32-bit boundary.
                offset += 1
                offset += -offset % 4
                if offset > len(body):
                    raise RTCPParseError("SDES chunk padding runs past the packet")
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RTCPParseError("SDES item runs past the end of the packet")
            length = body[offset + 1]
            items.append(SDESItem(item_type, bytes(body[offset + 2 : offset + 2 + length])))
            offset += 2 + length
        chunks.append(SDESChunk(ssrc, tuple(items)))
    return tuple(chunks)


def _parse_bye(body: bytes, count: int) -> Bye:
    if len(body) < 4 * count:
        raise RTCPParseError(f"BYE with {count} sources needs {4 * count} octets")
    sources = struct.unpack_from(f"!{count}I", body)
    rest = body[4 * count :]
    reason = None
    if rest:
        if rest[0] + 1 > len(rest):
            raise RTCPParseError("BYE reason runs past the end of the packet")
        reason = bytes(rest[1 : 1 + rest[0]]).decode("utf-8", "replace")
        # Replacement characters take 3 octets: keep what fits the 255 limit.
        while len(reason.encode()) > 255:
            reason = reason[:-1]
    return Bye(tuple(sources), reason)


def reports_about(packets: Sequence[RTCPPacket], ssrc: int) -> list[tuple[int, ReportBlock]]:
    """(reporter SSRC, block) for every report block about `ssrc` in a compound."""
    found: list[tuple[int, ReportBlock]] = []
    for packet in packets:
        if isinstance(packet, SenderReport | ReceiverReport):
            found.extend((packet.ssrc, block) for block in packet.reports if block.ssrc == ssrc)
    return found
