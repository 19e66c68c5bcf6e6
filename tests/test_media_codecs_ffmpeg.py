"""G.722 and opus through PyAV: what the generic contract does not cover."""

from __future__ import annotations

import os

import av
import numpy as np
import pytest
from av.audio.frame import AudioFrame

from sipsimple_services.media.codecs import Codec, CodecError, G722Codec, OpusCodec
from sipsimple_services.media.codecs.ffmpeg import _twenty_ms_config


def tone(rate: int, frequency: float, seconds: float, amplitude: float = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * frequency * t) * amplitude).astype("<i2").tobytes()


def peak_frequency(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(power) * rate / len(samples))


def foreign_opus(frame_ms: int, layout: str, seconds: float = 0.4) -> list[bytes]:
    """Packets from an encoder set up as another phone might be."""
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate = 48000
    encoder.layout = layout
    encoder.format = "s16"
    encoder.options = {"frame_duration": str(frame_ms)}
    encoder.open()
    channels = 2 if layout == "stereo" else 1
    samples = np.frombuffer(tone(48000, 1000, seconds), "<i2")
    size = 48 * frame_ms
    packets = []
    for start in range(0, len(samples) - size + 1, size):
        block = np.repeat(samples[start : start + size], channels).reshape(1, -1)
        frame = AudioFrame.from_ndarray(block, format="s16", layout=layout)
        frame.sample_rate = 48000
        frame.pts = start
        packets += [bytes(p) for p in encoder.encode(frame)]
    return packets


def test_g722_one_byte_is_two_samples_at_16khz() -> None:
    codec = G722Codec()
    assert len(codec.decode(bytes(160))) == 640  # 20 ms at 16 kHz
    assert len(codec.decode(bytes(3))) == 12  # any length decodes: every byte is valid ADPCM
    assert len(codec.decode(bytes(960))) == 3840  # 120 ms
    with pytest.raises(CodecError):
        codec.decode(bytes(961))


@pytest.mark.parametrize(("frame_ms", "layout"), [(20, "stereo"), (10, "mono"), (60, "mono")])
def test_opus_from_other_encoders_decodes_to_mono(frame_ms: int, layout: str) -> None:
    codec = OpusCodec()
    packets = foreign_opus(frame_ms, layout)
    decoded = [codec.decode(p) for p in packets]
    assert {len(pcm) for pcm in decoded} == {2 * 48 * frame_ms}
    assert abs(peak_frequency(b"".join(decoded[len(decoded) // 2 :]), 48000) - 1000) <= 20


def test_opus_concealment_is_libopus_extrapolating_the_tone() -> None:
    codec = OpusCodec()
    for payload in foreign_opus(20, "mono"):
        codec.decode(payload)
    concealed = codec.conceal()
    assert len(concealed) == 1920
    assert abs(peak_frequency(concealed, 48000) - 1000) <= 60
    # Audio resumes normally after the gap.
    sender = OpusCodec()
    payloads = [sender.encode(tone(48000, 1000, 0.02)) for _ in range(3)]
    assert all(len(codec.decode(p)) == 1920 for p in payloads)


@pytest.mark.parametrize(
    ("config", "twenty"),
    [(0, 1), (3, 1), (5, 5), (11, 9), (12, 13), (14, 15), (16, 19), (31, 31), (24, 27)],
)
def test_concealment_packet_asks_for_20_ms_in_the_same_mode(config: int, twenty: int) -> None:
    assert _twenty_ms_config(config) == twenty


@pytest.mark.parametrize(
    "payload",
    [
        b"\x03",  # code 3 without its frame count byte
        b"\x03\x00",  # code 3 with zero frames
        b"\x02\xff",  # code 2: first frame longer than the packet
        b"\x01\x00\x00\x00",  # code 1: two frames of unequal share (odd remainder)
    ],
)
def test_malformed_opus_packets_are_codec_errors(payload: bytes) -> None:
    codec = OpusCodec()
    with pytest.raises(CodecError):
        codec.decode(payload)
    assert len(codec.decode(OpusCodec().encode(bytes(1920)))) == 1920


def test_opus_payload_longer_than_120_ms_is_refused() -> None:
    # Code 3 with 48 frames of 2.5 ms is legal opus (120 ms); 60 ms CELT frames
    # times 3 would be 180 ms, which RFC 6716 forbids and so do we.
    config_60ms_silk = 3 << 3
    with pytest.raises(CodecError):
        OpusCodec().decode(bytes([config_60ms_silk | 3, 3]) + bytes(30))


def test_codecs_start_no_threads() -> None:
    # FFmpeg would give every context (and PyAV every libopus encoder's
    # resampler graph) threads of its own: hundreds for hundreds of streams.
    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    def use(codec: Codec) -> None:
        for _ in range(3):
            codec.decode(codec.encode(bytes(codec.frame_bytes)))
        codec.conceal()

    use(OpusCodec())  # whatever FFmpeg starts once per process
    before = threads()
    codecs = [OpusCodec() for _ in range(10)] + [G722Codec() for _ in range(10)]
    for codec in codecs:
        use(codec)
    assert threads() <= before
