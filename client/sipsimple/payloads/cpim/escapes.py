"""The RFC 3862 escapes in quoted strings and header values, and the checks of a
value before it is written.
"""

from __future__ import annotations

from typing import Any

from sipsimple.payloads.cpim.syntax import _CONTROL_RE, CPIMParseError
from sipsimple.payloads.errors import BuilderError

_HEX = "0123456789abcdefABCDEF"
_ESCAPES = {"\\": "\\", '"': '"', "b": "\b", "t": "\t", "n": "\n", "r": "\r"}
_NAMED = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(text: str, *, quote: bool) -> str:
    out = []
    for char in text:
        if char in _NAMED and (char != '"' or quote):
            out.append(_NAMED[char])
        elif _CONTROL_RE.match(char):
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            digits = text[i + 2 : i + 6]
            if nxt == "u" and len(digits) == 4 and all(c in _HEX for c in digits):
                code = int(digits, 16)
                i += 6
                if 0xD800 <= code <= 0xDBFF and text[i : i + 2] == "\\u":
                    # A UTF-16 pair written as two escapes, as JSON does.
                    low = text[i + 2 : i + 6]
                    if len(low) == 4 and all(c in _HEX for c in low):
                        low_code = int(low, 16)
                        if 0xDC00 <= low_code <= 0xDFFF:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)
                            i += 6
                if 0xD800 <= code <= 0xDFFF:
                    raise CPIMParseError(f"escape \\u{digits} is a lone surrogate")
                out.append(chr(code))
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _quote(text: str) -> str:
    return '"' + _escape(text, quote=True) + '"'


def _scan_quoted(text: str, start: int) -> int:
    """Index just past the quoted string opening at `start`."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    raise CPIMParseError(f"unterminated quoted string in {text!r}")


def _check_value(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BuilderError(f"{what} must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BuilderError(f"{what} is not encodable as UTF-8") from None
    return value
