"""Audio codecs of the media service: G.711 (PCMU, PCMA), G.722 and opus.

`create_codec(name)` makes one stream's codec from its SDP encoding name
(case-insensitive, RFC 4855 3); `CODECS` lists the classes by canonical name.
`Resampler` converts PCM between the rates the codecs and the mixer use.
"""

from sipsimple_services.media.codecs.base import (
    FRAME_DURATION,
    MAX_DECODED_DURATION,
    Codec,
    CodecError,
)
from sipsimple_services.media.codecs.ffmpeg import G722Codec, OpusCodec
from sipsimple_services.media.codecs.g711 import PCMACodec, PCMUCodec
from sipsimple_services.media.codecs.resample import Resampler

__all__ = [
    "CODECS",
    "FRAME_DURATION",
    "MAX_DECODED_DURATION",
    "Codec",
    "CodecError",
    "G722Codec",
    "OpusCodec",
    "PCMACodec",
    "PCMUCodec",
    "Resampler",
    "codec_class",
    "create_codec",
]

CODECS: dict[str, type[Codec]] = {
    cls.name: cls for cls in (OpusCodec, G722Codec, PCMUCodec, PCMACodec)
}
_BY_LOWER = {name.lower(): cls for name, cls in CODECS.items()}


def codec_class(name: str) -> type[Codec]:
    """The class for an SDP encoding name; `CodecError` for one we do not have."""
    try:
        return _BY_LOWER[name.lower()]
    except (KeyError, AttributeError):
        raise CodecError(f"unsupported codec: {name!r}") from None


def create_codec(name: str) -> Codec:
    return codec_class(name)()
