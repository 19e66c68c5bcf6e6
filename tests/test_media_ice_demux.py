"""RFC 7983 demultiplexing of the RTP socket's datagrams by their first byte."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.ice.channeldata import ChannelData
from sipsimple_services.media.ice.demux import Kind, classify
from sipsimple_services.media.ice.stun import Class, Message, Method, encode


def test_each_protocol_by_its_first_byte() -> None:
    stun = encode(Message(Method.BINDING, Class.REQUEST, b"x" * 12))
    assert classify(stun) is Kind.STUN
    assert classify(ChannelData(0x4000, b"audio").encode()) is Kind.CHANNEL_DATA
    assert classify(bytes([0x80, 0]) + b"rtp") is Kind.RTP
    assert classify(bytes([0x81, 200])) is Kind.RTP  # RTCP SR shares the range
    assert classify(bytes([22, 254, 253])) is Kind.DTLS
    assert classify(bytes([16])) is Kind.ZRTP
    assert classify(b"") is Kind.UNKNOWN
    assert classify(bytes([200])) is Kind.UNKNOWN


@given(st.integers(0, 255))
def test_ranges(first: int) -> None:
    kind = classify(bytes([first]))
    expected = (
        Kind.STUN
        if first <= 3
        else Kind.ZRTP
        if 16 <= first <= 19
        else Kind.DTLS
        if 20 <= first <= 63
        else Kind.CHANNEL_DATA
        if 64 <= first <= 79
        else Kind.RTP
        if 128 <= first <= 191
        else Kind.UNKNOWN
    )
    assert kind is expected
