"""Headers holding lists: option tags and methods (Supported, Require,
Proxy-Require, Unsupported, Allow, Allow-Events), Warning and Reason."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import (
    EMPTY_PARAMS,
    Params,
    format_params,
    is_token,
    parse_params,
    quote_string,
    split_commas,
    split_params,
    unquote,
    unquote_string,
)
from sipsimple.core.headers.base import Header, build, check_text, parse_uint

__all__ = [
    "AllowEventsHeader",
    "AllowHeader",
    "ProxyRequireHeader",
    "ReasonHeader",
    "RequireHeader",
    "SupportedHeader",
    "UnsupportedHeader",
    "WarningHeader",
]

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_WARNING_RE = re.compile(r"[ \t]*([0-9]{3}) ([^ \t]+) (\".*\")[ \t]*", re.DOTALL)


class _TokenList(Header):
    """One header line's comma-separated tokens (an empty value is allowed)."""

    values: tuple[str, ...]

    def __post_init__(self) -> None:
        values = tuple(self.values) if not isinstance(self.values, str) else (self.values,)
        for value in values:
            if not isinstance(value, str) or not is_token(value):
                raise SIPParseError(f"invalid {self.name} value {value!r}")
        object.__setattr__(self, "values", values)

    @classmethod
    def parse(cls, value: str) -> Self:
        value = value.strip(" \t")
        if not value:
            return build(cls, values=())
        values = tuple(split_commas(value))
        for item in values:
            if not _TOKEN_RE.fullmatch(item):
                raise SIPParseError(f"invalid {cls.name} value {item!r}")
        return build(cls, values=values)

    def __str__(self) -> str:
        return ", ".join(self.values)

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str) and item.lower() in (value.lower() for value in self.values)

    def __iter__(self) -> Iterable[str]:
        return iter(self.values)


@dataclass(frozen=True)
class SupportedHeader(_TokenList):
    name = "Supported"
    compact = "k"
    values: tuple[str, ...]


@dataclass(frozen=True)
class RequireHeader(_TokenList):
    name = "Require"
    values: tuple[str, ...]


@dataclass(frozen=True)
class ProxyRequireHeader(_TokenList):
    name = "Proxy-Require"
    values: tuple[str, ...]


@dataclass(frozen=True)
class UnsupportedHeader(_TokenList):
    name = "Unsupported"
    values: tuple[str, ...]


@dataclass(frozen=True)
class AllowHeader(_TokenList):
    """Methods; case-sensitive on the wire, compared case-insensitively by `in`."""

    name = "Allow"
    values: tuple[str, ...]


@dataclass(frozen=True)
class AllowEventsHeader(_TokenList):
    name = "Allow-Events"
    compact = "u"
    values: tuple[str, ...]


@dataclass(frozen=True)
class WarningHeader(Header):
    """``code agent "text"`` (RFC 3261 20.43); one warning per object."""

    name = "Warning"
    kind = "list"

    code: int
    agent: str
    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 100 <= self.code <= 999:
            raise SIPParseError(f"Warning code {self.code!r} is not 3 digits")
        if not isinstance(self.agent, str) or not self.agent or any(
            ch in self.agent for ch in " \t\r\n\""
        ):
            raise SIPParseError(f"invalid Warning agent {self.agent!r}")
        check_text(self.text, "Warning text")

    @classmethod
    def parse(cls, value: str) -> WarningHeader:
        match = _WARNING_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid Warning {value!r}")
        code, agent, text = match.groups()
        return cls(int(code), agent, unquote_string(text))

    def __str__(self) -> str:
        return f"{self.code} {self.agent} {quote_string(self.text)}"


@dataclass(frozen=True)
class ReasonHeader(Header):
    """``SIP ;cause=200 ;text="Call completed elsewhere"`` (RFC 3326)."""

    name = "Reason"
    kind = "list"

    protocol: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        if not isinstance(self.protocol, str) or not is_token(self.protocol):
            raise SIPParseError(f"invalid Reason protocol {self.protocol!r}")
        params = Params.coerce(self.parameters)
        if "cause" in params:
            parse_uint(params["cause"] or "", "Reason cause", 2**31)
        object.__setattr__(self, "parameters", params)

    @classmethod
    def new(cls, protocol: str, cause: int | None = None, text: str | None = None) -> Self:
        items: list[tuple[str, str | None]] = []
        if cause is not None:
            items.append(("cause", str(cause)))
        if text is not None:
            items.append(("text", quote_string(text)))
        return cls(protocol, Params(items))

    @classmethod
    def parse(cls, value: str) -> ReasonHeader:
        protocol, *pieces = split_params(value)
        return cls(protocol.strip(" \t"), parse_params(pieces, value))

    @property
    def cause(self) -> int | None:
        value = self.parameters.get("cause")
        return int(value) if value else None

    @property
    def text(self) -> str | None:
        return unquote(self.parameters.get("text"))

    def __str__(self) -> str:
        return f"{self.protocol}{format_params(self.parameters)}"
