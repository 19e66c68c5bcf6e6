"""tel: URIs (RFC 3966) and other absolute URIs that SIP headers may carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sipsimple.core.errors import SIPParseError
from sipsimple.core.grammar import EMPTY_PARAMS, Params

__all__ = ["AbsoluteURI", "TelURI"]

_GLOBAL_RE = re.compile(r"\+[0-9\-.()]*[0-9][0-9\-.()]*")
_LOCAL_RE = re.compile(r"[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*")
_PNAME_RE = re.compile(r"[A-Za-z0-9-]+")
_PVALUE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+")
_VISUAL = str.maketrans("", "", "-.()")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# Characters no URI may hold unescaped in a SIP message (RFC 3986 section 2).
_OPAQUE_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:@&=+$,;?%#{}|\\^`]+")


@dataclass(frozen=True)
class TelURI:
    """``tel:+1-212-555-0101;phone-context=...``; parameters keep their raw text."""

    number: str
    parameters: Mapping[str, str | None] = field(default=EMPTY_PARAMS)

    def __post_init__(self) -> None:
        if not isinstance(self.number, str) or not (
            _GLOBAL_RE.fullmatch(self.number) or _LOCAL_RE.fullmatch(self.number)
        ):
            raise SIPParseError(f"invalid telephone number {self.number!r}")
        params = Params.coerce(self.parameters)
        for name, value in params.items():
            if not _PNAME_RE.fullmatch(name) or (
                value is not None and not _PVALUE_RE.fullmatch(value)
            ):
                raise SIPParseError(f"invalid tel URI parameter {name!r}")
        object.__setattr__(self, "parameters", params)

    scheme = "tel"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @classmethod
    def parse(cls, text: str) -> TelURI:
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() != "tel":
            raise SIPParseError(f"{text!r} is not a tel: URI")
        number, *pieces = rest.split(";")
        items: list[tuple[str, str | None]] = []
        for piece in pieces:
            name, equal, value = piece.partition("=")
            items.append((name, value if equal else None))
        return cls(number, Params(items))

    def __str__(self) -> str:
        params = "".join(
            f";{name}" if value is None else f";{name}={value}"
            for name, value in self.parameters.items()
        )
        return f"tel:{self.number}{params}"

    def matches(self, other: object) -> bool:
        """RFC 3966 section 4: numbers without visual separators, parameters in any order."""
        if not isinstance(other, TelURI):
            return False
        if self.number.translate(_VISUAL).lower() != other.number.translate(_VISUAL).lower():
            return False
        mine = {k.lower(): (v.lower() if v else v) for k, v in self.parameters.items()}
        theirs = {k.lower(): (v.lower() if v else v) for k, v in other.parameters.items()}
        return mine == theirs


@dataclass(frozen=True)
class AbsoluteURI:
    """Any other URI scheme, carried opaquely (``http:``, ``urn:``, ``isbn:``...)."""

    scheme: str
    opaque: str

    def __post_init__(self) -> None:
        if not isinstance(self.scheme, str) or not _SCHEME_RE.fullmatch(self.scheme):
            raise SIPParseError(f"invalid URI scheme {self.scheme!r}")
        if not isinstance(self.opaque, str) or not _OPAQUE_RE.fullmatch(self.opaque):
            raise SIPParseError(f"invalid URI {self.scheme}:{self.opaque!r}")

    @classmethod
    def parse(cls, text: str) -> AbsoluteURI:
        scheme, colon, rest = text.partition(":")
        if not colon:
            raise SIPParseError(f"{text!r} is not an absolute URI")
        return cls(scheme, rest)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def matches(self, other: object) -> bool:
        return (
            isinstance(other, AbsoluteURI)
            and self.scheme.lower() == other.scheme.lower()
            and self.opaque == other.opaque
        )
