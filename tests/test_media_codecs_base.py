"""The codec contract, for every codec: tone round trips, frame sizes, hostile payloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.codecs import (
    CODECS,
    Codec,
    CodecError,
    codec_class,
    create_codec,
)
from sipsimple_services.media.codecs.base import FadingConcealer

NAMES = sorted(CODECS)

# name -> (clock rate, sample rate, SDP channels, static payload type, payload bytes per frame)
EXPECTED = {
    "PCMU": (8000, 8000, 1, 0, 160),
    "PCMA": (8000, 8000, 1, 8, 160),
    "G722": (8000, 16000, 1, 9, 160),
    "opus": (48000, 48000, 2, None, None),  # variable bit rate
}


def tone(rate: int, frequency: float, seconds: float, amplitude: float = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * frequency * t) * amplitude).astype("<i2").tobytes()


def spectrum_peak(pcm: bytes, rate: int) -> tuple[float, float]:
    """(frequency of the strongest FFT bin, RMS level)."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(power) * rate / len(samples)), float(np.sqrt(np.mean(samples**2)))


def round_trip(codec: Codec, pcm: bytes) -> tuple[list[bytes], bytes]:
    size = codec.frame_bytes
    payloads = [codec.encode(pcm[i : i + size]) for i in range(0, len(pcm), size)]
    return payloads, b"".join(codec.decode(p) for p in payloads)


def test_the_four_codecs_are_registered() -> None:
    assert set(CODECS) == {"opus", "G722", "PCMU", "PCMA"}


@pytest.mark.parametrize("name", NAMES)
def test_parameters(name: str) -> None:
    codec = create_codec(name)
    clock, rate, channels, static, _ = EXPECTED[name]
    assert (codec.clock_rate, codec.sample_rate, codec.channels) == (clock, rate, channels)
    assert codec.static_payload_type == static
    assert codec.frame_duration == 20
    assert codec.frame_samples == rate // 50
    assert codec.frame_bytes == 2 * rate // 50
    assert codec.timestamp_increment == clock // 50


def test_names_are_case_insensitive() -> None:
    assert codec_class("pcmu") is CODECS["PCMU"]
    assert codec_class("OPUS") is CODECS["opus"]
    with pytest.raises(CodecError):
        codec_class("G729")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("frequency", [440.0, 1000.0, 3000.0])
def test_a_tone_keeps_its_frequency_and_level(name: str, frequency: float) -> None:
    codec = create_codec(name)
    payloads, decoded = round_trip(codec, tone(codec.sample_rate, frequency, 1.0))
    assert len(payloads) == 50
    expected_size = EXPECTED[name][4]
    if expected_size is not None:
        assert {len(p) for p in payloads} == {expected_size}
    assert len(decoded) == codec.sample_rate * 2
    # Skip the codec's start-up (opus look-ahead, ADPCM adaptation).
    peak, level = spectrum_peak(decoded[len(decoded) // 2 :], codec.sample_rate)
    assert abs(peak - frequency) <= 10
    reference = 8000 / np.sqrt(2)
    assert reference * 0.8 <= level <= reference * 1.2


@pytest.mark.parametrize("name", NAMES)
def test_silence_stays_quiet(name: str) -> None:
    codec = create_codec(name)
    _, decoded = round_trip(codec, bytes(codec.frame_bytes * 10))
    assert np.abs(np.frombuffer(decoded, "<i2")).max() < 50


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size_change", [-2, -1, 1, 2])
def test_encode_takes_exactly_one_frame(name: str, size_change: int) -> None:
    codec = create_codec(name)
    with pytest.raises(CodecError):
        codec.encode(bytes(codec.frame_bytes + size_change))
    with pytest.raises(CodecError):
        codec.encode("not bytes")  # type: ignore[arg-type]
    assert codec.encode(bytearray(codec.frame_bytes))  # any bytes-like frame


@pytest.mark.parametrize("name", NAMES)
def test_empty_and_non_bytes_payloads_are_refused(name: str) -> None:
    codec = create_codec(name)
    with pytest.raises(CodecError):
        codec.decode(b"")
    with pytest.raises(CodecError):
        codec.decode(None)  # type: ignore[arg-type]
    # The decoder still works afterwards (no end-of-stream state left behind).
    payload = create_codec(name).encode(tone(codec.sample_rate, 1000, 0.02))
    assert len(codec.decode(payload)) == codec.frame_bytes


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None)
@given(payload=st.binary(min_size=0, max_size=1500))
def test_arbitrary_payloads_decode_or_raise_codec_error(name: str, payload: bytes) -> None:
    codec = create_codec(name)
    try:
        pcm = codec.decode(payload)
    except CodecError:
        pass
    else:
        assert len(pcm) % 2 == 0
        assert 0 < len(pcm) <= codec.max_decoded_bytes
    assert len(codec.conceal()) == codec.frame_bytes


@pytest.mark.parametrize("name", NAMES)
def test_concealment_continues_then_fades(name: str) -> None:
    codec = create_codec(name)
    round_trip(codec, tone(codec.sample_rate, 1000, 0.4))
    concealed = [codec.conceal() for _ in range(10)]
    assert all(len(frame) == codec.frame_bytes for frame in concealed)
    first = spectrum_peak(concealed[0], codec.sample_rate)
    assert first[1] > 500  # the first lost frame is not silence
    last = spectrum_peak(concealed[-1], codec.sample_rate)
    assert last[1] < first[1] / 4  # a long loss fades out


@pytest.mark.parametrize("name", NAMES)
def test_concealment_before_any_packet_is_silence(name: str) -> None:
    codec = create_codec(name)
    assert codec.conceal() == bytes(codec.frame_bytes)


def test_fading_concealer_pads_short_frames_and_resets_on_audio() -> None:
    concealer = FadingConcealer(4)
    concealer.decoded(np.array([1000, 1000], "<i2").tobytes())
    assert list(np.frombuffer(concealer.conceal(), "<i2")) == [0, 0, 500, 500]
    assert list(np.frombuffer(concealer.conceal(), "<i2")) == [0, 0, 250, 250]
    concealer.decoded(np.array([800] * 6, "<i2").tobytes())
    assert list(np.frombuffer(concealer.conceal(), "<i2")) == [400] * 4
    for _ in range(concealer.STEPS):
        frame = concealer.conceal()
    assert frame == bytes(8)
