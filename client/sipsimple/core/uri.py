"""SIP and SIPS URIs (RFC 3261 section 19.1, grammar in section 25.1).

`SIPURI.parse` accepts ``sip:`` and ``sips:`` URIs with user info, a hostname,
an IPv4 address or an IPv6 reference, a port, ``;parameters`` and
``?headers``. User, password, parameters and headers are stored unescaped and
escaped again by `str()`, so ``SIPURI.parse(str(uri)) == uri`` for any valid
value. Malformed input raises `SIPURIError` and nothing else.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote

from sipsimple.core.errors import SIPParseError

__all__ = ["SIPURI", "SIPURIError"]


class SIPURIError(SIPParseError):
    """The text or the values do not make a valid SIP URI."""


# Character classes from RFC 3261 section 25.1, as the sets `quote` leaves alone.
_ALNUM = string.ascii_letters + string.digits
_MARK = "-_.!~*'()"
_UNRESERVED = _ALNUM + _MARK
_USER_SAFE = _UNRESERVED + "&=+$,;?/"
_PASSWORD_SAFE = _UNRESERVED + "&=+$,"
_PARAM_SAFE = _UNRESERVED + "[]/:&+$"
_HEADER_SAFE = _UNRESERVED + "[]/?:+$"

_ESCAPED = r"%[0-9A-Fa-f]{2}"
_USER_RE = re.compile(rf"(?:[{re.escape(_USER_SAFE)}]|{_ESCAPED})+")
_PASSWORD_RE = re.compile(rf"(?:[{re.escape(_PASSWORD_SAFE)}]|{_ESCAPED})*")
_PARAM_RE = re.compile(rf"(?:[{re.escape(_PARAM_SAFE)}]|{_ESCAPED})+")
_HNAME_RE = re.compile(rf"(?:[{re.escape(_HEADER_SAFE)}]|{_ESCAPED})+")
_HVALUE_RE = re.compile(rf"(?:[{re.escape(_HEADER_SAFE)}]|{_ESCAPED})*")
_DOMAINLABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_TOPLABEL = r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?:{_DOMAINLABEL}\.)*{_TOPLABEL}\.?")
# A URI whose user, parameters and host use no escapes, with no password, no
# URI headers and no IPv6 reference; what it matches the general parser
# accepts with the same result (its classes are subsets of the general ones).
_SIMPLE_CHARS = r"A-Za-z0-9\-_.!~*'()&+$"
_FAST_URI_RE = re.compile(
    r"([sS][iI][pP][sS]?):"
    rf"(?:([{_SIMPLE_CHARS}=,]+)@)?"
    r"([A-Za-z0-9.\-]+)"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;[{_SIMPLE_CHARS}\[\]/:]+(?:=[{_SIMPLE_CHARS}\[\]/:]+)?)*)"
)
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PORT_RE = re.compile(r"\d{1,5}")


def _unescape(text: str, what: str) -> str:
    if "%" not in text:
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        raise SIPURIError(f"{what} {text!r} has escapes that are not UTF-8") from None


# Per safe set: a regex matching text that `quote` would return unchanged.
_PLAIN_RES: dict[str, re.Pattern[str]] = {}


def _escape(text: str, safe: str) -> str:
    plain = _PLAIN_RES.get(safe)
    if plain is None:
        plain = _PLAIN_RES[safe] = re.compile(f"[{re.escape(_ALNUM + '_.-~' + safe)}]*")
    if plain.fullmatch(text):
        return text
    return quote(text, safe=safe)


def _check_text(value: Any, what: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise SIPURIError(f"{what} must be a string, not {type(value).__name__}")
    if not value and not empty:
        raise SIPURIError(f"{what} must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SIPURIError(f"{what} {value!r} is not encodable as UTF-8") from None
    return value


# Hosts already found valid (host text -> the host without brackets); a few
# names and addresses make most of the traffic. Bounded: cleared when full.
_HOST_CACHE: dict[str, str] = {}
_HOST_CACHE_SIZE = 2048


def _check_host(host: Any) -> str:
    if not isinstance(host, str) or not host:
        raise SIPURIError("host must be a non-empty string")
    cached = _HOST_CACHE.get(host)
    if cached is not None:
        return cached
    checked = _check_host_text(host)
    if len(_HOST_CACHE) >= _HOST_CACHE_SIZE:
        _HOST_CACHE.clear()
    _HOST_CACHE[host] = checked
    return checked


def _check_host_text(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            if "%" in host:  # zone ids have no place in a SIP URI
                raise ValueError
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SIPURIError(f"{host!r} is not a valid IPv6 address") from None
        return host
    if _IPV4_RE.fullmatch(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise SIPURIError(f"{host!r} is not a valid IPv4 address") from None
        return host
    if not _HOSTNAME_RE.fullmatch(host) or len(host) > 255:
        raise SIPURIError(f"{host!r} is not a valid host name")
    return host


_STRICT_PARAMETERS = ("user", "ttl", "method", "maddr", "transport")
_MISSING = object()


def _folded(items: Mapping[str, str | None]) -> dict[str, str | None]:
    return {
        name.lower(): value.lower() if value is not None else None
        for name, value in items.items()
    }


def _same_host(one: str, two: str) -> bool:
    if one.lower() == two.lower():
        return True
    try:
        return ipaddress.ip_address(one) == ipaddress.ip_address(two)
    except ValueError:
        return False


def _freeze(value: Any, what: str, *, allow_flag: bool) -> Mapping[str, str | None]:
    if not isinstance(value, Mapping):
        raise SIPURIError(f"{what} must be a mapping, not {type(value).__name__}")
    frozen: dict[str, str | None] = {}
    seen: set[str] = set()
    for name, item in value.items():
        _check_text(name, f"{what} name")
        if name.lower() in seen:
            raise SIPURIError(f"{what} {name!r} appears more than once")
        seen.add(name.lower())
        if item is None:
            if not allow_flag:
                raise SIPURIError(f"{what} {name!r} needs a value")
        else:
            # A parameter value is 1*paramchar; a header value may be empty.
            _check_text(item, f"{what} {name!r} value", empty=not allow_flag)
        frozen[name] = item
    return MappingProxyType(frozen)


@dataclass(frozen=True)
class SIPURI:
    """A ``sip:`` or ``sips:`` URI (``secure=True`` for sips)."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    secure: bool = False
    parameters: Mapping[str, str | None] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Validate on construction, so that every instance serializes to text
        # that parses back to an equal instance.
        object.__setattr__(self, "host", _check_host(self.host))
        if self.user is not None:
            _check_text(self.user, "user")
        if self.password is not None:
            if self.user is None:
                raise SIPURIError("a password needs a user")
            _check_text(self.password, "password", empty=True)
        if self.port is not None and (
            not isinstance(self.port, int) or isinstance(self.port, bool)
            or not 0 < self.port < 65536
        ):
            raise SIPURIError(f"port {self.port!r} is not in 1..65535")
        if not isinstance(self.secure, bool):
            raise SIPURIError("secure must be a bool")
        object.__setattr__(
            self, "parameters", _freeze(self.parameters, "parameter", allow_flag=True)
        )
        object.__setattr__(self, "headers", _freeze(self.headers, "header", allow_flag=False))

    def __hash__(self) -> int:
        return hash(
            (
                self.host, self.user, self.password, self.port, self.secure,
                frozenset(self.parameters.items()), frozenset(self.headers.items()),
            )
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SIPURI):
            return NotImplemented
        return (
            self.host, self.user, self.password, self.port, self.secure,
            dict(self.parameters), dict(self.headers),
        ) == (
            other.host, other.user, other.password, other.port, other.secure,
            dict(other.parameters), dict(other.headers),
        )

    # --- accessors -----------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "sips" if self.secure else "sip"

    def parameter(self, name: str) -> str | None:
        """A parameter's value by case-insensitive name (None if absent or a flag)."""
        for key, value in self.parameters.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def transport(self) -> str | None:
        """The ``transport=`` parameter, lower-cased, or None."""
        value = self.parameter("transport")
        return value.lower() if value else None

    @property
    def maddr(self) -> str | None:
        return self.parameter("maddr")

    @property
    def is_address(self) -> bool:
        """True when the host is an IPv4 or IPv6 address rather than a name."""
        return ":" in self.host or bool(_IPV4_RE.fullmatch(self.host))

    # --- RFC 3261 19.1.4 comparison -----------------------------------------

    def matches(self, other: object) -> bool:
        """True when the two URIs are equivalent per RFC 3261 section 19.1.4.

        User and password compare case-sensitively (escapes are already
        resolved), the host and everything else case-insensitively; a default
        port or transport that one URI states and the other omits makes them
        differ; ``user``, ``ttl``, ``method``, ``maddr`` and ``transport``
        must agree when either has them, other parameters only when both do;
        URI headers must all be present in both and agree.
        """
        if not isinstance(other, SIPURI):
            return False
        if (self.secure, self.user, self.password, self.port) != (
            other.secure, other.user, other.password, other.port,
        ):
            return False
        if not _same_host(self.host, other.host):
            return False
        mine = _folded(self.parameters)
        theirs = _folded(other.parameters)
        for name in _STRICT_PARAMETERS:
            if mine.get(name, _MISSING) != theirs.get(name, _MISSING):
                return False
        for name in mine.keys() & theirs.keys():
            if mine[name] != theirs[name]:
                return False
        return _folded(self.headers) == _folded(other.headers)

    # --- text ----------------------------------------------------------------

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                parts += [":", _escape(self.password, _PASSWORD_SAFE)]
            parts.append("@")
        parts.append(f"[{self.host}]" if ":" in self.host else self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.parameters.items():
            parts += [";", _escape(name, _PARAM_SAFE)]
            if value is not None:
                parts += ["=", _escape(value, _PARAM_SAFE)]
        if self.headers:
            parts.append("?")
            parts.append(
                "&".join(
                    f"{_escape(name, _HEADER_SAFE)}={_escape(value, _HEADER_SAFE)}"
                    for name, value in self.headers.items()
                )
            )
        return "".join(parts)

    @classmethod
    def parse(cls, text: Any) -> SIPURI:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise SIPURIError("URI bytes are not UTF-8") from None
        if not isinstance(text, str):
            raise SIPURIError(f"a SIP URI must be text, not {type(text).__name__}")
        match = _FAST_URI_RE.fullmatch(text)
        if match is not None:
            uri = cls._parse_simple(match)
            if uri is not None:
                return uri
        return cls._parse_general(text)

    @classmethod
    def _parse_simple(cls, match: re.Match[str]) -> SIPURI | None:
        """The common case: no escapes, password, URI headers or IPv6 reference.

        None when `_parse_general` must decide (a port out of range, a
        repeated parameter), so that its errors stay the only ones.
        """
        scheme, user, host, port_text, param_text = match.groups()
        port: int | None = None
        if port_text is not None:
            port = int(port_text)
            if not 0 < port < 65536:
                return None
        parameters: dict[str, str | None] = {}
        if param_text:
            seen: set[str] = set()
            for item in param_text[1:].split(";"):
                name, has_value, value = item.partition("=")
                key = name.lower()
                if key in seen:
                    return None
                seen.add(key)
                parameters[name] = value if has_value else None
        uri = object.__new__(cls)
        uri.__dict__.update(
            host=_check_host(host),
            user=user,
            password=None,
            port=port,
            secure=len(scheme) == 4,
            parameters=MappingProxyType(parameters),
            headers=MappingProxyType({}),
        )
        return uri

    @classmethod
    def _parse_general(cls, text: str) -> SIPURI:
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() not in ("sip", "sips"):
            raise SIPURIError(f"{text!r} is not a sip: or sips: URI")
        user = password = None
        if "@" in rest:
            # '@' is allowed nowhere else in a SIP URI, so the last '@' ends the
            # user info; the user part may itself hold ';' and '?'.
            userinfo, _, rest = rest.rpartition("@")
            user_text, has_password, password_text = userinfo.partition(":")
            if not _USER_RE.fullmatch(user_text):
                raise SIPURIError(f"{text!r}: invalid user part {user_text!r}")
            user = _unescape(user_text, "user")
            if has_password:
                if not _PASSWORD_RE.fullmatch(password_text):
                    raise SIPURIError(f"{text!r}: invalid password")
                password = _unescape(password_text, "password")
        rest, question, header_text = rest.partition("?")
        hostport, *param_texts = rest.split(";")
        host, port = cls._parse_hostport(hostport, text)
        parameters: dict[str, str | None] = {}
        if param_texts:
            seen: set[str] = set()
            param_ok = _PARAM_RE.fullmatch
            for item in param_texts:
                name_text, has_value, value_text = item.partition("=")
                if not param_ok(name_text):
                    raise SIPURIError(f"{text!r}: invalid parameter {item!r}")
                name = _unescape(name_text, "parameter name")
                value: str | None = None
                if has_value:
                    if not param_ok(value_text):
                        raise SIPURIError(f"{text!r}: invalid value in parameter {item!r}")
                    value = _unescape(value_text, "parameter value")
                key = name.lower()
                if key in seen:
                    raise SIPURIError(f"{text!r}: parameter {name!r} appears more than once")
                seen.add(key)
                parameters[name] = value
        headers: dict[str, str] = {}
        if question:
            for item in header_text.split("&"):
                name_text, has_value, value_text = item.partition("=")
                if not has_value or not _HNAME_RE.fullmatch(name_text) or not _HVALUE_RE.fullmatch(
                    value_text
                ):
                    raise SIPURIError(f"{text!r}: invalid header {item!r}")
                name = _unescape(name_text, "header name")
                if name.lower() in (key.lower() for key in headers):
                    raise SIPURIError(f"{text!r}: header {name!r} appears more than once")
                headers[name] = _unescape(value_text, "header value")
        # Everything __post_init__ checks is checked above: the host by
        # _parse_hostport, the port's range, non-empty user (1*), names and
        # values matched by the regexes (ASCII, and the escapes strictly
        # decoded as UTF-8), duplicates. So build the instance directly.
        uri = object.__new__(cls)
        uri.__dict__.update(
            host=host,
            user=user,
            password=password,
            port=port,
            secure=scheme.lower() == "sips",
            parameters=MappingProxyType(parameters),
            headers=MappingProxyType(headers),
        )
        return uri

    @staticmethod
    def _parse_hostport(hostport: str, text: str) -> tuple[str, int | None]:
        port_text: str | None
        if hostport.startswith("["):
            end = hostport.find("]")
            if end < 0:
                raise SIPURIError(f"{text!r}: unterminated IPv6 reference")
            host, after = hostport[1:end], hostport[end + 1 :]
            if ":" not in host:
                raise SIPURIError(f"{text!r}: brackets hold only IPv6 addresses")
            if after and not after.startswith(":"):
                raise SIPURIError(f"{text!r}: junk after the IPv6 reference")
            port_text = after[1:] if after else None
        else:
            host, colon, port_text = hostport.partition(":")
            if not colon:
                port_text = None
            elif ":" in port_text:
                raise SIPURIError(f"{text!r}: IPv6 addresses need brackets")
        if not host:
            raise SIPURIError(f"{text!r} has no host")
        port: int | None = None
        if port_text is not None:
            if not _PORT_RE.fullmatch(port_text):
                raise SIPURIError(f"{text!r}: invalid port {port_text!r}")
            port = int(port_text)
            if not 0 < port < 65536:
                raise SIPURIError(f"{text!r}: port {port} is not in 1..65535")
        return _check_host(host), port
