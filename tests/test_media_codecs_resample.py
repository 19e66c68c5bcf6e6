"""The streaming resampler: exact frame lengths, tone kept, aliasing removed, continuity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple_services.media.codecs import CodecError, Resampler

PAIRS = [(a, b) for a in (8000, 16000, 48000) for b in (8000, 16000, 48000) if a != b]


def tone(rate: int, frequency: float, seconds: float, amplitude: float = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * frequency * t) * amplitude).astype("<i2").tobytes()


def in_frames(resampler: Resampler, pcm: bytes, frame_ms: int = 20) -> list[bytes]:
    size = 2 * resampler.from_rate * frame_ms // 1000
    return [resampler.process(pcm[i : i + size]) for i in range(0, len(pcm), size)]


def analyse(pcm: bytes, rate: int) -> tuple[float, float]:
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(power) * rate / len(samples)), float(np.sqrt(np.mean(samples**2)))


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_a_tone_keeps_frequency_and_level_in_exact_frames(source: int, target: int) -> None:
    resampler = Resampler(source, target)
    frames = in_frames(resampler, tone(source, 1000, 1.0))
    assert {len(f) for f in frames} == {2 * target // 50}
    frequency, level = analyse(b"".join(frames[10:]), target)
    assert abs(frequency - 1000) <= 2
    assert abs(level - 8000 / np.sqrt(2)) < 8000 / np.sqrt(2) * 0.02


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_frames_join_without_discontinuity(source: int, target: int) -> None:
    resampler = Resampler(source, target)
    whole = b"".join(in_frames(resampler, tone(source, 300, 0.5)))
    samples = np.frombuffer(whole, "<i2").astype(np.int32)[target // 50 :]
    # The largest step of a 300 Hz sine of amplitude 8000 is 2 pi 300 8000 / rate.
    assert np.abs(np.diff(samples)).max() <= 2 * np.pi * 300 * 8000 / target * 1.05 + 2


def test_downsampling_removes_what_the_lower_rate_cannot_hold() -> None:
    resampler = Resampler(48000, 8000)
    output = b"".join(in_frames(resampler, tone(48000, 6000, 0.5)))
    assert analyse(output[1600:], 8000)[1] < 10  # 6 kHz would alias to 2 kHz


def test_same_rate_is_a_copy() -> None:
    pcm = tone(16000, 500, 0.02)
    assert Resampler(16000, 16000).process(pcm) == pcm


def test_delay_is_reported_in_input_samples() -> None:
    resampler = Resampler(8000, 16000)
    impulse = np.zeros(160, "<i2")
    impulse[0] = 16000
    out = np.frombuffer(resampler.process(impulse.tobytes()), "<i2")
    assert abs(int(np.argmax(out)) / 2 - resampler.delay) <= 0.5


def test_reset_forgets_the_history() -> None:
    resampler = Resampler(8000, 48000)
    resampler.process(tone(8000, 1000, 0.02))
    resampler.reset()
    assert resampler.process(bytes(320)) == bytes(1920)


@pytest.mark.parametrize("rates", [(8000, 44100), (0, 8000), (8000, 10**6), (8000.0, 16000)])
def test_unsupported_rates_are_refused(rates: tuple[int, int]) -> None:
    with pytest.raises(CodecError):
        Resampler(*rates)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4000))
def test_any_block_resamples_or_raises_codec_error(data: bytes) -> None:
    resampler = Resampler(48000, 16000)
    try:
        out = resampler.process(data)
    except CodecError:
        assert len(data) % 2 or (len(data) // 2) % 3
    else:
        assert len(out) * 3 == len(data)


@settings(max_examples=50)
@given(st.sampled_from(PAIRS), st.lists(st.integers(-32768, 32767), min_size=960, max_size=960))
def test_integer_ratios_match_the_general_filter(pair: tuple[int, int], values: list[int]) -> None:
    # 1:n and n:1 ratios take a faster path; it computes the same sums (to rounding).
    source, target = pair
    fast, reference = Resampler(source, target), Resampler(source, target)
    count = source // 50
    for start in (0, 960 - count):
        pcm = np.array(values[start : start + count], dtype="<i2").tobytes()
        samples = np.frombuffer(pcm, "<i2").astype(np.float32)
        block = np.concatenate([reference._history, samples])
        indexes, coefficients = reference._plan(count)
        expected = np.clip(np.rint(np.einsum("ij,ij->i", block[indexes], coefficients)),
                           -32768, 32767)
        reference._history = block[len(block) - len(reference._history) :]
        got = np.frombuffer(fast.process(pcm), "<i2")
        assert np.abs(got.astype(np.int64) - expected.astype(np.int64)).max() <= 1
