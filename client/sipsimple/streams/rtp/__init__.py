"""RTP streams in the facade: SDP for audio (with no I/O), and the AudioStream.

`negotiation` builds audio offers and answers and reads the peer's
(`NegotiatedMedia`), `codecs` describes the formats in SDP, `crypto` is
SDES (RFC 4568). The AudioStream (`audio`, on `audio_base` and
`audio_ice`; `ice` is its ICE's SDP and data) uses them and hands the result
to the media service.
"""

from sipsimple.streams.rtp.codecs import AUDIO_CODECS, DEFAULT_CODEC_ORDER, AudioCodecInfo
from sipsimple.streams.rtp.crypto import (
    SUPPORTED_SUITES,
    CryptoAttribute,
    CryptoAttributeError,
    generate_key,
)
from sipsimple.streams.rtp.negotiation import (
    AudioConfig,
    NegotiatedMedia,
    SRTPParameters,
    SRTPPolicy,
    answer_audio_offer,
    build_audio_offer,
    check_audio_offer,
    negotiate_answer,
    srtp_policy,
)

__all__ = [
    "AUDIO_CODECS",
    "DEFAULT_CODEC_ORDER",
    "SUPPORTED_SUITES",
    "AudioCodecInfo",
    "AudioConfig",
    "CryptoAttribute",
    "CryptoAttributeError",
    "NegotiatedMedia",
    "SRTPParameters",
    "SRTPPolicy",
    "answer_audio_offer",
    "build_audio_offer",
    "check_audio_offer",
    "generate_key",
    "negotiate_answer",
    "srtp_policy",
]
