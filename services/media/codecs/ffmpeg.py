"""G.722 and opus through PyAV (FFmpeg's G.722 coder and libopus).

PyAV raises its own exception types (`av.error.FFmpegError` and friends,
some also `ValueError`); everything a decoder can throw becomes
`CodecError` here. An empty packet would put an FFmpeg decoder into its
end-of-stream state for good, so `check_payload` refuses empty payloads
before FFmpeg sees them.
"""

from __future__ import annotations

from typing import ClassVar

import av
import av.error
import numpy as np
from av.audio.frame import AudioFrame

from sipsimple_services.media.codecs.base import Codec, CodecError, FadingConcealer

__all__ = ["G722Codec", "OpusCodec"]


def _single_threaded(context: av.AudioCodecContext) -> None:
    # FFmpeg's default (0: "auto") lets a context start threads of its own, one
    # per core or more: a service with hundreds of streams would run hundreds
    # of threads for 20 ms frames that take well under a millisecond each.
    context.thread_count = 1
    context.thread_type = "NONE"


# PyAV's `encode` passes every frame through an `AudioResampler` when the
# encoder has a fixed frame size (libopus): a filter graph per encoder, with
# FFmpeg's default of one thread per core, which no setting of ours reaches.
# Our frames are already in the encoder's format and size, so they go to
# FFmpeg's send/receive directly, through PyAV's own (underscored) call when
# this PyAV has it.
_SEND_FRAME = getattr(av.AudioCodecContext, "_send_frame_and_recv", None)


def _decoder(name: str, sample_rate: int) -> av.AudioCodecContext:
    context = av.CodecContext.create(name, "r")
    assert isinstance(context, av.AudioCodecContext)
    _single_threaded(context)
    context.sample_rate = sample_rate
    context.layout = "mono"
    context.format = "s16"  # libopus honours it; G.722 decodes to s16 anyway
    return context


def _encoder(
    name: str, sample_rate: int, options: dict[str, str], bit_rate: int
) -> av.AudioCodecContext:
    context = av.CodecContext.create(name, "w")
    assert isinstance(context, av.AudioCodecContext)
    _single_threaded(context)
    context.sample_rate = sample_rate
    context.layout = "mono"
    context.format = "s16"
    if bit_rate:
        context.bit_rate = bit_rate
    context.options = options
    context.open()
    return context


class _PyAVCodec(Codec):
    encoder_name: ClassVar[str]
    decoder_name: ClassVar[str]
    encoder_options: ClassVar[dict[str, str]] = {}
    bit_rate: ClassVar[int] = 0

    def __init__(self) -> None:
        self._encoder = _encoder(
            self.encoder_name, self.sample_rate, dict(self.encoder_options), self.bit_rate
        )
        self._decoder = _decoder(self.decoder_name, self.sample_rate)
        self._pts = 0

    def encode(self, pcm: bytes) -> bytes:
        frame_pcm = self.check_frame(pcm)
        samples = np.frombuffer(frame_pcm, dtype="<i2").reshape(1, -1)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += self.frame_samples
        try:
            if _SEND_FRAME is not None:
                packets = list(_SEND_FRAME(self._encoder, frame))
            else:
                packets = self._encoder.encode(frame)
        except (av.error.FFmpegError, ValueError) as exc:  # not expected for valid PCM
            raise CodecError(f"{self.name}: encoder failed: {exc}") from exc
        if len(packets) != 1:
            raise CodecError(f"{self.name}: encoder returned {len(packets)} packets for a frame")
        return bytes(packets[0])

    def _decode(self, data: bytes) -> bytes:
        try:
            frames = self._decoder.decode(av.Packet(data))
        except (av.error.FFmpegError, ValueError) as exc:
            raise CodecError(f"{self.name}: undecodable payload: {exc}") from exc
        if not frames:
            raise CodecError(f"{self.name}: payload decoded to nothing")
        pcm = b"".join(self._frame_pcm(frame) for frame in frames)
        if len(pcm) > self.max_decoded_bytes:
            raise CodecError(f"{self.name}: payload decoded to more than 120 ms")
        return pcm

    def _frame_pcm(self, frame: AudioFrame) -> bytes:
        samples = frame.to_ndarray()
        if frame.format.name != "s16" or frame.sample_rate != self.sample_rate:
            # We asked for mono s16 at our rate; anything else is a decoder surprise.
            raise CodecError(
                f"{self.name}: decoder produced {frame.format.name} at {frame.sample_rate} Hz"
            )
        return samples.reshape(-1).astype("<i2", copy=False).tobytes()


class G722Codec(_PyAVCodec):
    """G.722 at 64 kbit/s: 16 kHz audio, but an 8000 Hz RTP clock (RFC 3551 4.5.2)."""

    name = "G722"
    clock_rate = 8000
    sample_rate = 16000
    static_payload_type = 9
    encoder_name = "g722"
    decoder_name = "g722"

    def __init__(self) -> None:
        super().__init__()
        self._concealer = FadingConcealer(self.frame_samples)

    def decode(self, payload: bytes) -> bytes:
        data = self.check_payload(payload)
        if 4 * len(data) > self.max_decoded_bytes:  # one byte is two samples
            raise CodecError(f"{self.name}: payload of {len(data)} bytes is longer than 120 ms")
        pcm = self._decode(data)
        self._concealer.decoded(pcm)
        return pcm

    def conceal(self) -> bytes:
        return self._concealer.conceal()


# Opus TOC configurations (RFC 6716 3.1) -> the configuration of the same mode and
# bandwidth with 20 ms frames, for the concealment packet.
def _twenty_ms_config(config: int) -> int:
    if config < 12:  # SILK: 10, 20, 40, 60 ms per bandwidth
        return config // 4 * 4 + 1
    if config < 16:  # hybrid: 10, 20 ms
        return 12 + (config - 12) // 2 * 2 + 1
    return 16 + (config - 16) // 4 * 4 + 3  # CELT: 2.5, 5, 10, 20 ms


class OpusCodec(_PyAVCodec):
    """Opus through libopus: 48 kHz mono PCM, `opus/48000/2` in SDP (RFC 7587).

    Loss concealment is libopus's own: a packet holding only a TOC byte has
    a zero-length frame, which RFC 6716 (3.2.1) tells the decoder to treat as
    lost, so it extrapolates from its state as for a missing packet.
    """

    name = "opus"
    clock_rate = 48000
    sample_rate = 48000
    channels = 2  # RFC 7587 7: always /2 in SDP, whatever is sent
    encoder_name = "libopus"
    decoder_name = "libopus"
    encoder_options: ClassVar[dict[str, str]] = {"application": "voip", "frame_duration": "20"}
    bit_rate = 32000

    def __init__(self) -> None:
        super().__init__()
        self._toc: int | None = None

    def decode(self, payload: bytes) -> bytes:
        data = self.check_payload(payload)
        pcm = self._decode(data)
        self._toc = data[0]
        return pcm

    def conceal(self) -> bytes:
        if self._toc is None:
            return bytes(self.frame_bytes)  # nothing to extrapolate from yet
        stereo = self._toc & 0x04
        toc = _twenty_ms_config(self._toc >> 3) << 3 | stereo  # code 0: one frame
        try:
            pcm = self._decode(bytes([toc]))
        except CodecError:
            return bytes(self.frame_bytes)
        if len(pcm) != self.frame_bytes:
            return bytes(self.frame_bytes)
        return pcm
