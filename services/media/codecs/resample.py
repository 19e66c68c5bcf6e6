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
# 0-d arrays: ufuncs take them much faster than Python numbers.
_LOWEST = np.array(-32768, dtype=np.float32)
_HIGHEST = np.array(32767, dtype=np.float32)


class Resampler:
    """Converts mono s16le PCM from `from_rate` to `to_rate`, frame by frame."""

    __slots__ = (
        "_blocks",
        "_cache",
        "_down",
        "_half",
        "_history",
        "_phases",
        "_reversed",
        "_reversed_t",
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
        self._reversed_t: npt.NDArray[np.float32] = np.ascontiguousarray(self._reversed.T)
        self._cache: dict[int, tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]] = {}
        # Per block size: a work buffer (history + input) kept across calls, and for
        # the 1:n and n:1 ratios the strided window view over it, built once.
        self._blocks: dict[int, tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]] = {}

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
        return self.resample(np.frombuffer(pcm, dtype="<i2")).tobytes()

    def resample(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """`process` on an int16 array, giving a new one (no bytes in between: the
        mixer's frames are arrays)."""
        if self._up == self._down:
            return np.array(samples, dtype=np.int16)
        count = len(samples)
        if (count * self._up) % self._down:
            raise CodecError(
                f"{count} samples at {self.from_rate} Hz are no whole number at {self.to_rate} Hz"
            )
        entry = self._blocks.get(count)
        if entry is None:
            entry = self._blocks[count] = self._block(count)
        block, windows = entry
        history = len(self._history)
        block[:history] = self._history
        block[history:] = samples  # to float32
        if windows is None:
            indexes, coefficients = self._plan(count)
            out = np.einsum("ij,ij->i", block[indexes], coefficients)
        elif self._down == 1:
            # output i*up + p = block[i+1 : i+1+width] . reversed[p]
            out = np.dot(windows, self._reversed_t).reshape(-1)
        else:
            # output j = block[j*down+1 : j*down+1+width] . reversed[0]
            out = np.dot(windows, self._reversed[0])
        self._history[:] = block[count:]
        np.rint(out, out=out)
        np.maximum(out, _LOWEST, out=out)
        np.minimum(out, _HIGHEST, out=out)
        return out.astype(np.int16)

    def _block(
        self, count: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None]:
        """The work buffer for blocks of `count` samples and, for the 1:n and n:1
        ratios, the sliding windows over it: the same sums as the general plan
        as dot products over a strided view, with no gather copy (about 4x faster)."""
        history = len(self._history)
        block = np.zeros(history + count, dtype=np.float32)
        if self._up != 1 and self._down != 1:
            return block, None
        width = self._reversed.shape[1]  # == history
        step = block.itemsize  # the views stay inside `block`, which lives as long
        if self._down == 1:
            shape, strides = (count, width), (step, step)
        else:
            shape, strides = (count // self._down, width), (self._down * step, step)
        windows: npt.NDArray[np.float32] = np.ndarray(shape, np.float32, block, step, strides)
        return block, windows

    def reset(self) -> None:
        """Forget the history (a new, unrelated stream of audio follows)."""
        self._history[:] = 0
