"""What every typed header shares, and the header for everything else."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from sipsimple.core.errors import SIPParseError

__all__ = ["GenericHeader", "Header", "build", "check_text", "parse_uint"]

_DIGITS_RE = re.compile(r"[0-9]{1,20}")
_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")

_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

UINT32_MAX = 2**32 - 1
T = TypeVar("T")


class Header:
    """Base of the typed headers.

    ``name`` is the canonical header name; ``kind`` says how the message
    parser treats a comma-separated value: ``"single"`` parses it whole,
    ``"list"`` parses each element as its own header (Via, Contact, Route...).
    ``parse(value)`` reads a header value (LWS already unfolded) and ``str()``
    writes one.
    """

    name: str
    compact: ClassVar[str | None] = None
    kind: ClassVar[str] = "single"

    @classmethod
    def parse(cls, value: str) -> Any:  # overridden; Any keeps subclasses precise
        raise NotImplementedError


def build(cls: type[T], **fields: Any) -> T:
    """An instance of the frozen dataclass `cls` with `fields` set, skipping __post_init__.

    Only for values that the caller has already validated exactly as
    __post_init__ would (the parsers, which check while they read): it saves
    checking every part of every header twice.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def parse_uint(text: str, what: str, maximum: int = UINT32_MAX) -> int:
    """1*DIGIT within 0..maximum (the length cap keeps int() cheap on junk)."""
    text = text.strip(" \t")
    if not _DIGITS_RE.fullmatch(text):
        raise SIPParseError(f"{what} {text!r} is not a number in range")
    value = int(text)
    if value > maximum:
        raise SIPParseError(f"{what} {value} is larger than {maximum}")
    return value


def check_uint(value: Any, what: str, maximum: int = UINT32_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise SIPParseError(f"{what} must be an integer in 0..{maximum}, not {value!r}")
    return value


def check_text(value: Any, what: str) -> str:
    """Header text: any string without CR/LF or other control characters but HTAB."""
    if not isinstance(value, str):
        raise SIPParseError(f"{what} must be a string, not {type(value).__name__}")
    if _CONTROL_RE.search(value):
        raise SIPParseError(f"{what} holds a control character")
    _check_utf8(value, what)
    return value


def _check_utf8(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SIPParseError(f"{what} is not encodable as UTF-8") from None


@dataclass(frozen=True)
class GenericHeader(Header):
    """A header we have no type for: its name and its raw (unfolded) value."""

    name: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.fullmatch(self.name):
            raise SIPParseError(f"invalid header name {self.name!r}")
        if not isinstance(self.value, str) or "\r" in self.value or "\n" in self.value:
            raise SIPParseError(f"header {self.name} value holds CR or LF")
        _check_utf8(self.value, self.name)

    @classmethod
    def parse(cls, value: str) -> GenericHeader:
        raise SIPParseError("a generic header needs a name: use GenericHeader(name, value)")

    def __str__(self) -> str:
        return self.value
