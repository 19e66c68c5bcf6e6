"""Streaming PCM resampling between the rates of the codecs and the mixer.

A polyphase windowed-sinc filter in numpy: for a 20 ms frame in, exactly 20
ms comes out (no frame of varying length as from a buffering resampler),
with a fixed delay of `delay` input samples. The filter's history carries
across calls, so consecutive frames join without clicks.
"""

from __future__ import annotations

from math import ceil, gcd

import numpy as np
import numpy.typing as npt

from sipsimple_services.media.codecs.base import CodecError

__all__ = ["MAX_RATE_FACTOR", "Resampler"]

MAX_RATE_FACTOR = 12  # numerator and denominator of the reduced ratio: covers 8/16/24/32/48 kHz
_ZERO_CROSSINGS = 12  # per side of the sinc, at the lower of the two rates
_BANDWIDTH = 0.9  # of the lower Nyquist frequency: room for the transition band
_KAISER_BETA = 8.0  # about 80 dB of stop-band attenuation


class Resampler:
    """Converts mono s16le PCM from `from_rate` to `to_rate`, frame by frame."""

    __slots__ = (
        "_cache",
        "_down",
        "_half",
        "_history",
        "_phases",
        "_reversed",
        "_up",
        "from_rate",
        "to_rate",
    )

    def __init__(self, from_rate: int, to_rate: int) -> None:
        for rate in (from_rate, to_rate):
            if not isinstance(rate, int) or not 1000 <= rate <= 192000:
                raise CodecError(f"unsupported sample rate: {rate!r}")
        self.from_rate = from_rate
        self.to_rate = to_rate
        common = gcd(from_rate, to_rate)
        self._up = to_rate // common
        self._down = from_rate // common
        if max(self._up, self._down) > MAX_RATE_FACTOR:
            raise CodecError(f"cannot resample {from_rate} Hz to {to_rate} Hz (ratio too complex)")
        factor = max(self._up, self._down)
        half = self._half = _ZERO_CROSSINGS * factor
        n = np.arange(-half, half + 1, dtype=np.float64)
        cutoff = _BANDWIDTH / factor
        taps = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, _KAISER_BETA)
        taps *= self._up / taps.sum()  # unity gain at DC after zero-stuffing
        per_phase = ceil(len(taps) / self._up)
        padded = np.zeros(per_phase * self._up)
        padded[: len(taps)] = taps
        # phases[p][m] multiplies input sample (base - m) for an output on phase p.
        self._phases: npt.NDArray[np.float32] = (
            padded.reshape(per_phase, self._up).T.astype(np.float32)
        )
        self._history = np.zeros(per_phase, dtype=np.float32)
        # Each phase's taps in input order, for the sliding-window path below.
        self._reversed: npt.NDArray[np.float32] = np.ascontiguousarray(self._phases[:, ::-1])
        self._cache: dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = {}

    @property
    def delay(self) -> float:
        """The filter's delay, in input samples."""
        return self._half / self._up

    def _plan(self, count: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        plan = self._cache.get(count)
        if plan is None:
            outputs = count * self._up // self._down
            positions = np.arange(outputs) * self._down  # on the upsampled grid
            phase = positions % self._up
            base = positions // self._up + len(self._history)  # index into history + input
            width = self._phases.shape[1]
            indexes = base[:, None] - np.arange(width)[None, :]
            plan = (indexes.astype(np.intp), self._phases[phase])
            self._cache[count] = plan
        return plan

    def process(self, pcm: bytes) -> bytes:
        """Resample one block; its sample count times to/from must be a whole number."""
        if self._up == self._down:
            return bytes(pcm)
        if len(pcm) % 2:
            raise CodecError("PCM must be whole 16-bit samples")
        count = len(pcm) // 2
        if (count * self._up) % self._down:
            raise CodecError(
                f"{count} samples at {self.from_rate} Hz are no whole number at {self.to_rate} Hz"
            )
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
        block = np.concatenate([self._history, samples])
        if self._up == 1 or self._down == 1:
            out = self._integer_ratio(block, count)
        else:
            indexes, coefficients = self._plan(count)
            out = np.einsum("ij,ij->i", block[indexes], coefficients)
        self._history = block[len(block) - len(self._history) :]
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()

    def _integer_ratio(
        self, block: npt.NDArray[np.float32], count: int
    ) -> npt.NDArray[np.float32]:
        """The same sums as the general plan for 1:n and n:1 ratios (8/16/48 kHz), as
        dot products over a strided window view: no gather copy, about 4x faster."""
        width = self._reversed.shape[1]  # == len(self._history)
        step = block.itemsize  # `block` is a fresh contiguous array: the views stay inside it
        if self._down == 1:
            # output i*up + p = block[i+1 : i+1+width] . reversed[p]
            windows = np.ndarray((count, width), np.float32, block, step, (step, step))
            return np.dot(windows, self._reversed.T).reshape(-1)
        # output j = block[j*down+1 : j*down+1+width] . reversed[0]
        outputs = count // self._down
        windows = np.ndarray((outputs, width), np.float32, block, step, (self._down * step, step))
        return np.dot(windows, self._reversed[0])

    def reset(self) -> None:
        """Forget the history (a new, unrelated stream of audio follows)."""
        self._history = np.zeros_like(self._history)
