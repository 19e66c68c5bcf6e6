"""The frozen (immutable, hashable) SDP model: what parsing returns and
what streams receive as `local_sdp` and `remote_sdp`.

Construction checks every field and converts nested values (lists, mutable
objects) to their frozen forms, so a frozen session always serializes to
text that parses back to an equal session. `X.new(other)` converts from
either form; `SDPSession.new(frozen)` goes the other way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sipsimple.core.sdp.attributes import FrozenSDPAttributeList
from sipsimple.core.sdp.base import MediaQueries, SessionQueries, ntp_now
from sipsimple.core.sdp.grammar import (
    check_address,
    check_int,
    check_nonws,
    check_text,
    check_token,
    check_transport,
)

__all__ = [
    "FrozenSDPBandwidthInfo",
    "FrozenSDPConnection",
    "FrozenSDPMediaStream",
    "FrozenSDPSession",
    "FrozenSDPTiming",
]

MAX_ORIGIN_NUMBER = 2**128 - 1  # o= id/version; wide enough for every stack seen
MAX_NUMBER = 2**64 - 1  # bandwidth, times


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _optional_text(what: str, value: object) -> None:
    if value is not None:
        check_text(what, value)


@dataclass(frozen=True, slots=True)
class FrozenSDPConnection:
    address: str
    net_type: str = "IN"
    address_type: str = "IP4"

    def __post_init__(self) -> None:
        check_address(self.address)
        check_token("network type", self.net_type)
        check_token("address type", self.address_type)

    @classmethod
    def new(cls, other: Any) -> FrozenSDPConnection:
        if isinstance(other, cls):
            return other
        return cls(other.address, other.net_type, other.address_type)

    def __str__(self) -> str:
        return f"{self.net_type} {self.address_type} {self.address}"


@dataclass(frozen=True, slots=True)
class FrozenSDPBandwidthInfo:
    modifier: str
    value: int

    def __post_init__(self) -> None:
        check_token("bandwidth type", self.modifier)
        check_int("bandwidth", self.value, 0, MAX_NUMBER)

    @classmethod
    def new(cls, other: Any) -> FrozenSDPBandwidthInfo:
        if isinstance(other, cls):
            return other
        return cls(other.modifier, other.value)

    def __str__(self) -> str:
        return f"{self.modifier}:{self.value}"


@dataclass(frozen=True, slots=True)
class FrozenSDPTiming:
    """A t= line with its r= lines (kept as text: SIP does not schedule)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_int("start time", self.start, 0, MAX_NUMBER)
        check_int("stop time", self.stop, 0, MAX_NUMBER)
        _set(self, "repeats", tuple(self.repeats))
        for repeat in self.repeats:
            check_text("repeat time", repeat, empty=False)

    @classmethod
    def new(cls, other: Any) -> FrozenSDPTiming:
        if isinstance(other, cls):
            return other
        return cls(other.start, other.stop, tuple(other.repeats))


def _frozen_tuple(kind: Any, values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(kind.new(v) for v in values)


@dataclass(frozen=True, slots=True)
class FrozenSDPMediaStream(MediaQueries):
    media: str
    port: int
    transport: str
    port_count: int = 1
    formats: tuple[str, ...] = ()
    info: str | None = None
    connection: FrozenSDPConnection | None = None
    # RFC 8866 5.7 allows several c= per media (layered multicast); rare.
    extra_connections: tuple[FrozenSDPConnection, ...] = ()
    attributes: FrozenSDPAttributeList = field(default_factory=FrozenSDPAttributeList)
    bandwidth_info: tuple[FrozenSDPBandwidthInfo, ...] = ()

    def __post_init__(self) -> None:
        check_token("media type", self.media)
        check_int("port", self.port, 0, 65535)
        check_transport(self.transport)
        check_int("port count", self.port_count, 1, 65535)
        if isinstance(self.formats, str):
            raise ValueError("formats must be a sequence of strings")
        _set(self, "formats", tuple(self.formats))
        for fmt in self.formats:
            check_token("format", fmt)
        if not self.formats and self.port != 0:
            raise ValueError("a media description in use needs at least one format")
        _optional_text("media title", self.info)
        if self.connection is not None:
            _set(self, "connection", FrozenSDPConnection.new(self.connection))
        _set(self, "extra_connections", _frozen_tuple(FrozenSDPConnection, self.extra_connections))
        if self.extra_connections and self.connection is None:
            raise ValueError("extra connections without a first connection")
        if not isinstance(self.attributes, FrozenSDPAttributeList):
            _set(self, "attributes", FrozenSDPAttributeList(self.attributes))
        _set(self, "bandwidth_info", _frozen_tuple(FrozenSDPBandwidthInfo, self.bandwidth_info))

    @classmethod
    def new(cls, other: Any) -> FrozenSDPMediaStream:
        if isinstance(other, cls):
            return other
        return cls(
            other.media, other.port, other.transport, other.port_count, tuple(other.formats),
            other.info, other.connection, tuple(other.extra_connections),
            FrozenSDPAttributeList(other.attributes), tuple(other.bandwidth_info),
        )

    def __str__(self) -> str:
        from sipsimple.core.sdp.serializer import media_lines

        return "".join(line + "\r\n" for line in media_lines(self))


@dataclass(frozen=True, slots=True)
class FrozenSDPSession(SessionQueries):
    """A whole session description; `id`/`version` default to the NTP time now."""

    address: str
    id: int = field(default_factory=ntp_now)
    version: int = field(default_factory=ntp_now)
    user: str = "-"
    net_type: str = "IN"
    address_type: str = "IP4"
    name: str = " "
    info: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: FrozenSDPConnection | None = None
    bandwidth_info: tuple[FrozenSDPBandwidthInfo, ...] = ()
    times: tuple[FrozenSDPTiming, ...] = (FrozenSDPTiming(),)
    zone_adjustments: str | None = None
    attributes: FrozenSDPAttributeList = field(default_factory=FrozenSDPAttributeList)
    media: tuple[FrozenSDPMediaStream, ...] = ()

    def __post_init__(self) -> None:
        check_address(self.address)
        check_int("session id", self.id, 0, MAX_ORIGIN_NUMBER)
        check_int("session version", self.version, 0, MAX_ORIGIN_NUMBER)
        check_nonws("user name", self.user)
        check_token("network type", self.net_type)
        check_token("address type", self.address_type)
        check_text("session name", self.name, empty=False)
        _optional_text("session information", self.info)
        _optional_text("URI", self.uri)
        for what in ("emails", "phones"):
            values = tuple(getattr(self, what))
            for value in values:
                check_text(what, value, empty=False)
            _set(self, what, values)
        if self.connection is not None:
            _set(self, "connection", FrozenSDPConnection.new(self.connection))
        _set(self, "bandwidth_info", _frozen_tuple(FrozenSDPBandwidthInfo, self.bandwidth_info))
        _set(self, "times", _frozen_tuple(FrozenSDPTiming, self.times))
        if not self.times:
            raise ValueError("a session needs at least one t= line")
        _optional_text("time zones", self.zone_adjustments)
        if not isinstance(self.attributes, FrozenSDPAttributeList):
            _set(self, "attributes", FrozenSDPAttributeList(self.attributes))
        _set(self, "media", _frozen_tuple(FrozenSDPMediaStream, self.media))

    @classmethod
    def new(cls, other: Any) -> FrozenSDPSession:
        if isinstance(other, cls):
            return other
        return cls(
            other.address, other.id, other.version, other.user, other.net_type,
            other.address_type, other.name, other.info, other.uri, tuple(other.emails),
            tuple(other.phones), other.connection, tuple(other.bandwidth_info),
            tuple(other.times), other.zone_adjustments,
            FrozenSDPAttributeList(other.attributes), tuple(other.media),
        )

    @classmethod
    def parse(cls, data: bytes | str) -> FrozenSDPSession:
        from sipsimple.core.sdp.parser import parse_sdp

        return parse_sdp(data)

    @property
    def start_time(self) -> int:
        return self.times[0].start

    @property
    def stop_time(self) -> int:
        return self.times[0].stop

    def __str__(self) -> str:
        from sipsimple.core.sdp.serializer import serialize

        return serialize(self)

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")
