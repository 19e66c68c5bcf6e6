"""SIP-specific event notification headers (RFC 6665) and Replaces (RFC 3891)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

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
from sipsimple.core.headers.base import Header, parse_uint
from sipsimple.core.headers.scalar import CallIDHeader

__all__ = ["EventHeader", "ReplacesHeader", "SubscriptionStateHeader"]

_EVENT_RE = re.compile(r"[A-Za-z0-9\-!%*_+`'~]+(?:\.[A-Za-z0-9\-!%*_+`'~]+)*")


@dataclass(frozen=True)
class EventHeader(Header):
    """``presence;id=1``: the event package (with template dots) and parameters."""

    name = "Event"
    compact = "o"

    event: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not _EVENT_RE.fullmatch(self.event):
            raise SIPParseError(f"invalid event type {self.event!r}")
        object.__setattr__(self, "parameters", Params.coerce(self.parameters))

    @classmethod
    def parse(cls, value: str) -> EventHeader:
        event, *pieces = split_params(value)
        return cls(event.strip(" \t"), parse_params(pieces, value))

    @property
    def id(self) -> str | None:
        return unquote(self.parameters.get("id"))

    def __str__(self) -> str:
        return f"{self.event}{format_params(self.parameters)}"


@dataclass(frozen=True)
class SubscriptionStateHeader(Header):
    """``active;expires=600``, ``terminated;reason=timeout;retry-after=30``."""

    name = "Subscription-State"

    state: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        if not isinstance(self.state, str) or not is_token(self.state):
            raise SIPParseError(f"invalid subscription state {self.state!r}")
        params = Params.coerce(self.parameters)
        for key in ("expires", "retry-after"):
            if key in params:
                parse_uint(params[key] or "", f"Subscription-State {key}")
        object.__setattr__(self, "parameters", params)

    @classmethod
    def parse(cls, value: str) -> SubscriptionStateHeader:
        state, *pieces = split_params(value)
        return cls(state.strip(" \t"), parse_params(pieces, value))

    @property
    def expires(self) -> int | None:
        value = self.parameters.get("expires")
        return int(value) if value else None

    @property
    def retry_after(self) -> int | None:
        value = self.parameters.get("retry-after")
        return int(value) if value else None

    @property
    def reason(self) -> str | None:
        return self.parameters.get("reason")

    def __str__(self) -> str:
        return f"{self.state}{format_params(self.parameters)}"


@dataclass(frozen=True)
class ReplacesHeader(Header):
    """``call-id;to-tag=a;from-tag=b[;early-only]`` (RFC 3891)."""

    name = "Replaces"

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        CallIDHeader(self.call_id)
        for tag in (self.to_tag, self.from_tag):
            if not isinstance(tag, str) or not is_token(tag):
                raise SIPParseError(f"invalid Replaces tag {tag!r}")
        params = Params.coerce(self.parameters)
        for key in ("to-tag", "from-tag", "early-only"):
            if key in params:
                raise SIPParseError(f"Replaces {key} belongs in its own field")
        object.__setattr__(self, "parameters", params)

    @classmethod
    def parse(cls, value: str) -> ReplacesHeader:
        call_id, *pieces = split_params(value)
        params = parse_params(pieces, value)
        to_tag, from_tag = params.get("to-tag"), params.get("from-tag")
        if not to_tag or not from_tag:
            raise SIPParseError(f"Replaces needs to-tag and from-tag: {value!r}")
        early = "early-only" in params
        rest = params.without("to-tag").without("from-tag").without("early-only")
        return cls(call_id.strip(" \t"), to_tag, from_tag, early, rest)

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        extra = format_params(self.parameters)
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}{extra}"
