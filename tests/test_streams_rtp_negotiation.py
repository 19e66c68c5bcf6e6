"""Audio offer/answer: offers we build, answers to hand-written peer offers, answers we read."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sipsimple.core.sdp import (
    FrozenSDPSession,
    SDPConnection,
    SDPMediaStream,
    SDPNegotiationError,
    SDPSession,
)
from sipsimple.streams.rtp import (
    AudioConfig,
    CryptoAttribute,
    NegotiatedMedia,
    answer_audio_offer,
    build_audio_offer,
    check_audio_offer,
    negotiate_answer,
    srtp_policy,
)

KEY_1 = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
KEY_2 = "PS1uQCVeeXY2R2xmMkdxZ2NDKjdoV3gxR3h0NlhF"
KEY_3 = "bmFwYXNzd29yZF9mb3JfdGVzdGluZ19vbmx5XzEy"

# A baresip-like offer: opus first, SRTP mandatory (RTP/SAVP), rtcp-mux, a
# suite we do not run before the ones we do.
BARESIP_OFFER = f"""v=0
o=- 1791271530 3442876297 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 10000 RTP/SAVP 96 9 0 8 101
b=AS:128
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:1502452413 cname:8d2b6e3f-20ab-4ba8-aa85-3d2f4c0e10f1
a=rtcp-mux
a=crypto:1 AEAD_AES_256_GCM inline:{KEY_1}{KEY_2}
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_2}
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{KEY_3}
a=ptime:20
"""

# A pjsua-like offer: G.722 first, speex and iLBC we do not have,
# telephone-event on 96, RTCP announced with a=rtcp, no SRTP.
PJSUA_OFFER = """v=0
o=- 3912345678 3912345678 IN IP4 192.0.2.20
s=pjmedia
b=AS:84
t=0 0
a=X-nat:0
m=audio 4000 RTP/AVP 98 97 99 104 9 8 0 96
c=IN IP4 192.0.2.20
b=TIAS:64000
a=rtcp:4001 IN IP4 192.0.2.20
a=sendrecv
a=rtpmap:98 speex/16000
a=rtpmap:97 speex/8000
a=rtpmap:99 speex/32000
a=rtpmap:104 iLBC/8000
a=fmtp:104 mode=30
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=ssrc:1139454364 cname:61e3b2f05aa46a57
"""

# pjsua with SRTP optional: RTP/AVP with a=crypto, opus on 111, ptime 30.
PJSUA_SRTP_OFFER = f"""v=0
o=- 3912345679 3912345679 IN IP4 192.0.2.21
s=pjmedia
t=0 0
m=audio 4002 RTP/AVP 111 0 8 120 121
c=IN IP4 192.0.2.21
a=rtpmap:111 opus/48000/2
a=fmtp:111 useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:120 telephone-event/48000
a=rtpmap:121 telephone-event/8000
a=ptime:30
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_2}
a=sendrecv
"""

# Captured from pjsua2 2.15.1 (PyPI) with srtpUse=1 (optional): speex, iLBC and
# GSM first, telephone-event at three clocks, AES-256 suites before ours.
AES_256_KEY_1 = "L1gCvcr7FX3Wx0988xe5p6AjQIGCHAvBtJQvOKLRYgsRguWAb65o72Tw6J2v/w=="
AES_256_KEY_2 = "CRNAdNk/tdpstH4uqGxchKnvNyNxPtVsOEafnFml7g1nhICZ7w98z9mOwSvxuA=="
PJSUA2_CAPTURED_OFFER = f"""v=0
o=- 4004779712 4004779712 IN IP4 192.0.2.2
s=pjmedia
b=AS:84
t=0 0
a=X-nat:0
m=audio 4000 RTP/AVP 96 97 98 99 3 0 8 9 120 121 122
c=IN IP4 192.0.2.2
b=TIAS:64000
a=rtcp:4001 IN IP4 192.0.2.2
a=sendrecv
a=rtpmap:96 speex/16000
a=rtpmap:97 speex/8000
a=rtpmap:98 speex/32000
a=rtpmap:99 iLBC/8000
a=fmtp:99 mode=30
a=rtpmap:3 GSM/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:120 telephone-event/16000
a=fmtp:120 0-16
a=rtpmap:121 telephone-event/8000
a=fmtp:121 0-16
a=rtpmap:122 telephone-event/32000
a=fmtp:122 0-16
a=ssrc:887820752 cname:1e07f6441a0f2d98
a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{AES_256_KEY_1}
a=crypto:2 AES_256_CM_HMAC_SHA1_32 inline:{AES_256_KEY_2}
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:zYiiU9Lfbg4s1bMD/dkpfo8NvUA2u7VP/Nx7CZd6
a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:1jV85mbPZ3aWvbf39MwrS0dSPz3hh6QZe5Sizki8
"""

# An old UA: static payload types without rtpmap, no telephone-event.
MINIMAL_OFFER = """v=0
o=- 1 1 IN IP4 192.0.2.30
s=-
c=IN IP4 192.0.2.30
t=0 0
m=audio 20000 RTP/AVP 18 8 0
"""


def parse(text: str) -> FrozenSDPSession:
    return FrozenSDPSession.parse(text)


def answer(
    offer_text: str, config: AudioConfig, **kwargs: Any
) -> tuple[SDPMediaStream, NegotiatedMedia]:
    return answer_audio_offer(parse(offer_text), 0, config, "198.51.100.1", 30000, **kwargs)


def session_with(media: SDPMediaStream, address: str = "198.51.100.1") -> FrozenSDPSession:
    session = SDPSession(address, connection=SDPConnection(address))
    session.media.append(media)
    return FrozenSDPSession.new(session)


# ---- offers ----


def test_default_offer() -> None:
    media = build_audio_offer(AudioConfig(), "198.51.100.1", 30000)
    assert (media.media, media.port, media.transport) == ("audio", 30000, "RTP/AVP")
    assert media.formats == ["96", "9", "0", "8", "101", "102"]
    assert media.attributes.getall("rtpmap") == [
        "96 opus/48000/2",
        "9 G722/8000",
        "0 PCMU/8000",
        "8 PCMA/8000",
        "101 telephone-event/8000",
        "102 telephone-event/48000",
    ]
    assert media.attributes.getall("fmtp") == ["101 0-16", "102 0-16"]
    assert media.attributes.getfirst("ptime") == "20"
    assert "rtcp-mux" in media.attributes
    assert "rtcp" not in media.attributes
    crypto = [CryptoAttribute.parse(v) for v in media.attributes.getall("crypto")]
    assert [(c.tag, c.suite) for c in crypto] == [
        (1, "AES_CM_128_HMAC_SHA1_80"),
        (2, "AES_CM_128_HMAC_SHA1_32"),
    ]
    assert crypto[0].key != crypto[1].key
    assert media.direction == "sendrecv"
    assert media.connection is not None and media.connection.address == "198.51.100.1"
    assert str(media)  # serializes


@pytest.mark.parametrize(
    ("codecs", "formats"),
    [
        (("PCMU", "opus"), ["0", "96", "101", "102"]),
        (("pcma",), ["8", "101"]),
        (("G722", "PCMU"), ["9", "0", "101"]),
        (("opus",), ["96", "101", "102"]),  # events at 8000 always, at 48000 for opus
    ],
)
def test_offer_follows_the_codec_order(codecs: tuple[str, ...], formats: list[str]) -> None:
    media = build_audio_offer(AudioConfig(codecs=codecs), "198.51.100.1", 30000)
    assert media.formats == formats


@pytest.mark.parametrize(
    ("policy", "transport", "crypto_lines"),
    [("disabled", "RTP/AVP", 0), ("optional", "RTP/AVP", 2), ("mandatory", "RTP/SAVP", 2)],
)
def test_offer_follows_the_srtp_policy(policy: Any, transport: str, crypto_lines: int) -> None:
    media = build_audio_offer(AudioConfig(srtp=policy), "198.51.100.1", 30000)
    assert media.transport == transport
    assert len(media.attributes.getall("crypto")) == crypto_lines


def test_offer_options() -> None:
    config = AudioConfig(codecs=("PCMU",), rtcp_mux=False, telephone_event=False, ptime=30)
    media = build_audio_offer(config, "2001:db8::1", 30000, rtcp_port=30005, direction="sendonly")
    assert media.formats == ["0"]
    assert media.attributes.getfirst("rtcp") == "30005"
    assert "rtcp-mux" not in media.attributes
    assert media.attributes.getfirst("ptime") == "30"
    assert media.direction == "sendonly"
    assert media.connection is not None and media.connection.address_type == "IP6"


def test_config_is_checked() -> None:
    assert AudioConfig(codecs=("pcmu", "PCMU", "OPUS")).codecs == ("PCMU", "opus")
    for bad in [
        {"codecs": ("G729",)},
        {"codecs": ()},
        {"codecs": "PCMU"},
        {"srtp": "sdes_optional"},
        {"ptime": 0},
    ]:
        with pytest.raises(ValueError):
            AudioConfig(**bad)


@pytest.mark.parametrize(
    ("enabled", "negotiation", "policy"),
    [
        (False, "sdes_mandatory", "disabled"),
        (True, "sdes_optional", "optional"),
        (True, "sdes_mandatory", "mandatory"),
    ],
)
def test_srtp_policy_from_settings(enabled: bool, negotiation: str, policy: str) -> None:
    assert srtp_policy(enabled, negotiation) == policy


# ---- answering offers ----

ANSWER_TABLE = [
    # offer, config, codec, payload type, telephone-event pt, SRTP suite, mux, rtcp port
    (BARESIP_OFFER, AudioConfig(), "opus", 96, 101, "AES_CM_128_HMAC_SHA1_32", True, 10000),
    (BARESIP_OFFER, AudioConfig(srtp="mandatory", codecs=("PCMU",)), "PCMU", 0, 101,
     "AES_CM_128_HMAC_SHA1_32", True, 10000),
    (BARESIP_OFFER, AudioConfig(rtcp_mux=False), "opus", 96, 101, "AES_CM_128_HMAC_SHA1_32",
     False, 10001),
    (PJSUA_OFFER, AudioConfig(), "G722", 9, 96, None, False, 4001),
    (PJSUA_OFFER, AudioConfig(codecs=("PCMU", "PCMA")), "PCMA", 8, 96, None, False, 4001),
    (PJSUA_OFFER, AudioConfig(codecs=("PCMU", "PCMA"), prefer_local_order=True), "PCMU", 0,
     96, None, False, 4001),
    (PJSUA_OFFER, AudioConfig(telephone_event=False), "G722", 9, None, None, False, 4001),
    (PJSUA_SRTP_OFFER, AudioConfig(), "opus", 111, 120, "AES_CM_128_HMAC_SHA1_80", False, 4003),
    (PJSUA_SRTP_OFFER, AudioConfig(codecs=("PCMA",)), "PCMA", 8, 121,
     "AES_CM_128_HMAC_SHA1_80", False, 4003),
    (PJSUA_SRTP_OFFER, AudioConfig(srtp="disabled"), "opus", 111, 120, None, False, 4003),
    (PJSUA_SRTP_OFFER, AudioConfig(srtp="mandatory"), "opus", 111, 120,
     "AES_CM_128_HMAC_SHA1_80", False, 4003),
    (MINIMAL_OFFER, AudioConfig(), "PCMA", 8, None, None, False, 20001),
    (PJSUA2_CAPTURED_OFFER, AudioConfig(), "PCMU", 0, 121, "AES_CM_128_HMAC_SHA1_80", False,
     4001),
    (PJSUA2_CAPTURED_OFFER, AudioConfig(codecs=("G722",), srtp="mandatory"), "G722", 9, 121,
     "AES_CM_128_HMAC_SHA1_80", False, 4001),
    (PJSUA2_CAPTURED_OFFER.replace("RTP/AVP", "RTP/SAVP"), AudioConfig(), "PCMU", 0, 121,
     "AES_CM_128_HMAC_SHA1_80", False, 4001),
]


@pytest.mark.parametrize(
    ("offer", "config", "codec", "pt", "event_pt", "suite", "mux", "rtcp_port"), ANSWER_TABLE
)
def test_answer_table(
    offer: str, config: AudioConfig, codec: str, pt: int, event_pt: int | None,
    suite: str | None, mux: bool, rtcp_port: int,
) -> None:
    check_audio_offer(parse(offer), 0, config)
    media, negotiated = answer(offer, config)
    assert negotiated.codec == codec
    assert negotiated.payload_type == negotiated.local_payload_type == pt
    assert negotiated.telephone_event_payload_type == event_pt
    assert negotiated.rtcp_mux is mux
    assert negotiated.remote_rtcp_port == rtcp_port
    offered = parse(offer)
    assert media.transport == offered.media[0].transport  # RFC 3264: the offer's transport
    assert media.formats == [str(pt)] + ([str(event_pt)] if event_pt is not None else [])
    assert ("rtcp-mux" in media.attributes) is mux
    if suite is None:
        assert negotiated.srtp is None and not negotiated.srtp_active
        assert "crypto" not in media.attributes
    else:
        assert negotiated.srtp is not None and negotiated.srtp.suite == suite
        (line,) = media.attributes.getall("crypto")
        ours = CryptoAttribute.parse(line)
        assert (ours.tag, ours.suite, ours.key) == (
            negotiated.srtp.tag, suite, negotiated.srtp.local_key,
        )
        theirs = {
            CryptoAttribute.parse(v).tag: CryptoAttribute.parse(v)
            for v in offered.media[0].attributes.getall("crypto")
            if "AES_CM_128" in v
        }
        assert theirs[ours.tag].key == negotiated.srtp.remote_key
        assert ours.key != negotiated.srtp.remote_key
    assert str(media)


def test_answer_endpoints_and_ptime() -> None:
    _, pjsua = answer(PJSUA_OFFER, AudioConfig())
    assert (pjsua.remote_address, pjsua.remote_port) == ("192.0.2.20", 4000)
    assert (pjsua.remote_rtcp_address, pjsua.remote_rtcp_port) == ("192.0.2.20", 4001)
    assert pjsua.ptime == 20
    assert (pjsua.clock_rate, pjsua.sample_rate) == (8000, 16000)  # G.722
    _, srtp = answer(PJSUA_SRTP_OFFER, AudioConfig())
    assert srtp.ptime == 30
    assert (srtp.clock_rate, srtp.sample_rate, srtp.telephone_event_clock_rate) == (
        48000, 48000, 48000,
    )
    _, baresip = answer(BARESIP_OFFER, AudioConfig())
    assert (baresip.remote_address, baresip.remote_rtcp_address) == ("192.0.2.10", "192.0.2.10")
    assert baresip.remote_rtcp_port == baresip.remote_port == 10000


def test_rtcp_attribute_with_another_address() -> None:
    offer = MINIMAL_OFFER + "a=rtcp:20011 IN IP4 192.0.2.31\n"
    _, negotiated = answer(offer, AudioConfig())
    assert (negotiated.remote_rtcp_address, negotiated.remote_rtcp_port) == ("192.0.2.31", 20011)


@pytest.mark.parametrize(
    ("offered", "local", "answered", "ours"),
    [
        ("sendonly", "sendrecv", "recvonly", "recvonly"),
        ("recvonly", "sendrecv", "sendonly", "sendonly"),
        ("inactive", "sendrecv", "inactive", "inactive"),
        ("sendrecv", "sendonly", "sendonly", "sendonly"),
    ],
)
def test_answer_directions(offered: str, local: str, answered: str, ours: str) -> None:
    offer = MINIMAL_OFFER + f"a={offered}\n"
    media, negotiated = answer(offer, AudioConfig(), direction=local)
    assert media.direction == answered
    assert negotiated.direction == ours


ERROR_TABLE = [
    (BARESIP_OFFER, AudioConfig(srtp="disabled")),  # RTP/SAVP needs SRTP
    (PJSUA_OFFER, AudioConfig(srtp="mandatory")),  # no a=crypto at all
    (BARESIP_OFFER.replace("AES_CM_128_HMAC_SHA1", "AES_256_CM_HMAC_SHA1"), AudioConfig()),
    (PJSUA_SRTP_OFFER.replace("inline:", "inline:x"), AudioConfig(srtp="mandatory")),
    (PJSUA_OFFER, AudioConfig(codecs=("opus",))),  # nothing in common
    (MINIMAL_OFFER.replace("18 8 0", "18 3"), AudioConfig()),
    (MINIMAL_OFFER.replace("RTP/AVP", "RTP/SAVPF"), AudioConfig()),
    (MINIMAL_OFFER.replace("RTP/AVP", "UDP/TLS/RTP/SAVPF"), AudioConfig()),
    (MINIMAL_OFFER.replace("m=audio 20000", "m=audio 0"), AudioConfig()),
    (MINIMAL_OFFER.replace("m=audio", "m=video"), AudioConfig()),
    (MINIMAL_OFFER + "a=rtcp:99999\n", AudioConfig()),
    (MINIMAL_OFFER + "a=rtcp:abc\n", AudioConfig()),
    (MINIMAL_OFFER.replace("m=audio 20000", "m=audio 65535"), AudioConfig()),
    (PJSUA_OFFER.replace("c=IN IP4 192.0.2.20\n", ""), AudioConfig()),  # no c= anywhere
]


@pytest.mark.parametrize(("offer", "config"), ERROR_TABLE)
def test_unanswerable_offers(offer: str, config: AudioConfig) -> None:
    with pytest.raises(SDPNegotiationError) as info:
        check_audio_offer(parse(offer), 0, config)
    assert info.value.status == 488
    assert info.value.warning
    with pytest.raises(SDPNegotiationError):
        answer(offer, config)


def test_optional_srtp_falls_back_to_rtp_when_no_crypto_is_usable() -> None:
    offer = PJSUA_SRTP_OFFER.replace("AES_CM_128_HMAC_SHA1", "F8_128_HMAC_SHA1")
    media, negotiated = answer(offer, AudioConfig())
    assert negotiated.srtp is None
    assert "crypto" not in media.attributes


def test_no_such_m_line() -> None:
    with pytest.raises(SDPNegotiationError):
        check_audio_offer(parse(MINIMAL_OFFER), 1, AudioConfig())


def test_reanswer_keeps_our_key_only_while_the_peer_keeps_its_own() -> None:
    _, first = answer(PJSUA_SRTP_OFFER, AudioConfig())
    assert first.srtp is not None
    _, same = answer(PJSUA_SRTP_OFFER, AudioConfig(), previous=first)
    assert same.srtp is not None and same.srtp.local_key == first.srtp.local_key
    rekeyed_offer = PJSUA_SRTP_OFFER.replace(KEY_1, KEY_3)
    _, changed = answer(rekeyed_offer, AudioConfig(), previous=first)
    assert changed.srtp is not None
    assert changed.srtp.local_key != first.srtp.local_key
    assert changed.srtp.remote_key == base64.b64decode(KEY_3)
    _, fresh = answer(PJSUA_SRTP_OFFER, AudioConfig())  # no previous: always new
    assert fresh.srtp is not None and fresh.srtp.local_key != first.srtp.local_key


# ---- reading answers to our offers ----


def our_offer(config: AudioConfig) -> SDPMediaStream:
    return build_audio_offer(config, "198.51.100.1", 30000)


def remote_answer(body: str) -> FrozenSDPSession:
    return parse("v=0\no=- 5 5 IN IP4 192.0.2.40\ns=-\nc=IN IP4 192.0.2.40\nt=0 0\n" + body)


def test_the_answerers_first_codec_is_used_with_its_numbers() -> None:
    offer = our_offer(AudioConfig())
    result = negotiate_answer(
        offer,
        remote_answer(
            "m=audio 5000 RTP/AVP 0 111 100\na=rtpmap:111 opus/48000/2\n"
            "a=rtpmap:100 telephone-event/8000\na=ptime:40\na=recvonly\n"
        ),
        0,
        AudioConfig(),
    )
    assert (result.codec, result.payload_type, result.local_payload_type) == ("PCMU", 0, 0)
    assert (result.telephone_event_payload_type, result.local_telephone_event_payload_type) == (
        100, 101,
    )
    assert (result.remote_address, result.remote_port, result.remote_rtcp_port) == (
        "192.0.2.40", 5000, 5001,
    )
    assert result.ptime == 40
    assert result.direction == "sendonly"
    assert result.srtp is None and not result.rtcp_mux

    renumbered = negotiate_answer(
        offer, remote_answer("m=audio 5000 RTP/AVP 111\na=rtpmap:111 OPUS/48000/2\n"), 0,
        AudioConfig(),
    )
    assert (renumbered.codec, renumbered.payload_type, renumbered.local_payload_type) == (
        "opus", 111, 96,
    )
    assert renumbered.telephone_event_payload_type is None


def test_answer_with_crypto_and_mux() -> None:
    offer = our_offer(AudioConfig())
    ours = CryptoAttribute.parse(offer.attributes.getall("crypto")[1])
    result = negotiate_answer(
        offer,
        remote_answer(
            "m=audio 5000 RTP/AVP 9 101\na=rtpmap:101 telephone-event/8000\na=rtcp-mux\n"
            f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_2}\n"
        ),
        0,
        AudioConfig(),
    )
    assert result.srtp is not None
    assert (result.srtp.suite, result.srtp.tag) == ("AES_CM_128_HMAC_SHA1_32", 2)
    assert result.srtp.local_key == ours.key
    assert result.srtp.remote_key == base64.b64decode(KEY_2)
    assert result.rtcp_mux and result.remote_rtcp_port == 5000
    assert result.codec == "G722" and result.telephone_event_payload_type == 101


def test_savp_answer_to_an_optional_offer_is_accepted() -> None:
    result = negotiate_answer(
        our_offer(AudioConfig()),
        remote_answer(
            f"m=audio 5000 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}\n"
        ),
        0,
        AudioConfig(),
    )
    assert result.srtp_active


def test_plain_answer_to_an_optional_offer_is_plain_rtp() -> None:
    result = negotiate_answer(
        our_offer(AudioConfig()), remote_answer("m=audio 5000 RTP/AVP 8\n"), 0, AudioConfig()
    )
    assert result.codec == "PCMA" and result.srtp is None


def test_rekeyed_reoffer_and_kept_key() -> None:
    offer = our_offer(AudioConfig())
    first = negotiate_answer(
        offer,
        remote_answer(
            f"m=audio 5000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}\n"
        ),
        0,
        AudioConfig(),
    )
    assert first.srtp is not None
    again = build_audio_offer(AudioConfig(), "198.51.100.1", 30000, previous=first)
    kept = [CryptoAttribute.parse(v) for v in again.attributes.getall("crypto")]
    assert kept[0].key == first.srtp.local_key
    rekeyed = build_audio_offer(AudioConfig(), "198.51.100.1", 30000, previous=first, rekey=True)
    fresh = [CryptoAttribute.parse(v) for v in rekeyed.attributes.getall("crypto")]
    assert first.srtp.local_key not in {c.key for c in fresh}


ANSWER_ERRORS = [
    (AudioConfig(), "m=audio 0 RTP/AVP 0\n"),  # rejected
    (AudioConfig(), "m=audio 5000 RTP/AVP 18\n"),  # a codec we did not offer
    (AudioConfig(codecs=("PCMA",)), "m=audio 5000 RTP/AVP 0\n"),  # not offered
    (AudioConfig(), f"m=audio 5000 RTP/AVP 0\na=crypto:7 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}\n"),
    (AudioConfig(), f"m=audio 5000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY_1}\n"),
    (AudioConfig(), "m=audio 5000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:short\n"),
    (AudioConfig(), f"m=audio 5000 RTP/AVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}"
     f"\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_2}\n"),
    (AudioConfig(), "m=audio 5000 RTP/SAVP 0\n"),  # SAVP without a key
    (AudioConfig(srtp="mandatory"), "m=audio 5000 RTP/SAVP 0\n"),
    (AudioConfig(srtp="disabled"), f"m=audio 5000 RTP/SAVP 0\na=crypto:1 "
     f"AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}\n"),
    (AudioConfig(), "m=audio 5000 RTP/SAVPF 0\n"),
]


@pytest.mark.parametrize(("config", "body"), ANSWER_ERRORS)
def test_unusable_answers(config: AudioConfig, body: str) -> None:
    with pytest.raises(SDPNegotiationError):
        negotiate_answer(our_offer(config), remote_answer(body), 0, config)


def test_a_full_exchange_between_two_of_us() -> None:
    alice_config = AudioConfig(codecs=("opus", "PCMU"), srtp="mandatory")
    bob_config = AudioConfig(codecs=("PCMU", "opus"), srtp="optional")
    offer = build_audio_offer(alice_config, "198.51.100.1", 30000)
    answer_media, bob = answer_audio_offer(
        session_with(offer), 0, bob_config, "198.51.100.2", 40000
    )
    alice = negotiate_answer(offer, session_with(answer_media, "198.51.100.2"), 0, alice_config)
    assert alice.codec == bob.codec == "opus"
    assert alice.payload_type == bob.local_payload_type
    assert alice.srtp is not None and bob.srtp is not None
    assert alice.srtp.local_key == bob.srtp.remote_key
    assert alice.srtp.remote_key == bob.srtp.local_key
    assert alice.telephone_event_clock_rate == bob.telephone_event_clock_rate == 48000
    assert (alice.remote_port, bob.remote_port) == (40000, 30000)
    assert alice.rtcp_mux and bob.rtcp_mux


# ---- anything a peer can send ----

_ATTRIBUTES = st.sampled_from(
    [
        "a=rtpmap:96 opus/48000/2", "a=rtpmap:96 opus/48000", "a=rtpmap:97 G722/16000",
        "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=rtpmap:x y",
        "a=rtpmap:200 PCMA/8000", "a=rtpmap:98 PCMA/0", "a=fmtp:101 0-15", "a=fmtp:",
        "a=ptime:abc", "a=ptime:0", "a=ptime:30", "a=rtcp:", "a=rtcp:5001 IN IP6 ::1",
        "a=rtcp-mux", "a=sendonly", "a=inactive",
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY_1}", "a=crypto:",
        f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY_2}|2^20|1:4", "a=crypto:1 x y z",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    transport=st.sampled_from(["RTP/AVP", "RTP/SAVP", "RTP/SAVPF", "rtp/avp"]),
    formats=st.lists(st.sampled_from(["0", "8", "9", "18", "96", "97", "98", "101", "200", "x"]),
                     min_size=1, max_size=6),
    attributes=st.lists(_ATTRIBUTES, max_size=10),
    config=st.builds(
        AudioConfig,
        codecs=st.lists(st.sampled_from(["opus", "G722", "PCMU", "PCMA"]), min_size=1, unique=True)
        .map(tuple),
        srtp=st.sampled_from(["disabled", "optional", "mandatory"]),
        rtcp_mux=st.booleans(),
        prefer_local_order=st.booleans(),
    ),
)
def test_arbitrary_offers_are_answered_or_refused_with_488(
    transport: str, formats: list[str], attributes: list[str], config: AudioConfig
) -> None:
    text = (
        "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
        f"m=audio 7000 {transport} {' '.join(formats)}\n" + "".join(a + "\n" for a in attributes)
    )
    offer = parse(text)
    try:
        media, negotiated = answer_audio_offer(offer, 0, config, "198.51.100.1", 30000)
    except SDPNegotiationError as exc:
        assert exc.status == 488
        event("refused")
        return
    event("answered with SRTP" if negotiated.srtp_active else "answered with RTP")
    assert negotiated.codec in config.codecs
    assert str(negotiated.payload_type) in offer.media[0].formats
    assert negotiated.srtp_active == ("crypto" in media.attributes)
    if config.srtp == "mandatory" or transport == "RTP/SAVP":
        assert negotiated.srtp_active
    if config.srtp == "disabled":
        assert not negotiated.srtp_active
    # Our answer reads back as an answer to the offer.
    again = negotiate_answer(offer.media[0], session_with(media), 0, config)
    assert again.codec == negotiated.codec
