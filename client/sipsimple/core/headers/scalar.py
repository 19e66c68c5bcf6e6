"""Single-valued headers: CSeq, Call-ID, Max-Forwards, Expires, Min-Expires,
Content-Length, Content-Type, Date, Subject, User-Agent, Server."""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Self

from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import (
    EMPTY_PARAMS,
    Params,
    format_params,
    is_token,
    parse_params,
    split_params,
    unquote,
)
from sipsimple.core.headers.base import Header, build, check_text, check_uint, parse_uint

__all__ = [
    "CSeqHeader",
    "CallIDHeader",
    "ContentLengthHeader",
    "ContentTypeHeader",
    "DateHeader",
    "ExpiresHeader",
    "MaxForwardsHeader",
    "MinExpiresHeader",
    "ServerHeader",
    "SubjectHeader",
    "UserAgentHeader",
]

_CSEQ_RE = re.compile(r"[ \t]*([0-9]{1,20})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*")
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALLID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_MEDIA_RE = re.compile(rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*(.*)", re.DOTALL)
_DATE_RE = re.compile(
    r"[ \t]*(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT[ \t]*"
)
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class CSeqHeader(Header):
    name = "CSeq"

    number: int
    method: str

    def __post_init__(self) -> None:
        check_uint(self.number, "CSeq number")
        if not isinstance(self.method, str) or not is_token(self.method):
            raise SIPParseError(f"invalid CSeq method {self.method!r}")

    @classmethod
    def parse(cls, value: str) -> CSeqHeader:
        match = _CSEQ_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid CSeq {value!r}")
        # The regex checked the method token.
        return build(
            cls, number=parse_uint(match.group(1), "CSeq number"), method=match.group(2)
        )

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass(frozen=True)
class CallIDHeader(Header):
    name = "Call-ID"
    compact = "i"

    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not _CALLID_RE.fullmatch(self.value):
            raise SIPParseError(f"invalid Call-ID {self.value!r}")

    @classmethod
    def parse(cls, value: str) -> CallIDHeader:
        return cls(value.strip(" \t"))

    def __str__(self) -> str:
        return self.value


class _Number(Header):
    """A header holding one delta-seconds or count."""

    maximum = 2**32 - 1
    value: int

    def __post_init__(self) -> None:
        check_uint(self.value, self.name, self.maximum)

    @classmethod
    def parse(cls, value: str) -> Self:
        return build(cls, value=parse_uint(value, cls.name, cls.maximum))

    def __str__(self) -> str:
        return str(self.value)

    def __int__(self) -> int:
        return self.value


@dataclass(frozen=True)
class MaxForwardsHeader(_Number):
    name = "Max-Forwards"
    maximum = 255
    value: int


@dataclass(frozen=True)
class ExpiresHeader(_Number):
    name = "Expires"
    value: int


@dataclass(frozen=True)
class MinExpiresHeader(_Number):
    name = "Min-Expires"
    value: int


@dataclass(frozen=True)
class ContentLengthHeader(_Number):
    name = "Content-Length"
    compact = "l"
    value: int


class _Text(Header):
    """Free text (TEXT-UTF8); the value is kept as written, trimmed."""

    value: str

    def __post_init__(self) -> None:
        check_text(self.value, self.name)

    @classmethod
    def parse(cls, value: str) -> Self:
        return cls(value.strip(" \t"))  # type: ignore[call-arg]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class SubjectHeader(_Text):
    name = "Subject"
    compact = "s"
    value: str


@dataclass(frozen=True)
class UserAgentHeader(_Text):
    name = "User-Agent"
    value: str


@dataclass(frozen=True)
class ServerHeader(_Text):
    name = "Server"
    value: str


@dataclass(frozen=True)
class DateHeader(Header):
    """rfc1123-date in GMT, the only form RFC 3261 allows (RFC 4475 3.1.2.12)."""

    name = "Date"

    value: datetime.datetime

    def __post_init__(self) -> None:
        if not isinstance(self.value, datetime.datetime):
            raise SIPParseError("Date needs a datetime")

    @classmethod
    def parse(cls, value: str) -> DateHeader:
        match = _DATE_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid Date {value!r}")
        _, day, month, year, hour, minute, second = match.groups()
        try:
            stamp = datetime.datetime(
                int(year), _MONTHS.index(month) + 1, int(day), int(hour), int(minute),
                int(second), tzinfo=datetime.UTC,
            )
        except ValueError:
            raise SIPParseError(f"invalid Date {value!r}") from None
        return cls(stamp)

    def __str__(self) -> str:
        stamp = self.value.astimezone(datetime.UTC) if self.value.tzinfo else self.value
        return stamp.strftime("%a, %d ") + _MONTHS[stamp.month - 1] + stamp.strftime(
            " %Y %H:%M:%S GMT"
        )


@dataclass(frozen=True)
class ContentTypeHeader(Header):
    """``type/subtype;param=value``; type and subtype lower-cased."""

    name = "Content-Type"
    compact = "c"

    type: str
    subtype: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        for part in (self.type, self.subtype):
            if not isinstance(part, str) or not is_token(part):
                raise SIPParseError(f"invalid media type part {part!r}")
        object.__setattr__(self, "type", self.type.lower())
        object.__setattr__(self, "subtype", self.subtype.lower())
        params = Params.coerce(self.parameters)
        if any(value is None for value in params.values()):
            raise SIPParseError("media type parameters need values")
        object.__setattr__(self, "parameters", params)

    @classmethod
    def parse(cls, value: str) -> ContentTypeHeader:
        match = _MEDIA_RE.fullmatch(value)
        if match is None:
            raise SIPParseError(f"invalid Content-Type {value!r}")
        kind, subtype, tail = match.groups()
        tail = tail.strip(" \t")
        if tail and not tail.startswith(";"):
            raise SIPParseError(f"invalid Content-Type {value!r}")
        params = parse_params(split_params(tail)[1:], value) if tail else EMPTY_PARAMS
        if any(item is None for item in params.values()):
            raise SIPParseError("media type parameters need values")
        # The regex checked both tokens.
        return build(cls, type=kind.lower(), subtype=subtype.lower(), parameters=params)

    @property
    def content_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    def parameter(self, name: str) -> str | None:
        return unquote(self.parameters.get(name))

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{format_params(self.parameters)}"
