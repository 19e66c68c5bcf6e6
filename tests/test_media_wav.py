"""WAV files: reading any PCM layout as mono at the mixer's rate, writing, and bad files."""

from __future__ import annotations

import struct
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.wav import WavError, WavWriter, read_wav, resample


def write(path: Path, data: bytes, rate: int, width: int = 2, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(data)
    return path


def sine(rate: int, frequency: float, seconds: float = 1.0, amplitude: float = 10000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def peak(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * rate / len(samples))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_read_converts_the_rate(tmp_path: Path, rate: int) -> None:
    path = write(tmp_path / "a.wav", sine(rate, 440).tobytes(), rate)
    samples = read_wav(path, 48000)
    assert len(samples) == pytest.approx(48000, abs=1)
    assert peak(samples, 48000) == pytest.approx(440, abs=1.5)
    assert np.abs(samples[2000:-2000]).max() == pytest.approx(10000, rel=0.03)


def test_stereo_is_averaged_and_other_widths_are_scaled(tmp_path: Path) -> None:
    left, right = sine(8000, 500), np.zeros(8000, dtype=np.int16)
    stereo = np.stack([left, right], axis=1).reshape(-1)
    mono = read_wav(write(tmp_path / "s.wav", stereo.tobytes(), 8000, channels=2), 8000)
    assert np.abs(mono).max() == pytest.approx(5000, abs=1)
    eight = (sine(8000, 500) // 256 + 128).astype(np.uint8)
    samples = read_wav(write(tmp_path / "8.wav", eight.tobytes(), 8000, width=1), 8000)
    assert np.abs(samples).max() == pytest.approx(10000, rel=0.03)
    wide = sine(8000, 500).astype("<i4") << 16
    samples = read_wav(write(tmp_path / "32.wav", wide.tobytes(), 8000, width=4), 8000)
    assert np.array_equal(samples, sine(8000, 500))
    raw = np.zeros((8000, 3), dtype=np.uint8)
    value = sine(8000, 500).astype(np.int32) << 8
    raw[:, 0], raw[:, 1], raw[:, 2] = value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF
    samples = read_wav(write(tmp_path / "24.wav", raw.tobytes(), 8000, width=3), 8000)
    assert np.array_equal(samples, sine(8000, 500))


def test_writer_round_trip(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "out.wav", 48000)
    frames = [sine(48000, 1000, 0.02), np.zeros(960, dtype=np.int16)]
    for frame in frames:
        writer.write(frame)
    writer.close()
    writer.close()  # twice is harmless
    assert writer.samples == 1920
    assert np.array_equal(read_wav(tmp_path / "out.wav", 48000), np.concatenate(frames))


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(WavError):
        read_wav(tmp_path / "missing.wav", 48000)
    (tmp_path / "text.wav").write_text("not a wave file")
    with pytest.raises(WavError):
        read_wav(tmp_path / "text.wav", 48000)
    with pytest.raises(WavError):
        WavWriter(tmp_path / "no" / "such" / "dir.wav", 48000)


def test_empty_and_resample_identity(tmp_path: Path) -> None:
    assert len(read_wav(write(tmp_path / "e.wav", b"", 8000), 48000)) == 0
    samples = sine(8000, 300)
    assert resample(samples, 8000, 8000) is samples


@settings(max_examples=200)
@given(
    st.integers(0, 9), st.integers(0, 6), st.integers(0, 200000), st.binary(max_size=300),
    st.booleans(),
)
def test_any_header_and_data_read_or_wav_error(
    channels: int, width: int, rate: int, data: bytes, garbage_header: bool
) -> None:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * width, channels * width,
                      8 * width)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    if garbage_header:
        body = b"WAVE" + data
    with tempfile.NamedTemporaryFile(suffix=".wav") as handle:
        handle.write(b"RIFF" + struct.pack("<I", len(body)) + body)
        handle.flush()
        try:
            samples = read_wav(handle.name, 48000)
        except WavError:
            return
        assert samples.dtype == np.int16
