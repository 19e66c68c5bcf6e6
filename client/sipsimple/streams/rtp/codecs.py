"""Audio formats in SDP: what we offer, and reading what a peer offers or answers.

The facade knows the codecs by their SDP description only (the media service
runs them). A format of an m-line is resolved through its `a=rtpmap`, or
for a static payload type without one, through RFC 3551's table.
Encoding names compare case-insensitively (RFC 4855 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AUDIO_CODECS",
    "DEFAULT_CODEC_ORDER",
    "DYNAMIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT_EVENTS",
    "AudioCodecInfo",
    "RTPFormat",
    "canonical_codec_name",
    "media_formats",
]


@dataclass(frozen=True, slots=True)
class AudioCodecInfo:
    name: str  # as in a=rtpmap
    clock_rate: int  # RTP clock
    sample_rate: int  # audio sampling rate (G.722: 16000 on an 8000 clock)
    channels: int  # as in a=rtpmap (opus: always 2, RFC 7587)
    static_payload_type: int | None


AUDIO_CODECS: dict[str, AudioCodecInfo] = {
    c.name: c
    for c in (
        AudioCodecInfo("opus", 48000, 48000, 2, None),
        AudioCodecInfo("G722", 8000, 16000, 1, 9),
        AudioCodecInfo("PCMU", 8000, 8000, 1, 0),
        AudioCodecInfo("PCMA", 8000, 8000, 1, 8),
    )
}
DEFAULT_CODEC_ORDER: tuple[str, ...] = ("opus", "G722", "PCMU", "PCMA")
DYNAMIC_PAYLOAD_TYPES = range(96, 128)
TELEPHONE_EVENT = "telephone-event"
TELEPHONE_EVENT_EVENTS = "0-16"  # DTMF 0-9, *, #, A-D and flash (RFC 4733 3.2)

# RFC 3551 table 4: the static audio payload types, for m-lines without rtpmap.
_STATIC: dict[int, tuple[str, int, int]] = {
    0: ("PCMU", 8000, 1), 3: ("GSM", 8000, 1), 4: ("G723", 8000, 1), 5: ("DVI4", 8000, 1),
    6: ("DVI4", 16000, 1), 7: ("LPC", 8000, 1), 8: ("PCMA", 8000, 1), 9: ("G722", 8000, 1),
    10: ("L16", 44100, 2), 11: ("L16", 44100, 1), 12: ("QCELP", 8000, 1), 13: ("CN", 8000, 1),
    14: ("MPA", 90000, 1), 15: ("G728", 8000, 1), 16: ("DVI4", 11025, 1),
    17: ("DVI4", 22050, 1), 18: ("G729", 8000, 1),
}
_RTPMAP = re.compile(r"([0-9]{1,3})\s+([^/\s]+)/([0-9]{1,6})(?:/([0-9]{1,2}))?\s*")
_FMTP = re.compile(r"([0-9]{1,3})\s+(.*)")
_BY_LOWER = {name.lower(): name for name in AUDIO_CODECS}


def canonical_codec_name(name: str) -> str | None:
    """Our spelling of a codec name, None if we do not support it."""
    return _BY_LOWER.get(name.lower()) if isinstance(name, str) else None


@dataclass(frozen=True, slots=True)
class RTPFormat:
    """One payload type of an m-line as its author described it."""

    payload_type: int
    encoding: str  # as written
    clock_rate: int
    channels: int
    fmtp: str | None = None

    @property
    def codec(self) -> AudioCodecInfo | None:
        """Our codec for this format, None if unsupported or described wrongly."""
        name = canonical_codec_name(self.encoding)
        if name is None:
            return None
        info = AUDIO_CODECS[name]
        if self.clock_rate != info.clock_rate:
            return None
        # RFC 7587 says opus/48000/2; a missing /2 is a common slip we forgive.
        if self.channels != info.channels and not (name == "opus" and self.channels == 1):
            return None
        return info

    @property
    def is_telephone_event(self) -> bool:
        return self.encoding.lower() == TELEPHONE_EVENT

    @property
    def rtpmap(self) -> str:
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{channels}"


def media_formats(media: Any) -> list[RTPFormat]:
    """The formats of an RTP m-line that can be understood, in the m-line's order.

    Formats that are not payload type numbers, dynamic ones without an
    rtpmap and malformed rtpmaps are left out: the peer may offer things we
    cannot read, and only what we can read can be chosen.
    """
    rtpmaps: dict[int, tuple[str, int, int]] = {}
    for value in media.attributes.getall("rtpmap"):
        match = _RTPMAP.fullmatch(value)
        if match is not None:
            payload_type = int(match.group(1))
            channels = int(match.group(4)) if match.group(4) else 1
            rtpmaps.setdefault(payload_type, (match.group(2), int(match.group(3)), channels))
    fmtps: dict[int, str] = {}
    for value in media.attributes.getall("fmtp"):
        match = _FMTP.fullmatch(value)
        if match is not None:
            fmtps.setdefault(int(match.group(1)), match.group(2).strip())
    formats = []
    seen = set()
    for text in media.formats:
        if not text.isascii() or not text.isdigit() or len(text) > 3 or text != str(int(text)):
            continue  # "00" is no payload type: the answer must repeat the offer's numbers
        payload_type = int(text)
        if payload_type > 127 or payload_type in seen:
            continue
        seen.add(payload_type)
        description = rtpmaps.get(payload_type) or _STATIC.get(payload_type)
        if description is None:
            continue
        encoding, clock_rate, channels = description
        if clock_rate == 0:
            continue
        formats.append(
            RTPFormat(payload_type, encoding, clock_rate, channels, fmtps.get(payload_type))
        )
    return formats
