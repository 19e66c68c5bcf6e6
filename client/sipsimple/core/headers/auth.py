"""Authentication headers (RFC 3261 section 20.7, 20.27, 20.28, 20.44; RFC 8760).

WWW-Authenticate / Proxy-Authenticate carry a challenge, Authorization /
Proxy-Authorization credentials: a scheme and comma-separated ``name=value``
parameters whose values may be quoted strings holding commas. These headers
are never split on commas into several headers. Values are stored raw (a
quoted string keeps its quotes); the properties unquote them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import (
    EMPTY_PARAMS,
    Params,
    is_token,
    quote_string,
    split_commas,
    unquote,
)
from sipsimple.core.headers.base import Header

__all__ = [
    "AuthorizationHeader",
    "ProxyAuthenticateHeader",
    "ProxyAuthorizationHeader",
    "WWWAuthenticateHeader",
]

_SCHEME_RE = re.compile(r"[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(?:[ \t]+(.*))?", re.DOTALL)
_PARAM_RE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*=[ \t]*(.*)", re.DOTALL)
# Parameters that Digest sends as quoted strings (RFC 2617 / RFC 8760).
_QUOTED = frozenset(
    {"realm", "nonce", "opaque", "domain", "username", "uri", "response", "cnonce"}
)


class _Auth(Header):
    scheme: str
    parameters: Mapping[str, str | None]

    def __post_init__(self) -> None:
        if not isinstance(self.scheme, str) or not is_token(self.scheme):
            raise SIPParseError(f"invalid authentication scheme {self.scheme!r}")
        params = Params.coerce(self.parameters)
        if any(value is None for value in params.values()):
            raise SIPParseError("authentication parameters need values")
        object.__setattr__(self, "parameters", params)

    @classmethod
    def parse(cls, value: str) -> Self:
        match = _SCHEME_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid {cls.name} {value!r}")
        scheme, rest = match.groups()
        items: list[tuple[str, str | None]] = []
        rest = (rest or "").strip(" \t")
        if rest:
            for element in split_commas(rest, angle=False):
                param = _PARAM_RE.fullmatch(element)
                if param is None:
                    raise SIPParseError(f"invalid parameter {element!r} in {cls.name}")
                name, raw = param.groups()
                raw = raw.strip(" \t")
                if raw.startswith('"'):
                    unquote(raw)  # validates the quoted string
                elif not is_token(raw):
                    raise SIPParseError(f"invalid value {raw!r} in {cls.name}")
                items.append((name, raw))
        return cls(scheme, Params(items))  # type: ignore[call-arg]

    @classmethod
    def digest(cls, **values: str | int | bool | None) -> Self:
        """Digest parameters from keyword arguments, quoting those Digest quotes.

        ``qop`` is quoted in challenges and bare in credentials; ``stale``
        takes a bool; ``nc`` an int (written as 8 hex digits).
        """
        items: list[tuple[str, str | None]] = []
        for name, value in values.items():
            if value is None:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif name == "nc" and isinstance(value, int):
                text = f"{value:08x}"
            else:
                text = str(value)
            quoted = name in _QUOTED or (name == "qop" and cls._challenge)
            items.append((name, quote_string(text) if quoted else text))
        return cls("Digest", Params(items))  # type: ignore[call-arg]

    _challenge = False

    def parameter(self, name: str) -> str | None:
        return unquote(self.parameters.get(name))

    def __str__(self) -> str:
        params = ", ".join(f"{name}={value}" for name, value in self.parameters.items())
        return f"{self.scheme} {params}" if params else self.scheme

    @property
    def realm(self) -> str | None:
        return self.parameter("realm")

    @property
    def nonce(self) -> str | None:
        return self.parameter("nonce")

    @property
    def opaque(self) -> str | None:
        return self.parameter("opaque")

    @property
    def algorithm(self) -> str | None:
        return self.parameter("algorithm")

    @property
    def qop(self) -> tuple[str, ...]:
        value = self.parameter("qop")
        return tuple(item.strip() for item in value.split(",") if item.strip()) if value else ()


class _Challenge(_Auth):
    _challenge = True

    @property
    def stale(self) -> bool:
        return (self.parameter("stale") or "").lower() == "true"


class _Credentials(_Auth):
    @property
    def username(self) -> str | None:
        return self.parameter("username")

    @property
    def uri(self) -> str | None:
        return self.parameter("uri")

    @property
    def response(self) -> str | None:
        return self.parameter("response")

    @property
    def cnonce(self) -> str | None:
        return self.parameter("cnonce")

    @property
    def nc(self) -> str | None:
        return self.parameter("nc")


@dataclass(frozen=True)
class WWWAuthenticateHeader(_Challenge):
    name = "WWW-Authenticate"
    scheme: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)


@dataclass(frozen=True)
class ProxyAuthenticateHeader(_Challenge):
    name = "Proxy-Authenticate"
    scheme: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)


@dataclass(frozen=True)
class AuthorizationHeader(_Credentials):
    name = "Authorization"
    scheme: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)


@dataclass(frozen=True)
class ProxyAuthorizationHeader(_Credentials):
    name = "Proxy-Authorization"
    scheme: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)
