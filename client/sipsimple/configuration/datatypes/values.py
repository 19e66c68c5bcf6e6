"""Numbers, paths, word choices and the lists built from them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Self

from .base import ChoiceValue, IntValue, ListValue, State, StrValue

__all__ = [
    "AudioCodec",
    "AudioCodecList",
    "MSRPConnectionModel",
    "MSRPTransport",
    "NonNegativeInteger",
    "Path",
    "Port",
    "PortRange",
    "PositiveInteger",
    "SIPTransport",
    "SIPTransportList",
    "SRTPKeyNegotiation",
    "SampleRate",
]


class NonNegativeInteger(IntValue):
    minimum = 0


class PositiveInteger(IntValue):
    minimum = 1


class Port(IntValue):
    """A TCP/UDP port; 0 means "let the system pick" (ephemeral)."""

    minimum = 0
    maximum = 65535


class SampleRate(IntValue):
    rates = (8000, 16000, 32000, 44100, 48000)

    @classmethod
    def check(cls, value: int) -> None:
        if value not in cls.rates:
            rates = ", ".join(map(str, cls.rates))
            raise ValueError(f"sample rate must be one of {rates}; got {value}")


@dataclass(frozen=True)
class PortRange:
    """Inclusive range of local ports for RTP, written ``start-end``."""

    start: int
    end: int

    def __post_init__(self) -> None:
        for port in (self.start, self.end):
            if isinstance(port, bool) or not isinstance(port, int):
                raise TypeError(f"port range bounds must be int, got {type(port).__name__}")
            if not 1 <= port <= 65535:
                raise ValueError(f"port range bound {port} is not within 1-65535")
        if self.start > self.end:
            raise ValueError(f"port range start {self.start} is above its end {self.end}")

    @classmethod
    def coerce(cls, value: object) -> Self:
        if isinstance(value, tuple) and len(value) == 2:
            return cls(*value)
        raise TypeError(f"PortRange expects a PortRange or (start, end), got {value!r}")

    @classmethod
    def from_string(cls, text: str) -> Self:
        start, sep, end = text.strip().partition("-")
        try:
            if not sep:
                raise ValueError
            return cls(int(start), int(end))
        except (TypeError, ValueError) as exc:
            detail = f": {exc}" if str(exc) else ""
            example = "expected a port range like 50000-50500"
            raise ValueError(f"{example}, got {text!r}{detail}") from None

    @classmethod
    def from_state(cls, state: State) -> Self:
        if not isinstance(state, str):
            raise TypeError("expected a single value for a port range")
        return cls.from_string(state)

    def to_state(self) -> State:
        return str(self)

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


class Path(StrValue):
    """A filesystem path as the user wrote it (``~`` allowed); see ``normalized``."""

    @classmethod
    def normalize(cls, value: str) -> str:
        if not value:
            raise ValueError("a path cannot be empty")
        if "\0" in value:
            raise ValueError("a path cannot contain NUL characters")
        return value

    @property
    def normalized(self) -> str:
        return os.path.abspath(os.path.expanduser(self))


class SIPTransport(ChoiceValue):
    choices = ("udp", "tcp", "tls")


class SIPTransportList(ListValue):
    item_type = SIPTransport
    allow_empty = False


class AudioCodec(ChoiceValue):
    choices = ("opus", "G722", "PCMU", "PCMA")


class AudioCodecList(ListValue):
    item_type = AudioCodec
    allow_empty = False


class MSRPTransport(ChoiceValue):
    choices = ("tls", "tcp")


class MSRPConnectionModel(ChoiceValue):
    """``relay``: through an RFC 4976 relay; ``acm``: direct (RFC 6135)."""

    choices = ("relay", "acm")


class SRTPKeyNegotiation(ChoiceValue):
    """Whether SDES-SRTP is offered but optional, or required (RTP/SAVP)."""

    choices = ("sdes_optional", "sdes_mandatory")
