"""The interface every audio codec of the media service implements.

A codec object belongs to one RTP stream and holds that stream's encoder and
decoder state. PCM is always signed 16-bit little-endian mono at the codec's
`sample_rate`; the RTP timestamp advances at `clock_rate`, which differs for
G.722 (RFC 3551 4.5.2) and is 48000 for opus whatever it samples
(RFC 7587 4.1). One frame is 20 ms.

Bad input is `CodecError`, never another exception: a payload from the
network is hostile until decoded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import ClassVar

import numpy as np

__all__ = ["FRAME_DURATION", "MAX_DECODED_DURATION", "Codec", "CodecError", "FadingConcealer"]

FRAME_DURATION = 20  # ms, what we send; received packets may hold other durations
# The longest audio one payload may decode to: opus's own limit (RFC 6716 3.2.5),
# applied to every codec so that a packet cannot make us allocate much.
MAX_DECODED_DURATION = 120  # ms


class CodecError(ValueError):
    """A frame that cannot be encoded or a payload that cannot be decoded."""


class Codec(ABC):
    """One stream's encoder and decoder for one RTP audio format."""

    name: ClassVar[str]  # the SDP encoding name, as RFC 3551 / RFC 7587 spell it
    clock_rate: ClassVar[int]  # RTP timestamp units per second
    sample_rate: ClassVar[int]  # PCM samples per second in and out
    channels: ClassVar[int] = 1  # the encoding's channel count in SDP (PCM is mono)
    static_payload_type: ClassVar[int | None] = None

    @property
    def frame_duration(self) -> int:
        return FRAME_DURATION

    @cached_property  # constant per codec, and read per frame
    def frame_samples(self) -> int:
        """PCM samples in one frame."""
        return self.sample_rate * FRAME_DURATION // 1000

    @cached_property  # constant per codec, and read per frame
    def frame_bytes(self) -> int:
        """The size of the PCM `encode` takes."""
        return 2 * self.frame_samples

    @cached_property  # constant per codec, and read per frame
    def timestamp_increment(self) -> int:
        """RTP timestamp units per frame."""
        return self.clock_rate * FRAME_DURATION // 1000

    @cached_property  # constant per codec, and read per frame
    def max_decoded_bytes(self) -> int:
        return 2 * self.sample_rate * MAX_DECODED_DURATION // 1000

    def check_frame(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """The frame as bytes, or `CodecError` if it is not one frame of PCM."""
        if not isinstance(pcm, bytes | bytearray | memoryview):
            raise CodecError(f"{self.name}: PCM must be bytes, not {type(pcm).__name__}")
        data = pcm if type(pcm) is bytes else bytes(pcm)
        if len(data) != self.frame_bytes:
            raise CodecError(
                f"{self.name}: a frame is {self.frame_bytes} bytes of PCM, got {len(data)}"
            )
        return data

    def check_payload(self, payload: bytes | bytearray | memoryview) -> bytes:
        """The payload as bytes, or `CodecError` if it is empty or not bytes."""
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise CodecError(f"{self.name}: a payload must be bytes, not {type(payload).__name__}")
        data = payload if type(payload) is bytes else bytes(payload)
        if not data:
            raise CodecError(f"{self.name}: empty payload")
        return data

    @abstractmethod
    def encode(self, pcm: bytes) -> bytes:
        """One 20 ms frame of PCM to one RTP payload."""

    @abstractmethod
    def decode(self, payload: bytes) -> bytes:
        """One RTP payload to PCM (as long as the payload says, at most 120 ms)."""

    @abstractmethod
    def conceal(self) -> bytes:
        """One 20 ms frame standing in for a lost packet."""


class FadingConcealer:
    """Loss concealment for codecs without their own: repeat the last frame, fading out.

    Each consecutive lost frame halves the level, so a burst of loss becomes
    silence within about 100 ms instead of a buzz of one repeated frame.
    """

    __slots__ = ("_last", "_lost", "_samples")

    STEPS = 5  # halvings before silence

    def __init__(self, frame_samples: int) -> None:
        self._samples = frame_samples
        self._last = np.zeros(frame_samples, dtype=np.int16)
        self._lost = 0

    def decoded(self, pcm: bytes) -> None:
        """Remember the end of what was just decoded (a full frame, padded at the front)."""
        samples = np.frombuffer(pcm, dtype="<i2")[-self._samples :]
        if len(samples) < self._samples:
            samples = np.concatenate(
                [np.zeros(self._samples - len(samples), dtype=np.int16), samples]
            )
        self._last = samples
        self._lost = 0

    def conceal(self) -> bytes:
        self._lost += 1
        if self._lost > self.STEPS:
            return bytes(2 * self._samples)
        faded = self._last.astype(np.int32) >> self._lost
        return faded.astype("<i2").tobytes()
