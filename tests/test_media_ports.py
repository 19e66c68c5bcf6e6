"""Tone, WAV player and recorder ports, and make_port's checks."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sipsimple_services.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, Mixer
from sipsimple_services.media.ports import (
    PortParameterError,
    Recorder,
    TonePort,
    WavPlayer,
    make_port,
)
from sipsimple_services.media.wav import WavError


def frames(port: Any, count: int, needed: bool = True) -> np.ndarray:
    out = [port.pull(needed) for _ in range(count)]
    return np.concatenate([np.zeros(FRAME_SAMPLES, np.int16) if f is None else f for f in out])


def spectrum_peaks(samples: np.ndarray, count: int) -> list[float]:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    bins = np.argsort(spectrum)[::-1]
    peaks: list[float] = []
    for b in bins:
        frequency = b * SAMPLE_RATE / len(samples)
        if all(abs(frequency - p) > 20 for p in peaks):
            peaks.append(frequency)
        if len(peaks) == count:
            return sorted(peaks)
    return sorted(peaks)


def test_tone_is_a_continuous_sum_of_sines() -> None:
    tone = make_port("t", "tone", {"frequencies": [350, 440], "volume": 40})
    assert isinstance(tone, TonePort) and not tone.wants_input
    samples = frames(tone, 50)
    assert spectrum_peaks(samples, 2) == pytest.approx([350, 440], abs=1)
    assert np.abs(samples).max() <= 0.4 * 32767 + 1
    # phases carry across frames: no step at the frame boundaries
    assert np.abs(np.diff(samples.astype(np.int32))).max() < 2 * np.pi * 440 / SAMPLE_RATE * 13200


def test_tone_with_duration_ends() -> None:
    tone = make_port("t", "tone", {"frequencies": [1000], "duration": 0.05})
    samples = frames(tone, 4)
    assert tone.done  # type: ignore[attr-defined]
    assert np.count_nonzero(samples[:2400]) > 2000 and not samples[2400:].any()


def test_tone_not_needed_keeps_time_without_audio() -> None:
    tone = make_port("t", "tone", {"frequencies": [1000]})
    assert tone.pull(False) is None
    assert tone.position == FRAME_SAMPLES  # type: ignore[attr-defined]


def make_wav(path: Path, seconds: float, rate: int = 16000, frequency: float = 500) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((10000 * np.sin(2 * np.pi * frequency * t)).astype("<i2").tobytes())
    return path


def test_player_plays_once_then_is_done(tmp_path: Path) -> None:
    player = make_port("p", "player", {"filename": str(make_wav(tmp_path / "a.wav", 0.05))})
    assert isinstance(player, WavPlayer)
    samples = frames(player, 5)
    assert player.done and samples[:2400].any() and not samples[2880:].any()


def test_player_loops_and_scales(tmp_path: Path) -> None:
    path = make_wav(tmp_path / "a.wav", 0.05)
    player = make_port("p", "player", {"filename": str(path), "loop": True, "volume": 50})
    samples = frames(player, 30)
    assert not player.done  # type: ignore[attr-defined]
    assert np.abs(samples).max() == pytest.approx(5000, rel=0.03)
    assert spectrum_peaks(samples[: 3 * FRAME_SAMPLES * 2], 1) == pytest.approx([500], abs=20)


def test_recorder_writes_what_it_hears(tmp_path: Path) -> None:
    mixer = Mixer("voice")
    tone = make_port("t", "tone", {"frequencies": [1000]})
    recorder = make_port("r", "recorder", {"filename": str(tmp_path / "r.wav")})
    assert isinstance(recorder, Recorder)
    mixer.add(tone)
    mixer.add(recorder)
    silent = make_port("s", "tone", {"frequencies": [1000], "duration": 0.02})
    mixer.add(silent)
    mixer.tick()  # nothing connected yet: nothing is recorded
    mixer.connect("t", "r")
    for _ in range(10):
        mixer.tick()
    mixer.disconnect("t", "r")
    mixer.tick()  # disconnected (a call on hold): nothing again
    mixer.connect("s", "r")
    mixer.tick()  # connected, the source silent: silence is recorded
    mixer.tick()
    recorder.close()
    with wave.open(str(tmp_path / "r.wav"), "rb") as reader:
        assert reader.getframerate() == SAMPLE_RATE and reader.getnframes() == 12 * FRAME_SAMPLES
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    assert spectrum_peaks(data[: 10 * FRAME_SAMPLES], 1) == [1000]
    assert not data[11 * FRAME_SAMPLES:].any()


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("tone", {}),
        ("tone", {"frequencies": []}),
        ("tone", {"frequencies": [0]}),
        ("tone", {"frequencies": [30000]}),
        ("tone", {"frequencies": ["440"]}),
        ("tone", {"frequencies": [True]}),
        ("tone", {"frequencies": [440] * 9}),
        ("tone", {"frequencies": [440], "duration": 0}),
        ("tone", {"frequencies": [440], "volume": 101}),
        ("tone", {"frequencies": [440], "volume": "loud"}),
        ("tone", {"frequencies": [440], "colour": "blue"}),
        ("player", {}),
        ("player", {"filename": ""}),
        ("player", {"filename": "a.wav", "loop": "yes"}),
        ("recorder", {"filename": 5}),
        ("recorder", {"filename": "a\0b"}),
        ("drum", {}),
    ],
)
def test_bad_parameters(kind: str, params: dict[str, Any]) -> None:
    with pytest.raises(PortParameterError):
        make_port("x", kind, params)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(WavError):
        make_port("x", "player", {"filename": str(tmp_path / "missing.wav")})
    with pytest.raises(WavError):
        make_port("x", "recorder", {"filename": str(tmp_path / "no" / "dir.wav")})
