"""Compound RTCP: SR, RR, SDES, BYE, opaque packets, the A.2 validity checks."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReportBlock,
    RTCPPacket,
    RTCPParseError,
    SDESChunk,
    SDESItem,
    SenderInfo,
    SenderReport,
    SourceDescription,
    UnknownRTCP,
    parse_compound,
    reports_about,
    serialize_compound,
)

BLOCK = ReportBlock(
    ssrc=0x11111111,
    fraction_lost=64,
    cumulative_lost=-3,
    highest_sequence=(2 << 16) | 500,
    jitter=80,
    lsr=0x12345678,
    dlsr=0x00010000,
)


def test_sender_report_by_hand() -> None:
    report = SenderReport(
        0xAABBCCDD, SenderInfo((3_900_000_000 << 32) | 0x80000000, 1600, 10, 1600), (BLOCK,)
    )
    data = serialize_compound([report])
    # V=2, RC=1, PT=200, length = 12 words (header excluded) for one block.
    assert data[:4] == bytes((0x81, 200, 0, 12))
    assert len(data) == 52
    # cumulative lost -3 is 0xfffffd in 24 bits, after the fraction octet.
    assert data[32:36] == bytes((64, 0xFF, 0xFF, 0xFD))
    assert parse_compound(data) == (report,)


def test_compound_with_sdes_bye_and_app() -> None:
    packets: tuple[RTCPPacket, ...] = (
        ReceiverReport(1, (BLOCK,)),
        SourceDescription.with_cname(1, "alice@example.com"),
        UnknownRTCP(204, 3, b"NAME" + b"data"),
        Bye((1, 2), "shutting down"),
    )
    data = serialize_compound(packets)
    parsed = parse_compound(data)
    assert parsed == packets
    sdes = parsed[1]
    assert isinstance(sdes, SourceDescription) and sdes.chunks[0].cname == "alice@example.com"
    assert reports_about(parsed, 0x11111111) == [(1, BLOCK)]
    assert reports_about(parsed, 5) == []


def test_sdes_chunk_padding() -> None:
    # "ab" as CNAME: 4 (ssrc) + 2 + 2 = 8 octets, then a whole word of zeros
    # (an item list always ends with at least one null octet).
    chunk = SDESChunk(7, (SDESItem(1, b"ab"),))
    assert chunk.serialize() == struct.pack("!I", 7) + b"\x01\x02ab" + bytes(4)
    assert SDESChunk(7).cname is None


def test_padding_on_the_last_packet() -> None:
    rr = serialize_compound([ReceiverReport(9)])
    bye = bytearray(serialize_compound([Bye((9,))]))
    bye[0] |= 0x20
    bye[3] += 1
    bye += b"\x00\x00\x00\x04"
    assert parse_compound(rr + bytes(bye)) == (ReceiverReport(9), Bye((9,)))


def _rr() -> bytes:
    return serialize_compound([ReceiverReport(9, (BLOCK,))])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\xc9", "shorter"),
        (serialize_compound([SourceDescription.with_cname(1, "x")]), "starts with SR or RR"),
        (b"\x40" + _rr()[1:], "version"),
        (_rr() + b"\x40\xcb\x00\x00", "version"),
        (_rr()[:-4], "past the end"),
        (_rr() + b"\x81\xcb", "trailing"),
        # RC says two blocks, the length holds one.
        (b"\x82" + _rr()[1:], "needs"),
        (bytes((0xA1,)) + _rr()[1:] + _rr(), "only the last"),
        (bytes((0xA1,)) + _rr()[1:-1] + b"\x00", "padding"),
        (bytes((0xA1,)) + _rr()[1:-1] + b"\xff", "padding"),
        (_rr() + b"\x82\xcb\x00\x01" + bytes(4), "BYE with 2"),
        (_rr() + b"\x81\xcb\x00\x02" + bytes(4) + b"\x09abc", "reason"),
        (_rr() + b"\x81\xca\x00\x02" + bytes(4) + b"\x01\x09abc", "SDES item"),
        (_rr() + b"\x81\xca\x00\x02" + bytes(4) + b"\x01\x02ab", "not terminated"),
        (_rr() + b"\x82\xca\x00\x02" + bytes(4) + b"\x01\x01a\x00", "chunk count"),
    ],
)
def test_invalid_compounds(data: bytes, message: str) -> None:
    with pytest.raises(RTCPParseError, match=message):
        parse_compound(data)


def test_invalid_values() -> None:
    with pytest.raises(ValueError):
        ReportBlock(1, 256, 0, 0, 0)
    with pytest.raises(ValueError):
        ReportBlock(1, 0, 1 << 23, 0, 0)
    with pytest.raises(ValueError):
        ReceiverReport(1, (BLOCK,) * 32)
    with pytest.raises(ValueError):
        Bye((1,), "x" * 256)
    with pytest.raises(ValueError):
        UnknownRTCP(204, 0, b"abc")
    with pytest.raises(ValueError):
        SDESItem(0, b"")


def test_bye_reason_with_bad_utf8_is_kept_within_limits() -> None:
    data = _rr() + b"\x81\xcb\x00\x41" + bytes(4) + b"\xff" + b"\xff" * 255
    bye = parse_compound(data)[1]
    assert isinstance(bye, Bye) and bye.reason is not None
    assert bye.reason.startswith("\ufffd") and len(bye.reason.encode()) <= 255


u32 = st.integers(0, 0xFFFFFFFF)
blocks = st.builds(
    ReportBlock,
    ssrc=u32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-(1 << 23), (1 << 23) - 1),
    highest_sequence=u32,
    jitter=u32,
    lsr=u32,
    dlsr=u32,
)
extensions = st.lists(st.binary(min_size=4, max_size=4), max_size=3).map(b"".join)
sender_reports = st.builds(
    SenderReport,
    ssrc=u32,
    sender_info=st.builds(SenderInfo, st.integers(0, (1 << 64) - 1), u32, u32, u32),
    reports=st.lists(blocks, max_size=3).map(tuple),
    extension=extensions,
)
receiver_reports = st.builds(
    ReceiverReport, ssrc=u32, reports=st.lists(blocks, max_size=3).map(tuple), extension=extensions
)
items = st.builds(SDESItem, st.integers(1, 255), st.binary(max_size=20))
sdes = st.builds(
    SourceDescription,
    st.lists(st.builds(SDESChunk, u32, st.lists(items, max_size=3).map(tuple)), max_size=3).map(
        tuple
    ),
)
byes = st.builds(
    Bye,
    st.lists(u32, max_size=4).map(tuple),
    st.none() | st.text(max_size=30).filter(lambda text: len(text.encode()) <= 255),
)
unknown = st.builds(
    UnknownRTCP, st.sampled_from([204, 205, 206, 207]), st.integers(0, 31), extensions
)
followers = st.lists(sdes | byes | unknown | receiver_reports, max_size=4)
compounds = st.tuples(sender_reports | receiver_reports, followers).map(
    lambda pair: (pair[0], *pair[1])
)


@given(compounds)
def test_round_trip(packets: tuple[RTCPPacket, ...]) -> None:
    assert parse_compound(serialize_compound(packets)) == packets


@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        parsed = parse_compound(data)
    except RTCPParseError:
        return
    assert isinstance(parsed[0], SenderReport | ReceiverReport)


@given(compounds, st.binary(max_size=64), st.integers(0, 1000))
def test_corrupted_compounds_raise_only_parse_errors(
    packets: tuple[RTCPPacket, ...], garbage: bytes, position: int
) -> None:
    data = serialize_compound(packets)
    position %= len(data) + 1
    corrupted = data[:position] + garbage + data[position + len(garbage) :]
    try:
        parsed = parse_compound(corrupted)
    except RTCPParseError:
        return
    assert serialize_compound(parsed)[:4] == corrupted[:4] or corrupted[0] & 0x20
