"""WAV files for players and recorders (stdlib `wave`, PCM only).

`read_wav` loads a whole file as mono int16 at the mixer's rate: channels
are averaged and the rate converted (the codecs' polyphase resampler for
the rates it handles, linear interpolation for the others, e.g. 44.1 kHz,
which is good enough for prompts and ring tones). `WavWriter` writes mono
16-bit frames. Every problem with a file is `WavError`.
"""

from __future__ import annotations

import contextlib
import struct
import wave
from math import gcd
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sipsimple_services.media.codecs import CodecError, Resampler

__all__ = ["MAX_SECONDS", "WavError", "WavWriter", "read_wav", "resample"]

MAX_SECONDS = 600  # longer files are refused: a player holds its file in memory


# What `wave` raises on damaged files besides its own Error (its chunk reader
# raises a bare RuntimeError, struct.error on short headers).
_READ_ERRORS = (OSError, EOFError, wave.Error, RuntimeError, ValueError, struct.error)


class WavError(ValueError):
    """A file that cannot be read or written as a WAV file."""


def resample(samples: npt.NDArray[np.int16], from_rate: int, to_rate: int) -> npt.NDArray[np.int16]:
    """A whole signal at another rate."""
    if from_rate == to_rate or not len(samples):
        return samples
    try:
        resampler = Resampler(from_rate, to_rate)
    except CodecError:
        count = int(len(samples) * to_rate / from_rate)
        positions = np.arange(count) * (from_rate / to_rate)
        out = np.interp(positions, np.arange(len(samples)), samples.astype(np.float64))
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    # Whole blocks for the resampler, then the filter's delay trimmed off.
    block = from_rate // gcd(from_rate, to_rate)
    pad = (-len(samples)) % block + block * (int(resampler.delay) // block + 1)
    padded = np.concatenate([samples, np.zeros(pad, dtype=np.int16)]).astype("<i2")
    out = np.frombuffer(resampler.process(padded.tobytes()), dtype="<i2")
    start = round(resampler.delay * to_rate / from_rate)
    count = len(samples) * to_rate // from_rate
    return out[start : start + count].astype(np.int16)


def read_wav(path: str | Path, rate: int) -> npt.NDArray[np.int16]:
    """The file's audio as mono int16 at `rate`."""
    try:
        with wave.open(str(path), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            file_rate = reader.getframerate()
            frames = reader.getnframes()
            if file_rate <= 0 or frames > MAX_SECONDS * file_rate:
                raise WavError(f"{path}: longer than {MAX_SECONDS} s or no rate")
            data = reader.readframes(frames)
    except _READ_ERRORS as exc:
        raise WavError(f"{path}: {exc or type(exc).__name__}") from exc
    if channels < 1:
        raise WavError(f"{path}: no channels")
    if not 1 <= width <= 4:
        raise WavError(f"{path}: unsupported sample width {width}")
    data = data[: len(data) // (width * channels) * (width * channels)]  # whole frames only
    if width == 1:  # unsigned 8-bit
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.int32) - 128) << 8
    elif width == 2:
        samples = np.frombuffer(data, dtype="<i2").astype(np.int32)
    elif width == 3:
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        samples = (raw[:, 1].astype(np.int32) | raw[:, 2].astype(np.int8).astype(np.int32) << 8)
    else:
        samples = np.frombuffer(data, dtype="<i4") >> 16
    mono = samples.reshape(-1, channels).mean(axis=1)
    pcm = np.clip(np.rint(mono), -32768, 32767).astype(np.int16)
    return resample(pcm, file_rate, rate)


class WavWriter:
    """Mono 16-bit PCM to a WAV file, frame by frame."""

    def __init__(self, path: str | Path, rate: int) -> None:
        self.path = str(path)
        try:
            # opened here, not by wave.open(path): a failed open there leaves a
            # half-built writer whose finalizer raises
            self._file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise WavError(f"{path}: {exc}") from exc
        try:
            self._writer = wave.open(self._file, "wb")  # noqa: SIM115 (closed by close())
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(rate)
        except (OSError, wave.Error) as exc:
            self._file.close()
            raise WavError(f"{path}: {exc}") from exc
        self.samples = 0

    def write(self, samples: npt.NDArray[np.int16]) -> None:
        try:
            self._writer.writeframes(samples.astype("<i2").tobytes())
        except (OSError, wave.Error, ValueError) as exc:
            raise WavError(f"{self.path}: {exc}") from exc
        self.samples += len(samples)

    def close(self) -> None:
        with contextlib.suppress(OSError, wave.Error):
            self._writer.close()
        with contextlib.suppress(OSError):
            self._file.close()
