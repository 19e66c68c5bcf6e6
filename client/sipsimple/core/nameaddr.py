"""name-addr and addr-spec (RFC 3261 section 20.10 and 25.1).

``"Display" <sip:uri;uri-param>;header-param`` or ``sip:uri;header-param``.
A URI in addr-spec form ends at the first ';' (those parameters belong to the
header), and may not hold a '?' after its host part (RFC 3261 section 20:
such a URI must be enclosed in <>).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sipsimple.core.anyuri import URI, parse_uri
from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import (
    EMPTY_PARAMS,
    Params,
    format_params,
    is_token,
    parse_params,
    quote_string,
    scan_quoted,
    split_params,
    unquote_string,
)
from sipsimple.core.teluri import AbsoluteURI, TelURI
from sipsimple.core.uri import SIPURI

__all__ = ["NameAddress", "check_uri", "format_name_addr", "parse_name_addr"]

_WS = " \t"
_BAD_URI_CHAR_RE = re.compile(r'[ \t\r\n<>"]')
_URI_TYPES = (SIPURI, TelURI, AbsoluteURI)


def check_uri(uri: Any) -> URI:
    if not isinstance(uri, _URI_TYPES):
        raise SIPParseError(f"expected a URI, not {type(uri).__name__}")
    return uri


def check_display_name(name: Any) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str) or "\r" in name or "\n" in name:
        raise SIPParseError(f"invalid display name {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise SIPParseError(f"display name {name!r} is not encodable as UTF-8") from None
    return name


def parse_name_addr(text: str) -> tuple[str | None, URI, Params]:
    """(display name, URI, header parameters) of a name-addr or addr-spec."""
    value = text.strip(_WS)
    display: str | None = None
    rest = value
    if value.startswith('"'):
        end = scan_quoted(value, 0)
        display = unquote_string(value[:end])
        rest = value[end:].lstrip(_WS)
        if not rest.startswith("<"):
            raise SIPParseError(f"a quoted display name must precede <URI> in {text!r}")
    else:
        less = value.find("<")
        if less >= 0:
            # Tokens, possibly glued to '<' (RFC 4475 3.1.1.6 asks us to accept that).
            words = value[:less].split()
            for word in words:
                if not is_token(word):
                    raise SIPParseError(f"display name {value[:less]!r} must be quoted")
            display = " ".join(words) if words else None
            rest = value[less:]
    if rest.startswith("<"):
        greater = rest.find(">")
        if greater < 0:
            raise SIPParseError(f"missing '>' in {text!r}")
        uri_text, tail = rest[1:greater], rest[greater + 1 :]
    else:
        uri_text, *pieces = split_params(value)
        uri_text = uri_text.rstrip(_WS)
        tail = ";" + ";".join(pieces) if pieces else ""
        if "?" in uri_text.rpartition("@")[2] and uri_text[:4].lower() in ("sip:", "sips"):
            raise SIPParseError(f"a URI with headers must be enclosed in <> in {text!r}")
        if "," in uri_text:
            raise SIPParseError(f"a URI with a comma must be enclosed in <> in {text!r}")
    if not uri_text or _BAD_URI_CHAR_RE.search(uri_text):
        raise SIPParseError(f"invalid URI {uri_text!r} in {text!r}")
    uri = parse_uri(uri_text)
    tail = tail.strip(_WS)
    params = EMPTY_PARAMS
    if tail:
        if not tail.startswith(";"):
            raise SIPParseError(f"unexpected {tail!r} after the URI in {text!r}")
        params = parse_params(split_params(tail)[1:], text)
    return display, uri, params


def format_name_addr(
    uri: URI, display_name: str | None, parameters: Mapping[str, str | None]
) -> str:
    # Always <>: then no URI character can be mistaken for a header separator.
    display = quote_string(display_name) + " " if display_name is not None else ""
    return f"{display}<{uri}>{format_params(parameters)}"


@dataclass(frozen=True)
class NameAddress:
    """A URI with an optional display name and header parameters."""

    uri: URI
    display_name: str | None = None
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri", check_uri(self.uri))
        object.__setattr__(self, "display_name", check_display_name(self.display_name))
        object.__setattr__(self, "parameters", Params.coerce(self.parameters))

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        display, uri, params = parse_name_addr(text)
        return cls(uri, display, params)

    def __str__(self) -> str:
        return format_name_addr(self.uri, self.display_name, self.parameters)
