"""Mixer ports that are not streams or devices: tones, WAV players, WAV recorders.

Volumes are percent of full scale (0-100). A player or a tone with a
duration sets `done` when it has nothing more to give; the engine then
publishes `media.port_done` once and leaves the port silent in the mixer
until it is destroyed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sipsimple_services.media.mixer import FRAME_SAMPLES, SAMPLE_RATE, AudioFrame, Port
from sipsimple_services.media.wav import WavWriter, read_wav

__all__ = ["PortParameterError", "Recorder", "TonePort", "WavPlayer", "make_port"]

FULL_SCALE = 32767
MAX_TONES = 8


class PortParameterError(ValueError):
    """Parameters that do not describe a port."""


def _volume(params: dict[str, Any], default: float) -> float:
    volume = params.get("volume", default)
    if isinstance(volume, bool) or not isinstance(volume, int | float) or not 0 <= volume <= 100:
        raise PortParameterError("volume must be a number from 0 to 100")
    return float(volume) / 100


class TonePort(Port):
    """A sum of sines (ringback, DTMF feedback, test tones), each at `volume`/count."""

    def __init__(
        self, port_id: str, frequencies: Sequence[float], duration: float | None, volume: float
    ) -> None:
        super().__init__(port_id)
        self.wants_input = False
        self.frequencies = np.asarray(frequencies, dtype=np.float64)
        self.amplitude = volume * FULL_SCALE / max(1, len(frequencies))
        self.remaining = None if duration is None else round(duration * SAMPLE_RATE)
        self.position = 0  # samples generated so far: phases carry across frames
        self.done = False

    def pull(self, needed: bool) -> AudioFrame | None:
        if self.done:
            return None
        count = FRAME_SAMPLES
        if self.remaining is not None:
            count = min(count, self.remaining)
            self.remaining -= count
            if self.remaining <= 0:
                self.done = True
        start = self.position
        self.position += FRAME_SAMPLES
        if not needed or count <= 0 or not len(self.frequencies):
            return None
        t = (start + np.arange(FRAME_SAMPLES)) / SAMPLE_RATE
        wave = np.sin(2 * np.pi * self.frequencies[:, None] * t[None, :]).sum(axis=0)
        frame = np.rint(wave * self.amplitude).astype(np.int16)
        frame[count:] = 0
        return frame


class WavPlayer(Port):
    """A WAV file, once or in a loop."""

    def __init__(self, port_id: str, filename: str, loop: bool, volume: float) -> None:
        super().__init__(port_id)
        self.wants_input = False
        samples = read_wav(filename, SAMPLE_RATE)
        if volume != 1.0:
            samples = np.clip(np.rint(samples * volume), -32768, 32767).astype(np.int16)
        pad = (-len(samples)) % FRAME_SAMPLES
        self.samples = np.concatenate([samples, np.zeros(pad, dtype=np.int16)])
        self.loop = loop and len(samples) > 0
        self.position = 0
        self.done = not len(samples)

    def pull(self, needed: bool) -> AudioFrame | None:
        if self.done:
            return None
        frame = self.samples[self.position : self.position + FRAME_SAMPLES]
        self.position += FRAME_SAMPLES
        if self.position >= len(self.samples):
            if self.loop:
                self.position = 0
            else:
                self.done = True
        return frame if needed else None


class Recorder(Port):
    """Writes what it hears to a WAV file (mono, 16 bit, 48 kHz), silence included,
    while a source is connected; nothing while none is (a call on hold)."""

    pushed_unconnected = False

    def __init__(self, port_id: str, filename: str) -> None:
        super().__init__(port_id)
        self.writer = WavWriter(filename, SAMPLE_RATE)
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.done = False

    def push(self, frame: AudioFrame | None) -> None:
        self.writer.write(self._silence if frame is None else frame)

    def close(self) -> None:
        self.writer.close()


def make_port(port_id: str, kind: str, params: dict[str, Any]) -> Port:
    """A port from `create_port`'s kind and params; `PortParameterError` or
    `WavError` when they do not make one."""
    if kind == "tone":
        frequencies = params.get("frequencies")
        if (
            not isinstance(frequencies, list)
            or not 0 < len(frequencies) <= MAX_TONES
            or not all(
                isinstance(f, int | float) and not isinstance(f, bool) and 0 < f < SAMPLE_RATE / 2
                for f in frequencies
            )
        ):
            raise PortParameterError(f"frequencies: 1 to {MAX_TONES} numbers in (0, 24000) Hz")
        duration = params.get("duration")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise PortParameterError("duration must be a positive number of seconds")
        _check_keys(params, {"frequencies", "duration", "volume"})
        return TonePort(port_id, frequencies, duration, _volume(params, 50))
    if kind == "player":
        _check_keys(params, {"filename", "loop", "volume"})
        filename = _filename(params)
        loop = params.get("loop", False)
        if not isinstance(loop, bool):
            raise PortParameterError("loop must be a boolean")
        return WavPlayer(port_id, filename, loop, _volume(params, 100))
    if kind == "recorder":
        _check_keys(params, {"filename"})
        return Recorder(port_id, _filename(params))
    raise PortParameterError(f"unknown port kind {kind!r} (player, tone or recorder)")


def _filename(params: dict[str, Any]) -> str:
    filename = params.get("filename")
    if not isinstance(filename, str) or not filename or "\0" in filename:
        raise PortParameterError("filename must be a non-empty path")
    return str(Path(filename).expanduser())


def _check_keys(params: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise PortParameterError(f"unknown parameter(s): {', '.join(map(str, unknown))}")
