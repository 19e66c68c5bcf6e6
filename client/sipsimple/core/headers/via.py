"""Via (RFC 3261 section 20.42, rport from RFC 3581)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import EMPTY_PARAMS, Params, format_params, parse_params, split_params
from sipsimple.core.headers.base import Header, build, parse_uint
from sipsimple.core.uri import _check_host

__all__ = ["MAGIC_COOKIE", "ViaHeader"]

MAGIC_COOKIE = "z9hG4bK"

_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
# sent-protocol LWS sent-by: the classes on either side of each \s* are
# disjoint, so the expression cannot backtrack.
_VIA_RE = re.compile(
    rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+([^;]*)(.*)",
    re.DOTALL,
)
_HOSTPORT_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[^:\[\] \t]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?")


def _check_address(text: str, what: str) -> None:
    try:
        ipaddress.ip_address(text[1:-1] if text.startswith("[") else text)
    except ValueError:
        raise SIPParseError(f"Via {what} {text!r} is not an IP address") from None


def _check_params(params: Params) -> None:
    for name, value in params.items():
        key = name.lower()
        if key == "branch" and not value:
            raise SIPParseError("Via branch needs a value")
        elif key == "received":
            _check_address(value or "", "received")
        elif key == "rport" and value is not None:
            if parse_uint(value, "Via rport", 65535) == 0:
                raise SIPParseError("Via rport 0")
        elif key == "ttl":
            parse_uint(value or "", "Via ttl", 255)
        elif key == "maddr":
            _check_host(value or "")


@dataclass(frozen=True)
class ViaHeader(Header):
    """``SIP/2.0/UDP host:port;branch=...``; ``transport`` upper-case."""

    name = "Via"
    compact = "v"
    kind = "list"

    transport: str
    host: str
    port: int | None = None
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)
    protocol: str = "SIP/2.0"

    def __post_init__(self) -> None:
        if not isinstance(self.transport, str) or not re.fullmatch(_TOKEN, self.transport):
            raise SIPParseError(f"invalid Via transport {self.transport!r}")
        object.__setattr__(self, "transport", self.transport.upper())
        object.__setattr__(self, "host", _check_host(self.host))
        if self.port is not None and (
            not isinstance(self.port, int) or isinstance(self.port, bool)
            or not 0 < self.port < 65536
        ):
            raise SIPParseError(f"Via port {self.port!r} is not in 1..65535")
        params = Params.coerce(self.parameters)
        _check_params(params)
        object.__setattr__(self, "parameters", params)

    @classmethod
    def parse(cls, value: str) -> ViaHeader:
        match = _VIA_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid Via {value!r}")
        name, version, transport, hostport, tail = match.groups()
        hostport = hostport.strip(" \t")
        host_match = _HOSTPORT_RE.fullmatch(hostport)
        if host_match is None:
            raise SIPParseError(f"invalid sent-by in Via {value!r}")
        host, port_text = host_match.groups()
        port = int(port_text) if port_text else None
        if port is not None and not 0 < port < 65536:
            raise SIPParseError(f"Via port {port!r} is not in 1..65535")
        params = parse_params(split_params(tail)[1:], value) if tail else EMPTY_PARAMS
        host = _check_host(host)
        _check_params(params)
        # The regex checked the transport token: the rest of __post_init__ is done.
        return build(
            cls, transport=transport.upper(), host=host, port=port, parameters=params,
            protocol=f"{name}/{version}".upper(),
        )

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {host}{port}{format_params(self.parameters)}"

    @property
    def branch(self) -> str | None:
        return self.parameters.get("branch")

    @property
    def received(self) -> str | None:
        return self.parameters.get("received")

    @property
    def has_rport(self) -> bool:
        return "rport" in self.parameters

    @property
    def rport(self) -> int | None:
        value = self.parameters.get("rport")
        return int(value) if value else None

    @property
    def maddr(self) -> str | None:
        return self.parameters.get("maddr")

    @property
    def ttl(self) -> int | None:
        value = self.parameters.get("ttl")
        return int(value) if value else None

    @property
    def sent_by(self) -> tuple[str, int | None]:
        """(host lower-cased, port or None): the sent-by of RFC 3261 17.2.3."""
        return self.host.lower(), self.port

    @property
    def is_rfc3261(self) -> bool:
        """The branch carries the RFC 3261 magic cookie (and something after it)."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE)

    def with_parameters(self, **changes: Any) -> ViaHeader:
        """A copy with parameters set; ``True`` makes a flag, ``None`` removes one."""
        params = Params.coerce(self.parameters)
        for key, item in changes.items():
            if item is None:
                params = params.without(key)
            else:
                params = params.with_(key, None if item is True else str(item))
        return replace(self, parameters=params)
