"""MSRP URIs (RFC 4975 section 9) and their comparison (section 6.1).

``msrp://[userinfo@]host[:port]/session-id;transport *(;param)``, scheme
``msrp`` or ``msrps`` (TLS). The transport is ``tcp`` in RFC 4975; other
tokens parse (an extension may define them) and `MSRPURI.transport` keeps
them lower-case.

Comparison (`MSRPURI.matches`, and ``==`` on the key `MSRPURI.key`):
scheme, host and transport compare case-insensitively, the session-id
exactly; a port given in one URI must be given and equal in the other (an
explicit port never equals an absent one); userinfo and parameters other
than the transport take no part.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property

from sipsimple_services.msrp.protocol.errors import MSRPParseError

__all__ = ["DEFAULT_PORT", "MSRPURI", "parse_uri"]

DEFAULT_PORT = 2855  # RFC 4975 section 15.4 (IANA msrp and msrps)

_URI_RE = re.compile(
    r"(?P<scheme>msrps?)://"
    r"(?:(?P<user>[A-Za-z0-9\-_.!~*'()%&=+$,;:]*)@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:/(?P<session>[A-Za-z0-9\-_.!~*'()%+=/]+))?"
    r";(?P<params>.*)",
    re.IGNORECASE | re.DOTALL,
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()%+]+")
_HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?)+")
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()%&=+$,;:]*")
_SESSION_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()%+=/]+")


@dataclass(frozen=True)
class MSRPURI:
    """One MSRP URI; ``str()`` gives its wire form."""

    host: str
    port: int | None = None
    session_id: str | None = None
    transport: str = "tcp"
    secure: bool = False
    user: str | None = None
    parameters: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        if self.host.startswith("["):
            try:
                ipaddress.IPv6Address(self.host[1:-1] if self.host.endswith("]") else "-")
            except ValueError:
                raise MSRPParseError(f"invalid IPv6 address {self.host!r}") from None
        elif not _HOST_RE.fullmatch(self.host):
            raise MSRPParseError(f"invalid host {self.host!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise MSRPParseError(f"invalid MSRP URI port {self.port}")
        if not _TOKEN_RE.fullmatch(self.transport):
            raise MSRPParseError(f"invalid MSRP URI transport {self.transport!r}")
        if self.session_id is not None and not _SESSION_RE.fullmatch(self.session_id):
            raise MSRPParseError(f"invalid MSRP session id {self.session_id!r}")
        if self.user is not None and not _USER_RE.fullmatch(self.user):
            raise MSRPParseError(f"invalid MSRP URI userinfo {self.user!r}")
        for name, value in self.parameters:
            if not _TOKEN_RE.fullmatch(name) or (value is not None
                                                 and not _TOKEN_RE.fullmatch(value)):
                raise MSRPParseError(f"invalid MSRP URI parameter {name!r}")

    @property
    def scheme(self) -> str:
        return "msrps" if self.secure else "msrp"

    @property
    def effective_port(self) -> int:
        return DEFAULT_PORT if self.port is None else self.port

    @cached_property
    def key(self) -> tuple[str, str, int | None, str | None, str]:
        """What section 6.1 compares: equal keys mean equal URIs."""
        return (self.scheme, _normal_host(self.host), self.port, self.session_id,
                self.transport.lower())

    def matches(self, other: MSRPURI) -> bool:
        """RFC 4975 section 6.1 equality."""
        return self.key == other.key

    def __str__(self) -> str:
        text = f"{self.scheme}://"
        if self.user is not None:
            text += f"{self.user}@"
        text += self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.session_id is not None:
            text += f"/{self.session_id}"
        text += f";{self.transport}"
        for name, value in self.parameters:
            text += f";{name}" if value is None else f";{name}={value}"
        return text


def _normal_host(host: str) -> str:
    bare = host[1:-1] if host.startswith("[") else host
    try:
        return ipaddress.ip_address(bare).compressed
    except ValueError:
        return host.lower().rstrip(".")


def parse_uri(text: str) -> MSRPURI:
    """Parse one MSRP URI; `MSRPParseError` when it is not one."""
    match = _URI_RE.fullmatch(text)
    if match is None:
        raise MSRPParseError(f"invalid MSRP URI {text!r}")
    transport, *rest = match["params"].split(";")
    parameters: list[tuple[str, str | None]] = []
    for item in rest:
        name, eq, value = item.partition("=")
        parameters.append((name, value if eq else None))
    port = int(match["port"]) if match["port"] is not None else None
    try:
        return MSRPURI(
            host=match["host"],
            port=port,
            session_id=match["session"],
            transport=transport.lower(),
            secure=match["scheme"].lower() == "msrps",
            user=match["user"],
            parameters=tuple(parameters),
        )
    except MSRPParseError as exc:
        raise MSRPParseError(f"invalid MSRP URI {text!r}: {exc}") from None
