"""TURN ChannelData framing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.ice.channeldata import ChannelData
from sipsimple_services.media.ice.stun import StunError


def test_encoding_and_padding() -> None:
    frame = ChannelData(0x4001, b"hello")
    assert frame.encode() == b"\x40\x01\x00\x05hello"
    assert frame.encode(pad=True) == b"\x40\x01\x00\x05hello\x00\x00\x00"
    assert ChannelData.parse(frame.encode(pad=True)) == frame


@pytest.mark.parametrize(
    "data", [b"", b"\x40\x00\x00", b"\x40\x00\x00\x05abc", b"\x50\x00\x00\x00"]
)
def test_bad_frames(data: bytes) -> None:
    with pytest.raises(StunError):
        ChannelData.parse(data)


def test_channel_numbers_outside_the_range() -> None:
    for channel in (0x3FFF, 0x5000):
        with pytest.raises(StunError):
            ChannelData(channel, b"")


@given(st.integers(0x4000, 0x4FFF), st.binary(max_size=300), st.booleans())
def test_round_trip(channel: int, data: bytes, pad: bool) -> None:
    assert ChannelData.parse(ChannelData(channel, data).encode(pad)) == ChannelData(channel, data)


@given(st.binary(max_size=64))
def test_any_bytes_parse_or_raise_the_codec_error(data: bytes) -> None:
    with contextlib.suppress(StunError):
        ChannelData.parse(data)
