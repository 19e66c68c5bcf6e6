"""Reading the formats of an RTP m-line: rtpmap, the static table, what is left out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core.sdp import SDPAttribute, SDPMediaStream
from sipsimple.streams.rtp.codecs import (
    AUDIO_CODECS,
    RTPFormat,
    canonical_codec_name,
    media_formats,
)


def media(formats: list[str], *attributes: str) -> SDPMediaStream:
    parsed = [SDPAttribute(*a.split(":", 1)) for a in attributes]
    return SDPMediaStream("audio", 4000, "RTP/AVP", formats=formats, attributes=parsed)


def test_rtpmap_and_static_types() -> None:
    found = media_formats(
        media(
            ["96", "0", "9", "18", "101"],
            "rtpmap:96 opus/48000/2",
            "fmtp:96 useinbandfec=1",
            "rtpmap:101 telephone-event/8000",
            "fmtp:101 0-16",
        )
    )
    assert found == [
        RTPFormat(96, "opus", 48000, 2, "useinbandfec=1"),
        RTPFormat(0, "PCMU", 8000, 1),
        RTPFormat(9, "G722", 8000, 1),
        RTPFormat(18, "G729", 8000, 1),
        RTPFormat(101, "telephone-event", 8000, 1, "0-16"),
    ]
    assert [f.codec.name if f.codec else None for f in found] == [
        "opus", "PCMU", "G722", None, None,
    ]
    assert found[4].is_telephone_event
    assert found[0].rtpmap == "96 opus/48000/2"
    assert found[1].rtpmap == "0 PCMU/8000"


def test_what_cannot_be_read_is_left_out() -> None:
    found = media_formats(
        media(
            ["97", "x", "200", "0", "0", "98", "1000", "08"],
            "rtpmap:98 PCMA",  # no clock rate
            "rtpmap:200 PCMA/8000",
        )
    )
    assert [f.payload_type for f in found] == [0]  # 97 has no rtpmap; 0 only once


def test_codec_matching_rules() -> None:
    assert RTPFormat(9, "g722", 8000, 1).codec is AUDIO_CODECS["G722"]
    assert RTPFormat(9, "G722", 16000, 1).codec is None  # RFC 3551 says 8000
    assert RTPFormat(96, "OPUS", 48000, 1).codec is AUDIO_CODECS["opus"]  # forgiven slip
    assert RTPFormat(96, "opus", 16000, 2).codec is None
    assert RTPFormat(0, "PCMU", 8000, 2).codec is None
    assert RTPFormat(96, "speex", 16000, 1).codec is None
    assert canonical_codec_name("pcma") == "PCMA"
    assert canonical_codec_name("iLBC") is None
    assert canonical_codec_name(None) is None  # type: ignore[arg-type]


@settings(max_examples=300)
@given(
    formats=st.lists(st.text(alphabet="0123456789x", min_size=1, max_size=4), max_size=8),
    rtpmaps=st.lists(st.text(max_size=40).filter(lambda v: "\r" not in v and "\n" not in v),
                     max_size=6),
)
def test_arbitrary_rtpmaps_never_raise(formats: list[str], rtpmaps: list[str]) -> None:
    found = media_formats(
        SDPMediaStream(
            "audio", 4000, "RTP/AVP", formats=formats,
            attributes=[SDPAttribute("rtpmap", v) for v in rtpmaps],
        )
    )
    for fmt in found:
        assert 0 <= fmt.payload_type <= 127
        assert str(fmt.payload_type) in formats
        assert fmt.clock_rate > 0
