"""Host names, addresses and URIs."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar, Self
from urllib.parse import urlsplit

from .base import ListValue, State, StrValue

__all__ = [
    "Hostname",
    "IPAddress",
    "MSRPRelayAddress",
    "NameserverAddress",
    "NameserverList",
    "NetworkAddress",
    "NetworkAddressList",
    "SIPAddress",
    "SIPProxyAddress",
    "XCAPRoot",
]

# Underscores are tolerated: they occur in real internal names, and SRV owners.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def is_ip_address(host: str) -> bool:
    """Whether `host` is an IP literal (an IPv6 one with or without brackets)."""
    return _is_ip(host.strip("[]"))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def check_host(host: str) -> str:
    """Return host in canonical form (IP addresses compressed, names lowercased)."""
    if _is_ip(host):
        return str(ipaddress.ip_address(host))
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    return host.lower()


class Hostname(StrValue):
    """A DNS name or an IP address literal (IPv6 without brackets)."""

    @classmethod
    def normalize(cls, value: str) -> str:
        return check_host(value)


class IPAddress(StrValue):
    @classmethod
    def normalize(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None


class SIPAddress(StrValue):
    """``user@domain`` (an account id); a leading ``sip:`` or ``sips:`` is dropped."""

    @classmethod
    def normalize(cls, value: str) -> str:
        address = re.sub(r"^sips?:", "", value, flags=re.IGNORECASE)
        user, sep, domain = address.rpartition("@")
        if not sep or not user or re.search(r"[\s<>\"]", user):
            raise ValueError(f"{value!r} is not a SIP address (user@domain)")
        return f"{user}@{check_host(domain)}"


class XCAPRoot(StrValue):
    @classmethod
    def normalize(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


def _split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    if text.startswith("["):
        match = re.fullmatch(r"\[([^\]]*)\](?::(\d+))?", text)
        if not match or ":" not in match.group(1) or not _is_ip(match.group(1)):
            raise ValueError(f"{text!r}: brackets must enclose an IPv6 address")
        host, port = match.group(1), match.group(2)
    elif text.count(":") > 1:
        host, port = text, None  # a bare IPv6 address cannot carry a port
    else:
        host, _, port = text.partition(":")
        if _ and not port:
            raise ValueError(f"{text!r}: missing port after ':'")
    if port is None or port == "":
        return host, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: port must be a number within 1-65535")
    return host, int(port)


def _expects(cls: type[NetworkAddress], value: object) -> str:
    return (
        f"{cls.__name__} expects a {cls.__name__} (as text: {cls.text_format}; "
        f"parse it with {cls.__name__}.from_string), got {type(value).__name__} {value!r}"
    )


@dataclass(frozen=True)
class NetworkAddress:
    """``host[:port]``; IPv6 is written in brackets. port None means the default."""

    host: str
    port: int | None = None
    text_format: ClassVar[str] = "host[:port], e.g. sip.example.com:5060 or [2001:db8::1]:5060"

    def __post_init__(self) -> None:
        if not isinstance(self.host, str):
            raise TypeError(f"host must be a str, got {type(self.host).__name__}")
        object.__setattr__(self, "host", check_host(self.host))
        if self.port is not None and (
            isinstance(self.port, bool)
            or not isinstance(self.port, int)
            or not 1 <= self.port <= 65535
        ):
            raise ValueError(f"port must be an int within 1-65535, got {self.port!r}")

    @classmethod
    def coerce(cls, value: object) -> Self:
        if isinstance(value, NetworkAddress):
            return cls(value.host, value.port)
        raise TypeError(_expects(cls, value))

    @classmethod
    def from_string(cls, text: str) -> Self:
        return cls(*_split_host_port(text.strip()))

    @classmethod
    def from_state(cls, state: State) -> Self:
        if not isinstance(state, str):
            raise TypeError(f"expected a single value for {cls.__name__}")
        return cls.from_string(state)

    def to_state(self) -> State:
        return str(self)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


class NameserverAddress(NetworkAddress):
    """A DNS server: an IP address, optionally with a port (default 53)."""

    text_format = "IP address[:port], e.g. 192.0.2.53 or [2001:db8::53]:5353"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not _is_ip(self.host):
            raise ValueError(f"a nameserver must be an IP address, got {self.host!r}")


class NetworkAddressList(ListValue):
    item_type = NetworkAddress


class NameserverList(ListValue):
    item_type = NameserverAddress


@dataclass(frozen=True)
class _RoutedAddress(NetworkAddress):
    """``host[:port][;transport=...]``, shared by SIP proxies and MSRP relays."""

    transport: str = ""
    transports: ClassVar[tuple[str, ...]] = ()
    text_format = "host[:port][;transport=...], e.g. proxy.example.com:5061;transport=tls"

    def __post_init__(self) -> None:
        super().__post_init__()
        transport = (self.transport or self.transports[0]).lower()
        if transport not in self.transports:
            choices = ", ".join(self.transports)
            raise ValueError(f"transport must be one of {choices}; got {self.transport!r}")
        object.__setattr__(self, "transport", transport)

    @classmethod
    def coerce(cls, value: object) -> Self:
        if isinstance(value, _RoutedAddress):
            return cls(value.host, value.port, value.transport)
        raise TypeError(_expects(cls, value))

    @classmethod
    def from_string(cls, text: str) -> Self:
        address, *params = text.strip().split(";")
        transport = ""
        for param in params:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() != "transport" or not value.strip():
                raise ValueError(f"{text!r}: unknown parameter {param.strip()!r}")
            transport = value.strip()
        return cls(*_split_host_port(address.strip()), transport)

    def __str__(self) -> str:
        return f"{super().__str__()};transport={self.transport}"


@dataclass(frozen=True)
class SIPProxyAddress(_RoutedAddress):
    """Outbound proxy; port None means resolve it (RFC 3263), transport default udp."""

    transports = ("udp", "tcp", "tls")


@dataclass(frozen=True)
class MSRPRelayAddress(_RoutedAddress):
    transports = ("tls", "tcp")
