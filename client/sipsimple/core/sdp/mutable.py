"""The mutable SDP model, for building descriptions piece by piece.

Nothing is checked until the object is frozen (`FrozenSDPSession.new(s)`),
serialized (`str(s)`, `bytes(s)`, which freeze first) or compared, so an
application may fill it in any order. `SDPSession.new(x)` makes a deep
mutable copy of either form.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sipsimple.core.sdp.attributes import SDPAttribute, SDPAttributeList
from sipsimple.core.sdp.base import MediaQueries, SessionQueries, ntp_now
from sipsimple.core.sdp.frozen import FrozenSDPMediaStream, FrozenSDPSession
from sipsimple.core.sdp.grammar import DIRECTIONS

__all__ = [
    "SDPBandwidthInfo",
    "SDPConnection",
    "SDPMediaStream",
    "SDPSession",
    "SDPTiming",
]


@dataclass
class SDPConnection:
    address: str
    net_type: str = "IN"
    address_type: str = "IP4"

    @classmethod
    def new(cls, other: Any) -> SDPConnection:
        return cls(other.address, other.net_type, other.address_type)

    def __str__(self) -> str:
        return f"{self.net_type} {self.address_type} {self.address}"


@dataclass
class SDPBandwidthInfo:
    modifier: str
    value: int

    @classmethod
    def new(cls, other: Any) -> SDPBandwidthInfo:
        return cls(other.modifier, other.value)


@dataclass
class SDPTiming:
    start: int = 0
    stop: int = 0
    repeats: list[str] | None = None

    def __post_init__(self) -> None:
        self.repeats = list(self.repeats or ())

    @classmethod
    def new(cls, other: Any) -> SDPTiming:
        return cls(other.start, other.stop, list(other.repeats))


def _copy_connection(value: Any) -> SDPConnection | None:
    return None if value is None else SDPConnection.new(value)


class _CoerceAttributes:
    """`x.attributes = [...]` keeps the name look-ups of SDPAttributeList."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "attributes" and not isinstance(value, SDPAttributeList):
            value = SDPAttributeList(value)
        super().__setattr__(name, value)


@dataclass(init=False)
class SDPMediaStream(_CoerceAttributes, MediaQueries):
    media: str
    port: int
    transport: str
    port_count: int
    formats: list[str]
    info: str | None
    connection: SDPConnection | None
    extra_connections: list[SDPConnection]
    attributes: SDPAttributeList
    bandwidth_info: list[SDPBandwidthInfo]

    def __init__(
        self,
        media: str,
        port: int,
        transport: str,
        port_count: int = 1,
        formats: Iterable[str] | None = None,
        info: str | None = None,
        connection: Any = None,
        attributes: Iterable[Any] | None = None,
        bandwidth_info: Iterable[Any] | None = None,
        extra_connections: Iterable[Any] | None = None,
    ) -> None:
        self.media = media
        self.port = port
        self.transport = transport
        self.port_count = port_count
        self.formats = list(formats or ())
        self.info = info
        self.connection = _copy_connection(connection)
        self.extra_connections = [SDPConnection.new(c) for c in extra_connections or ()]
        self.attributes = SDPAttributeList(attributes or ())
        self.bandwidth_info = [SDPBandwidthInfo.new(b) for b in bandwidth_info or ()]

    @classmethod
    def new(cls, other: Any) -> SDPMediaStream:
        return cls(
            other.media, other.port, other.transport, other.port_count, other.formats,
            other.info, other.connection, other.attributes, other.bandwidth_info,
            other.extra_connections,
        )

    @property
    def direction(self) -> str | None:
        return super().direction

    @direction.setter
    def direction(self, value: str | None) -> None:
        """Replace every direction attribute by `value` (None: leave none)."""
        if value is not None and value not in DIRECTIONS:
            raise ValueError(f"invalid direction: {value!r}")
        self.attributes[:] = [a for a in self.attributes if a.name not in DIRECTIONS]
        if value is not None:
            self.attributes.append(SDPAttribute(value))

    def __str__(self) -> str:
        return str(FrozenSDPMediaStream.new(self))


@dataclass(init=False)
class SDPSession(_CoerceAttributes, SessionQueries):
    address: str
    id: int
    version: int
    user: str
    net_type: str
    address_type: str
    name: str
    info: str | None
    uri: str | None
    emails: list[str]
    phones: list[str]
    connection: SDPConnection | None
    bandwidth_info: list[SDPBandwidthInfo]
    times: list[SDPTiming]
    zone_adjustments: str | None
    attributes: SDPAttributeList
    media: list[SDPMediaStream]

    def __init__(
        self,
        address: str,
        id: int | None = None,
        version: int | None = None,
        user: str = "-",
        net_type: str = "IN",
        address_type: str = "IP4",
        name: str = " ",
        info: str | None = None,
        connection: Any = None,
        start_time: int = 0,
        stop_time: int = 0,
        attributes: Iterable[Any] | None = None,
        bandwidth_info: Iterable[Any] | None = None,
        media: Iterable[Any] | None = None,
        *,
        uri: str | None = None,
        emails: Iterable[str] | None = None,
        phones: Iterable[str] | None = None,
        times: Iterable[Any] | None = None,
        zone_adjustments: str | None = None,
    ) -> None:
        now = ntp_now()
        self.address = address
        self.id = now if id is None else id
        self.version = self.id if version is None else version
        self.user = user
        self.net_type = net_type
        self.address_type = address_type
        self.name = name
        self.info = info
        self.uri = uri
        self.emails = list(emails or ())
        self.phones = list(phones or ())
        self.connection = _copy_connection(connection)
        self.bandwidth_info = [SDPBandwidthInfo.new(b) for b in bandwidth_info or ()]
        # start_time/stop_time are the one-t=-line shorthand; `times` wins.
        self.times = (
            [SDPTiming.new(t) for t in times]
            if times is not None
            else [SDPTiming(start_time, stop_time)]
        )
        self.zone_adjustments = zone_adjustments
        self.attributes = SDPAttributeList(attributes or ())
        self.media = [SDPMediaStream.new(m) for m in media or ()]

    @classmethod
    def new(cls, other: Any) -> SDPSession:
        return cls(
            other.address, other.id, other.version, other.user, other.net_type,
            other.address_type, other.name, other.info, other.connection,
            attributes=other.attributes, bandwidth_info=other.bandwidth_info,
            media=other.media, uri=other.uri, emails=other.emails, phones=other.phones,
            times=other.times, zone_adjustments=other.zone_adjustments,
        )

    @classmethod
    def parse(cls, data: bytes | str) -> SDPSession:
        """Parse into a mutable session (`FrozenSDPSession.parse` for the frozen one)."""
        return cls.new(FrozenSDPSession.parse(data))

    @property
    def start_time(self) -> int:
        return self.times[0].start

    @start_time.setter
    def start_time(self, value: int) -> None:
        self.times[0].start = value

    @property
    def stop_time(self) -> int:
        return self.times[0].stop

    @stop_time.setter
    def stop_time(self, value: int) -> None:
        self.times[0].stop = value

    def __str__(self) -> str:
        return str(FrozenSDPSession.new(self))

    def __bytes__(self) -> bytes:
        return bytes(FrozenSDPSession.new(self))
