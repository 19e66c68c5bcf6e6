"""Streaming PCM resampling between the rates of the codecs and the mixer.

A polyphase windowed-sinc filter in numpy: for a 20 ms frame in, exactly 20
ms comes out (no frame of varying length as from a buffering resampler),
with a fixed delay of `delay` input samples. The filter's history carries
across calls, so consecutive frames join without clicks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
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
# Scratch matrices by shape, per thread (a resampler uses the one of the thread
# that made its buffers; one resampler is never used by two threads at once).
_SCRATCH = threading.local()


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
        # Per block size: a work buffer (history + input) kept across calls and the
        # computation over it, with its views and buffers built once (see _block).
        self._blocks: dict[
            int, tuple[npt.NDArray[np.float32], Callable[[], npt.NDArray[np.float32]]]
        ] = {}

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
        block, compute = entry
        history = len(self._history)
        block[:history] = self._history
        block[history:] = samples  # to float32
        out = compute()
        self._history[:] = block[count:]
        np.rint(out, out=out)
        np.maximum(out, _LOWEST, out=out)
        np.minimum(out, _HIGHEST, out=out)
        return out.astype(np.int16)

    def _block(
        self, count: int
    ) -> tuple[npt.NDArray[np.float32], Callable[[], npt.NDArray[np.float32]]]:
        """The work buffer for blocks of `count` samples (history, then the block)
        and the computation of the output from it, built once per block size.

        The 1:n and n:1 ratios (8/16/48 kHz) compute the same sums as the general
        plan without its gather copy: about 4x faster."""
        history = len(self._history)
        block = np.zeros(history + count, dtype=np.float32)
        step = block.itemsize  # the views below stay inside `block`, which lives as long
        width = self._reversed.shape[1]  # == history
        if self._up != 1 and self._down != 1:

            def general() -> npt.NDArray[np.float32]:
                indexes, coefficients = self._plan(count)
                return np.einsum("ij,ij->i", block[indexes], coefficients)

            return block, general
        if self._down == 1:
            # output i*up + p = block[i+1 : i+1+width] . reversed[p]: a strided
            # window view (numpy copies the few rows it needs) times the phases.
            windows = np.ndarray((count, width), np.float32, block, step, (step, step))
            phases = self._reversed_t
            return block, lambda: np.dot(windows, phases).reshape(-1)
        down, outputs = self._down, count // self._down
        if down == 2:
            # output j = block[j*down+1 : j*down+1+width] . reversed[0]
            windows = np.ndarray((outputs, width), np.float32, block, step, (down * step, step))
            taps = self._reversed[0]
            return block, lambda: np.dot(windows, taps)
        # Larger decimations, by polyphase parts without the windows' copy (which
        # grows with `down`): with the samples after block[0] as rows of `down`,
        # S, and the taps as rows of `down`, R (zero-padded), output j is
        # sum over k of R[k] . S[j + k], so Q = R @ S.T holds every term and
        # output j sums Q[k, j + k]: a view whose rows are contiguous.
        parts = -(-width // down)
        rows = outputs + parts - 1  # rows * down + 1 <= len(block), as (parts - 1) * down < width
        padded = np.zeros(parts * down, dtype=np.float32)
        padded[:width] = self._reversed[0]
        taps = padded.reshape(parts, down)
        samples = block[1 : 1 + rows * down].reshape(rows, down).T
        # Scratch shared by the resamplers of a shape, as numpy's own temporaries
        # would be: one per stream would crowd the CPU's caches (200 streams x 18 KB).
        scratch: dict[tuple[int, int], npt.NDArray[np.float32]] | None
        scratch = getattr(_SCRATCH, "shapes", None)
        if scratch is None:
            scratch = _SCRATCH.shapes = {}
        terms = scratch.get((parts, rows))
        if terms is None:
            terms = scratch[(parts, rows)] = np.empty((parts, rows), dtype=np.float32)
        diagonals = np.ndarray((parts, outputs), np.float32, terms, 0, ((rows + 1) * step, step))
        ones = np.ones(parts, dtype=np.float32)

        def decimate() -> npt.NDArray[np.float32]:
            np.dot(taps, samples, out=terms)
            return np.dot(ones, diagonals)

        return block, decimate

    def reset(self) -> None:
        """Forget the history (a new, unrelated stream of audio follows)."""
        self._history[:] = 0
