"""Headers whose value is a name-addr: From, To, Contact, Route, Record-Route,
Refer-To, Referred-By (RFC 3261 section 20, RFC 3515, RFC 3892)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

from sipsimple.core.anyuri import URI
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
from sipsimple.core.headers.base import UINT32_MAX, Header, build, parse_uint
from sipsimple.core.nameaddr import (
    check_display_name,
    check_uri,
    format_name_addr,
    parse_name_addr,
)

__all__ = [
    "AddressHeader",
    "ContactHeader",
    "FromHeader",
    "FrozenFromHeader",
    "FrozenToHeader",
    "RecordRouteHeader",
    "ReferToHeader",
    "ReferredByHeader",
    "RouteHeader",
    "ToHeader",
]


@dataclass(frozen=True)
class AddressHeader(Header):
    """``[display-name] <uri> *(;param)``; parameter values are kept raw."""

    uri: URI
    display_name: str | None = None
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri", check_uri(self.uri))
        object.__setattr__(self, "display_name", check_display_name(self.display_name))
        object.__setattr__(self, "parameters", Params.coerce(self.parameters))

    @classmethod
    def parse(cls, value: str) -> Self:
        display, uri, params = parse_name_addr(value)
        # parse_name_addr returns a URI and Params: only the name needs the check.
        if display is not None:
            check_display_name(display)
        return build(cls, uri=uri, display_name=display, parameters=params)

    def __str__(self) -> str:
        return format_name_addr(self.uri, self.display_name, self.parameters)

    def parameter(self, name: str) -> str | None:
        """A header parameter's value, unquoted (None if absent or a flag)."""
        return unquote(self.parameters.get(name))


class _Tagged(AddressHeader):
    @property
    def tag(self) -> str | None:
        return self.parameters.get("tag")

    def with_tag(self, tag: str | None) -> Self:
        params = Params.coerce(self.parameters)
        if tag is None:
            return replace(self, parameters=params.without("tag"))
        if not is_token(tag):
            raise SIPParseError(f"invalid tag {tag!r}")
        return replace(self, parameters=params.with_("tag", tag))


@dataclass(frozen=True)
class FromHeader(_Tagged):
    name = "From"
    compact = "f"


@dataclass(frozen=True)
class ToHeader(_Tagged):
    name = "To"
    compact = "t"


# The original SDK distinguishes mutable and frozen header objects; ours are
# all immutable, so the frozen names are the same types.
FrozenFromHeader = FromHeader
FrozenToHeader = ToHeader


@dataclass(frozen=True)
class RouteHeader(AddressHeader):
    name = "Route"
    kind = "list"


@dataclass(frozen=True)
class RecordRouteHeader(AddressHeader):
    name = "Record-Route"
    kind = "list"


@dataclass(frozen=True)
class ReferToHeader(AddressHeader):
    name = "Refer-To"
    compact = "r"


@dataclass(frozen=True)
class ReferredByHeader(AddressHeader):
    name = "Referred-By"
    compact = "b"


def _check_q(text: str) -> None:
    # qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
    head, dot, tail = text.partition(".")
    ok = (
        head in ("0", "1")
        and len(tail) <= 3
        and tail.isascii()
        and (tail.isdigit() or not tail)
        and (head == "0" or set(tail) <= {"0"})
        and (bool(dot) or not tail)
    )
    if not ok:
        raise SIPParseError(f"invalid q value {text!r}")


def _check_contact_params(params: Params) -> None:
    if "expires" in params:
        parse_uint(params["expires"] or "", "Contact expires")
    if "q" in params:
        _check_q(params["q"] or "")


@dataclass(frozen=True)
class ContactHeader(Header):
    """A Contact value, or the ``*`` wildcard (``uri`` None) of REGISTER."""

    name = "Contact"
    compact = "m"
    kind = "list"

    uri: URI | None
    display_name: str | None = None
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        if self.uri is not None:
            object.__setattr__(self, "uri", check_uri(self.uri))
        elif self.display_name is not None:
            raise SIPParseError("the wildcard Contact has no display name")
        object.__setattr__(self, "display_name", check_display_name(self.display_name))
        params = Params.coerce(self.parameters)
        _check_contact_params(params)
        object.__setattr__(self, "parameters", params)

    @classmethod
    def wildcard(cls, parameters: Mapping[str, str | None] | None = None) -> ContactHeader:
        return cls(None, None, parameters or EMPTY_PARAMS)

    @property
    def is_wildcard(self) -> bool:
        return self.uri is None

    @classmethod
    def parse(cls, value: str) -> ContactHeader:
        stripped = value.strip(" \t")
        if stripped.startswith("*"):
            rest = stripped[1:].strip(" \t")
            if rest and not rest.startswith(";"):
                raise SIPParseError(f"invalid wildcard Contact {value!r}")
            params = parse_params(split_params(rest)[1:], value) if rest else EMPTY_PARAMS
            return cls(None, None, params)
        display, uri, params = parse_name_addr(value)
        if display is not None:
            check_display_name(display)
        _check_contact_params(params)
        return build(cls, uri=uri, display_name=display, parameters=params)

    def __str__(self) -> str:
        if self.uri is None:
            return "*" + format_params(self.parameters)
        return format_name_addr(self.uri, self.display_name, self.parameters)

    def parameter(self, name: str) -> str | None:
        return unquote(self.parameters.get(name))

    @property
    def expires(self) -> int | None:
        value = self.parameters.get("expires")
        return parse_uint(value, "Contact expires", UINT32_MAX) if value else None

    @property
    def q(self) -> float | None:
        value = self.parameters.get("q")
        return float(value) if value else None

    @property
    def instance(self) -> str | None:
        """The ``+sip.instance`` value (RFC 5626), without quotes or <>."""
        value = self.parameter("+sip.instance")
        if value and value.startswith("<") and value.endswith(">"):
            return value[1:-1]
        return value

    def with_parameters(self, **changes: Any) -> ContactHeader:
        params = Params.coerce(self.parameters)
        for key, item in changes.items():
            params = params.with_(key.replace("_", "-"), None if item is True else str(item))
        return replace(self, parameters=params)
