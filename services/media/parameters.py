"""The `media` dict of start_stream/update_stream, checked.

It is `dataclasses.asdict()` of the facade's `NegotiatedMedia` (the field
names are the keys; `srtp` is {suite, tag, local_key, remote_key} or None).
The service does not import the facade's negotiation code: it checks the
dict field by field and turns anything wrong into `ParameterError`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sipsimple_services.media.codecs import CodecError, codec_class
from sipsimple_services.media.srtp import KEY_LENGTH, SUITES

__all__ = ["DIRECTIONS", "ParameterError", "SRTPKeys", "StreamParameters"]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class ParameterError(ValueError):
    """A media dict that does not describe a stream we can run."""


@dataclass(frozen=True)
class SRTPKeys:
    suite: str
    tag: int
    local_key: bytes
    remote_key: bytes

    def __repr__(self) -> str:  # keys never reach a log
        return f"SRTPKeys(suite={self.suite!r}, tag={self.tag})"


def _field(data: dict[str, Any], name: str, types: tuple[type, ...], optional: bool = False) -> Any:
    if name not in data:
        raise ParameterError(f"media: missing {name!r}")
    value = data[name]
    if value is None and optional:
        return None
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise ParameterError(f"media: {name!r} has the wrong type ({type(value).__name__})")
    return value


def _payload_type(data: dict[str, Any], name: str, optional: bool = False) -> int | None:
    value = _field(data, name, (int,), optional)
    if value is not None and not 0 <= value <= 127:
        raise ParameterError(f"media: {name!r} out of range: {value}")
    return value


def _port(data: dict[str, Any], name: str) -> int:
    value = _field(data, name, (int,))
    if not 0 <= value <= 65535:
        raise ParameterError(f"media: {name!r} out of range: {value}")
    return int(value)


def _address(data: dict[str, Any], name: str) -> str:
    value = _field(data, name, (str,))
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ParameterError(f"media: {name!r} is not an IP address: {value!r}") from None


@dataclass(frozen=True)
class StreamParameters:
    codec: str
    payload_type: int  # we send with it
    local_payload_type: int  # we receive it
    clock_rate: int
    sample_rate: int
    telephone_event_payload_type: int | None
    local_telephone_event_payload_type: int | None
    telephone_event_clock_rate: int | None
    ptime: int
    direction: str
    remote_address: str
    remote_port: int
    remote_rtcp_address: str
    remote_rtcp_port: int
    rtcp_mux: bool
    srtp: SRTPKeys | None

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")

    @cached_property
    def remote_known(self) -> bool:
        """False for the old hold form (c=0.0.0.0) or a port of 0 (asked every frame)."""
        address = ipaddress.ip_address(self.remote_address)
        return self.remote_port != 0 and not address.is_unspecified

    @classmethod
    def from_dict(cls, data: Any) -> StreamParameters:
        if not isinstance(data, dict):
            raise ParameterError("media must be a map")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(str(key) for key in set(data) - known)
        if unknown:
            raise ParameterError(f"media: unknown field(s) {', '.join(unknown)}")
        codec = _field(data, "codec", (str,))
        try:
            implementation = codec_class(codec)
        except CodecError as exc:
            raise ParameterError(f"media: {exc}") from None
        clock_rate = _field(data, "clock_rate", (int,))
        if clock_rate != implementation.clock_rate:
            raise ParameterError(f"media: {codec} has an RTP clock of {implementation.clock_rate}")
        direction = _field(data, "direction", (str,))
        if direction not in DIRECTIONS:
            raise ParameterError(f"media: unknown direction {direction!r}")
        event_pt = _payload_type(data, "telephone_event_payload_type", optional=True)
        local_event_pt = _payload_type(data, "local_telephone_event_payload_type", optional=True)
        event_clock = _field(data, "telephone_event_clock_rate", (int,), optional=True)
        if (event_pt is None) != (local_event_pt is None) or (
            event_pt is not None and (event_clock is None or event_clock <= 0)
        ):
            raise ParameterError("media: telephone-event needs both payload types and a clock")
        ptime = _field(data, "ptime", (int,))
        if not 10 <= ptime <= 120:
            raise ParameterError(f"media: ptime out of range: {ptime}")
        srtp = _srtp(data.get("srtp", ...))
        return cls(
            codec=implementation.name,
            payload_type=_payload_type(data, "payload_type"),  # type: ignore[arg-type]
            local_payload_type=_payload_type(data, "local_payload_type"),  # type: ignore[arg-type]
            clock_rate=clock_rate,
            sample_rate=_field(data, "sample_rate", (int,)),
            telephone_event_payload_type=event_pt,
            local_telephone_event_payload_type=local_event_pt,
            telephone_event_clock_rate=event_clock,
            ptime=ptime,
            direction=direction,
            remote_address=_address(data, "remote_address"),
            remote_port=_port(data, "remote_port"),
            remote_rtcp_address=_address(data, "remote_rtcp_address"),
            remote_rtcp_port=_port(data, "remote_rtcp_port"),
            rtcp_mux=_field(data, "rtcp_mux", (bool,)),
            srtp=srtp,
        )


def _srtp(value: Any) -> SRTPKeys | None:
    if value is ...:
        raise ParameterError("media: missing 'srtp'")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ParameterError("media: srtp must be a map or None")
    suite = _field(value, "suite", (str,))
    if suite not in SUITES:
        raise ParameterError(f"media: unsupported SRTP suite {suite!r}")
    keys = [_field(value, name, (bytes,)) for name in ("local_key", "remote_key")]
    if any(len(key) != KEY_LENGTH for key in keys):
        raise ParameterError(f"media: SRTP keys are {KEY_LENGTH} bytes of key and salt")
    return SRTPKeys(suite, _field(value, "tag", (int,)), keys[0], keys[1])
