"""Lexical helpers for RFC 3261 section 25: tokens, quoted strings, parameters.

All functions work on already-unfolded header text (continuation lines joined
with a single space). They use only linear scans and regular expressions whose
alternatives are disjoint, so that no input can make them backtrack badly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sipsimple.core.errors import SIPParseError

__all__ = [
    "TOKEN_CHARS",
    "Params",
    "format_params",
    "is_token",
    "parse_params",
    "quote_string",
    "split_commas",
    "split_params",
    "unquote",
    "unquote_string",
]

TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# qdtext / quoted-pair (RFC 3261 25.1); non-ASCII text is any code point >= 0x80.
_QUOTED_RE = re.compile(
    r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]|\\[\x00-\x09\x0b\x0c\x0e-\x7f])*)"'
)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
# Characters qdtext excludes, written as quoted-pairs.
_NEEDS_PAIR_RE = re.compile(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
_IPV6_REF_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_WS = " \t"


def is_token(text: str) -> bool:
    return _TOKEN_RE.fullmatch(text) is not None


def unquote_string(text: str) -> str:
    """The content of a whole quoted-string, with quoted-pairs resolved."""
    match = _QUOTED_RE.fullmatch(text)
    if match is None:
        raise SIPParseError(f"invalid quoted string {text!r}")
    inner = match.group(1)
    return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner


def quote_string(text: str) -> str:
    """A quoted-string holding `text` (quote, backslash and controls as quoted-pairs)."""
    if "\r" in text or "\n" in text:
        raise SIPParseError("a quoted string cannot hold CR or LF")
    return '"' + _NEEDS_PAIR_RE.sub(r"\\\g<0>", text) + '"'


def unquote(value: str | None) -> str | None:
    """A parameter value without its quotes, when it is a quoted string."""
    if value is not None and value.startswith('"'):
        return unquote_string(value)
    return value


def scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted-string that starts at `start`."""
    match = _QUOTED_RE.match(text, start)
    if match is None:
        raise SIPParseError(f"unterminated or invalid quoted string in {text!r}")
    return match.end()


def _split(text: str, sep: str, *, angle: bool) -> list[str]:
    """Split on `sep` outside quoted strings (and outside <...> if `angle`)."""
    if '"' not in text and (not angle or "<" not in text):
        return text.split(sep)
    parts: list[str] = []
    start = index = 0
    length = len(text)
    while index < length:
        char = text[index]
        if char == '"':
            index = scan_quoted(text, index)
            continue
        if angle and char == "<":
            end = text.find(">", index)
            if end < 0:
                raise SIPParseError(f"unbalanced '<' in {text!r}")
            index = end + 1
            continue
        if char == sep:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    parts.append(text[start:])
    return parts


def split_commas(text: str, *, angle: bool = True) -> list[str]:
    """The elements of a comma-separated header value, stripped; empty ones refused."""
    parts = [part.strip(_WS) for part in _split(text, ",", angle=angle)]
    if any(not part for part in parts):
        raise SIPParseError(f"empty element in list {text!r}")
    return parts


def split_params(text: str) -> list[str]:
    """Split on ';' outside quoted strings."""
    return _split(text, ";", angle=False)


def _check_value(value: str, where: str) -> str:
    if _TOKEN_RE.fullmatch(value) or _IPV6_REF_RE.fullmatch(value):
        return value
    if value.startswith('"') and _QUOTED_RE.fullmatch(value):
        return value
    raise SIPParseError(f"invalid parameter value {value!r} in {where!r}")


def parse_params(pieces: Iterable[str], where: str) -> Params:
    """generic-param list from the pieces after each ';' (values kept raw)."""
    items: list[tuple[str, str | None]] = []
    index: dict[str, int] = {}
    token = _TOKEN_RE.fullmatch
    for piece in pieces:
        name, equal, value = piece.partition("=")
        name = name.strip(_WS)
        if not token(name):
            raise SIPParseError(f"invalid parameter {piece!r} in {where!r}")
        key = name.lower()
        if key in index:
            raise SIPParseError(f"parameter {name!r} appears more than once")
        index[key] = len(items)
        if equal:
            value = value.strip(_WS)
            # A token (the common case) needs no further check.
            items.append((name, value if token(value) else _check_value(value, where)))
        else:
            items.append((name, None))
    # Names are tokens and values tokens, IPv6 references or quoted strings
    # (no CR or LF): what Params() would check again.
    return Params._trusted(tuple(items), index) if items else EMPTY_PARAMS


def format_params(params: Mapping[str, str | None]) -> str:
    # Params keeps its pairs in a tuple: skip the Mapping view machinery.
    items = params._items if isinstance(params, Params) else params.items()
    if not items:
        return ""
    return "".join(
        [f";{name}" if value is None else f";{name}={value}" for name, value in items]
    )


class Params(Mapping[str, "str | None"]):
    """Immutable, ordered, hashable parameters with case-insensitive names.

    Values are stored as they appear on the wire (a quoted string keeps its
    quotes; use `unquote`), so that serialization reproduces them exactly.
    Equality ignores order and the case of names.
    """

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[tuple[str, str | None]] | Mapping[str, Any] = ()) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        index: dict[str, int] = {}
        for position, pair in enumerate(pairs):
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise SIPParseError(f"parameter {pair!r} is not a (name, value) pair")
            name, value = pair
            if not isinstance(name, str) or not _TOKEN_RE.fullmatch(name):
                raise SIPParseError(f"invalid parameter name {name!r}")
            if value is not None and not isinstance(value, str):
                raise SIPParseError(f"parameter {name!r} value must be a string or None")
            if value is not None and any(ch in value for ch in "\r\n"):
                raise SIPParseError(f"parameter {name!r} value holds CR or LF")
            key = name.lower()
            if key in index:
                raise SIPParseError(f"parameter {name!r} appears more than once")
            index[key] = position
        self._items: tuple[tuple[str, str | None], ...] = tuple(pairs)
        self._index = index

    @classmethod
    def _trusted(
        cls, items: tuple[tuple[str, str | None], ...], index: dict[str, int]
    ) -> Params:
        """Params from already-validated pairs and their lower-cased name index."""
        params = cls.__new__(cls)
        params._items = items
        params._index = index
        return params

    @classmethod
    def coerce(cls, value: Any) -> Params:
        if isinstance(value, Params):
            return value
        if value is None:
            return EMPTY_PARAMS
        if isinstance(value, Mapping | list | tuple):
            return cls(value)
        raise SIPParseError(f"parameters must be a mapping, not {type(value).__name__}")

    def __getitem__(self, name: str) -> str | None:
        return self._items[self._index[name.lower()]][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _key(self) -> frozenset[tuple[str, str | None]]:
        return frozenset((name.lower(), value) for name, value in self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Params):
            return self._key() == other._key()
        if isinstance(other, Mapping):
            return self == Params.coerce(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Params({dict(self._items)!r})"

    def with_(self, name: str, value: str | None) -> Params:
        """A copy with `name` set (replacing any value, keeping its position)."""
        key = name.lower()
        if key in self._index:
            items = list(self._items)
            items[self._index[key]] = (name, value)
            return Params(items)
        return Params([*self._items, (name, value)])

    def without(self, name: str) -> Params:
        key = name.lower()
        return Params([item for item in self._items if item[0].lower() != key])


EMPTY_PARAMS = Params()
