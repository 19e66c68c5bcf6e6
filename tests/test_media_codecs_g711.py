"""G.711 tables: known code points, FFmpeg's independent decoder, the quantizer's bounds."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pytest

from sipsimple_services.media.codecs import CodecError, PCMACodec, PCMUCodec
from sipsimple_services.media.codecs.g711 import (
    ALAW_DECODE,
    ALAW_ENCODE,
    ULAW_DECODE,
    ULAW_ENCODE,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)

ALL_SAMPLES = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)
ALL_PCM = ALL_SAMPLES.astype("<i2").tobytes()
ALL_CODES = bytes(range(256))


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


# Code points from the G.711 tables (mu-law table 2a, A-law table 1a, as 16-bit
# values: mu-law 14-bit values times 4, A-law 13-bit values times 8).
ULAW_POINTS = [
    (0, 0xFF),
    (-1, 0x7F),
    (32767, 0x80),
    (-32768, 0x00),
    (8, 0xFE),  # 2 in 14 bits: the first step of segment 0
    (-8, 0x7E),
]
ALAW_POINTS = [
    (0, 0xD5),
    (-1, 0x55),
    (32767, 0xAA),
    (-32768, 0x2A),
    (16, 0xD4),
    (-17, 0x54),  # negatives are one's-complemented: -16 is still in the first step
]


@pytest.mark.parametrize(("sample", "code"), ULAW_POINTS)
def test_ulaw_code_points(sample: int, code: int) -> None:
    assert ulaw_encode(pcm(sample)) == bytes([code])


@pytest.mark.parametrize(("sample", "code"), ALAW_POINTS)
def test_alaw_code_points(sample: int, code: int) -> None:
    assert alaw_encode(pcm(sample)) == bytes([code])


def test_known_decoded_values() -> None:
    # The largest magnitudes: 8031 (mu-law, 14 bits) and 4032 (A-law, 13 bits).
    assert list(np.frombuffer(ulaw_decode(bytes([0x80, 0x00, 0xFF, 0x7F])), "<i2")) == [
        32124, -32124, 0, 0,
    ]
    assert list(np.frombuffer(alaw_decode(bytes([0xAA, 0x2A, 0xD5, 0x55])), "<i2")) == [
        32256, -32256, 8, -8,
    ]


@pytest.mark.parametrize(
    ("ffmpeg_name", "table"), [("pcm_mulaw", ULAW_DECODE), ("pcm_alaw", ALAW_DECODE)]
)
def test_decode_tables_equal_ffmpegs(ffmpeg_name: str, table: np.ndarray) -> None:
    decoder = av.CodecContext.create(ffmpeg_name, "r")
    assert isinstance(decoder, av.AudioCodecContext)
    decoder.sample_rate = 8000
    decoder.layout = "mono"
    frames = decoder.decode(av.Packet(ALL_CODES))
    theirs = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert np.array_equal(theirs, table)


@pytest.mark.parametrize(
    ("encode", "decode"), [(ULAW_ENCODE, ULAW_DECODE), (ALAW_ENCODE, ALAW_DECODE)]
)
def test_every_sample_lands_in_its_interval(encode: np.ndarray, decode: np.ndarray) -> None:
    decoded = decode[encode[ALL_SAMPLES.view(np.uint16)]].astype(np.int32)
    error = np.abs(decoded - ALL_SAMPLES.astype(np.int32))
    # Half the largest step (mu-law 256 * 4 / 2, A-law 64 * 8 / 2) plus the
    # clipped top of the range (mu-law peaks at 32124, A-law at 32256).
    limit = np.maximum(np.abs(ALL_SAMPLES.astype(np.int32)) // 16, 8)
    inside = error <= limit
    clipped = np.abs(ALL_SAMPLES.astype(np.int32)) > 32124
    assert np.all(inside | clipped)
    # Monotonic: a larger sample never gets a smaller reconstruction.
    order = np.argsort(ALL_SAMPLES, kind="stable")
    assert np.all(np.diff(decoded[order]) >= 0)


@pytest.mark.parametrize(
    ("encode", "decode", "negative_zero"),
    [(ULAW_ENCODE, ULAW_DECODE, 0x7F), (ALAW_ENCODE, ALAW_DECODE, None)],
)
def test_decoding_then_encoding_gives_the_code_back(
    encode: np.ndarray, decode: np.ndarray, negative_zero: int | None
) -> None:
    codes = np.arange(256)
    again = encode[decode[codes].view(np.uint16)]
    expected = codes.copy()
    if negative_zero is not None:
        expected[negative_zero] = 0xFF  # mu-law's two zeros encode back to +0
    assert np.array_equal(again, expected)


def test_alaw_encoder_equals_audioop() -> None:
    # The standard library's up to 3.12, the audioop-lts package (test extra) after.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    assert alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
    assert ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    # mu-law: audioop negates negative samples where G.191 complements them,
    # which moves 2 of the 65536 inputs per step boundary by one code.
    ours = np.frombuffer(ulaw_encode(ALL_PCM), np.uint8)
    theirs = np.frombuffer(audioop.lin2ulaw(ALL_PCM, 2), np.uint8)
    differ = np.nonzero(ours != theirs)[0]
    assert np.all(ALL_SAMPLES[differ] < 0)
    assert np.all(np.abs(ours[differ].astype(int) - theirs[differ].astype(int)) == 1)


@pytest.mark.parametrize("codec_class", [PCMUCodec, PCMACodec])
def test_codec_uses_the_tables(codec_class: type[PCMUCodec]) -> None:
    codec = codec_class()
    frame = np.linspace(-30000, 30000, 160).astype("<i2").tobytes()
    payload = codec.encode(frame)
    assert len(payload) == 160
    table_encode = ulaw_encode if codec_class is PCMUCodec else alaw_encode
    table_decode = ulaw_decode if codec_class is PCMUCodec else alaw_decode
    assert payload == table_encode(frame)
    assert codec.decode(payload) == table_decode(payload)
    assert codec.static_payload_type == (0 if codec_class is PCMUCodec else 8)


@pytest.mark.parametrize("codec_class", [PCMUCodec, PCMACodec])
def test_long_payloads_are_refused(codec_class: type[PCMUCodec]) -> None:
    codec = codec_class()
    assert len(codec.decode(bytes(960))) == 1920  # 120 ms is the most
    with pytest.raises(CodecError):
        codec.decode(bytes(961))
