"""RTP packets: header fields, padding, CSRCs, extensions, malformed input, rtcp-mux."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.packet import (
    HeaderExtension,
    RTPPacket,
    RTPParseError,
    looks_like_rtcp,
    parse_rtp,
)

# A PCMU packet as a peer would send it: V=2, M=1, PT=0, seq 0x1234,
# timestamp 0x01020304, SSRC 0xdeadbeef, 4 payload octets.
SAMPLE = bytes.fromhex("8080123401020304deadbeef") + b"\xff\xfe\xfd\xfc"


def test_parse_fields() -> None:
    packet = parse_rtp(SAMPLE)
    assert packet == RTPPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=0x01020304,
        ssrc=0xDEADBEEF,
        payload=b"\xff\xfe\xfd\xfc",
        marker=True,
    )
    assert packet.serialize() == SAMPLE


def test_csrc_extension_and_padding() -> None:
    data = (
        bytes((0x80 | 0x20 | 0x10 | 2, 96))
        + struct.pack("!HII", 7, 160, 42)
        + struct.pack("!II", 1, 2)
        + struct.pack("!HH", 0xBEDE, 1)
        + b"\x10\xaa\x00\x00"
        + b"payload"
        + b"\x00\x00\x03"
    )
    packet = parse_rtp(data)
    assert packet.csrc == (1, 2)
    assert packet.extension == HeaderExtension(0xBEDE, b"\x10\xaa\x00\x00")
    assert packet.payload == b"payload"
    assert packet.padding == 3
    assert not packet.marker and packet.payload_type == 96
    assert packet.serialize() == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter"),
        (SAMPLE[:11], "shorter"),
        (b"\x40" + SAMPLE[1:], "version 1"),
        (b"\xc0" + SAMPLE[1:], "version 3"),
        (b"\xa0" + SAMPLE[1:-1] + b"\x00", "count of zero"),
        (b"\xa0" + SAMPLE[1:-1] + b"\x05", "longer than"),
        (b"\x82" + SAMPLE[1:], "CSRC"),
        (b"\x90" + SAMPLE[1:12], "extension"),
        (b"\x90" + SAMPLE[1:12] + b"\x00\x00\x00\x02" + b"abcd", "extension"),
        # The padding eats the extension header.
        (b"\xb0" + SAMPLE[1:12] + b"\x00\x00\x00\x00\x00\x00\x00\x05", "extension"),
    ],
)
def test_malformed(data: bytes, message: str) -> None:
    with pytest.raises(RTPParseError, match=message):
        parse_rtp(data)


def test_values_are_checked() -> None:
    with pytest.raises(ValueError):
        RTPPacket(128, 0, 0, 0)
    with pytest.raises(ValueError):
        RTPPacket(0, 0x10000, 0, 0)
    with pytest.raises(ValueError):
        RTPPacket(0, 0, 1 << 32, 0)
    with pytest.raises(ValueError):
        RTPPacket(0, 0, 0, 0, csrc=tuple(range(16)))
    with pytest.raises(ValueError):
        RTPPacket(0, 0, 0, 0, padding=256)
    with pytest.raises(ValueError):
        HeaderExtension(1, b"abc")


def test_looks_like_rtcp() -> None:
    # SR (200), RR (201) and every type up to 223 are RTCP; PCMU and dynamic
    # payload types, with or without the marker, are RTP.
    for packet_type in (192, 200, 201, 202, 203, 204, 223):
        assert looks_like_rtcp(bytes((0x80, packet_type, 0, 1)))
    for second in (0, 8, 96, 127, 0x80, 0x80 | 96, 0x80 | 127, 0x80 | 63):
        assert not looks_like_rtcp(bytes((0x80, second, 0, 1)))
    assert not looks_like_rtcp(b"\x80")


words = st.integers(0, 0xFFFFFFFF)
packets = st.builds(
    RTPPacket,
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=words,
    ssrc=words,
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrc=st.lists(words, max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        HeaderExtension,
        profile=st.integers(0, 0xFFFF),
        data=st.lists(st.binary(min_size=4, max_size=4), max_size=4).map(b"".join),
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_round_trip(packet: RTPPacket) -> None:
    assert parse_rtp(packet.serialize()) == packet


@given(st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except RTPParseError:
        return
    # What parses serializes back to the same bytes (padding content aside).
    again = packet.serialize()
    assert (
        len(again) == len(data)
        and again[: len(data) - packet.padding] == data[: len(data) - packet.padding]
    )


@given(st.binary(min_size=12, max_size=80))
def test_version_two_headers_with_garbage(data: bytes) -> None:
    # Most random bytes fail the version check; force it to explore the rest.
    data = bytes((0x80 | (data[0] & 0x3F),)) + data[1:]
    try:
        packet = parse_rtp(data)
    except RTPParseError:
        return
    assert packet.sequence_number == int.from_bytes(data[2:4], "big")
    assert packet.ssrc == int.from_bytes(data[8:12], "big")
    assert len(packet.serialize()) == len(data)
