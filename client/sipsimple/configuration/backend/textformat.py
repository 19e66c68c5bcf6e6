"""The configuration file format: indented, human-readable, round-trip exact.

Grammar, one construct per line::

    # a comment (also allowed after a value)
    key = value          a string
    key =                None (nothing after '=')
    key = ""             the empty string
    key = a, b, c        a list of strings
    key = a,             a list of one string (the trailing comma makes it a list)
    key = ,              the empty list
    group:               a nested group; its entries follow, indented deeper
        key = value

Keys and values are written bare when that is unambiguous, otherwise in double
quotes with backslash escapes (\\\\ \\" \\n \\r \\t \\xHH \\uHHHH \\UHHHHHHHH).
A bare token never contains ``, " # \\``, never starts or ends with a space, and
holds printable characters only, so quoting is needed exactly when reading it
back bare would be lossy. Indentation is spaces only (the writer uses four).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from ..errors import ConfigurationParseError

__all__ = ["ConfigData", "check_data", "dumps", "loads"]

ConfigData = dict[str, Any]  # nested dicts whose leaves are str, list[str] or None

_INDENT = "    "
_BARE_KEY = re.compile(r"[\w.@+\-]+")
_SPECIAL = frozenset(',"#\\')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_OUT = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HEX_LENGTH = {"x": 2, "u": 4, "U": 8}


def check_data(data: object, path: str = "") -> None:
    """Raise TypeError unless data is a dict tree of str / list[str] / None leaves."""
    if not isinstance(data, dict):
        raise TypeError(f"configuration data{' at ' + path if path else ''} must be a dict")
    for key, value in data.items():
        if not isinstance(key, str):
            raise TypeError(f"configuration key {key!r} at {path or 'top level'} is not a str")
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict):
            check_data(value, where)
        elif isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise TypeError(f"list at {where} must contain only str")
        elif value is not None and not isinstance(value, str):
            raise TypeError(f"value at {where} must be str, list of str or None")


# -- writing ----------------------------------------------------------------


def _quote(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPE_OUT:
            out.append(_ESCAPE_OUT[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) <= 0xFF:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def _format_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _quote(key)


def _format_item(text: str) -> str:
    bare = (
        text != ""
        and text.isprintable()
        and text == text.strip(" ")
        and not _SPECIAL.intersection(text)
    )
    return text if bare else _quote(text)


def _format_value(value: str | list[str] | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return " " + _format_item(value)
    if not value:
        return " ,"
    if len(value) == 1:
        return " " + _format_item(value[0]) + ","
    return " " + ", ".join(_format_item(item) for item in value)


def _dump_group(data: ConfigData, depth: int, out: list[str]) -> None:
    pad = _INDENT * depth
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"{pad}{_format_key(key)}:")
            _dump_group(value, depth + 1, out)
        else:
            out.append(f"{pad}{_format_key(key)} ={_format_value(value)}")


def dumps(data: ConfigData, header: str | None = None) -> str:
    """Serialize data (validated with check_data) to the file format."""
    check_data(data)
    out = [f"# {line}" if line else "#" for line in header.splitlines()] if header else []
    _dump_group(data, 0, out)
    return "\n".join(out) + "\n"


# -- reading ----------------------------------------------------------------


class _LineParser:
    """Parses the text of one line after its indentation."""

    def __init__(self, text: str, filename: str, lineno: int) -> None:
        self.text = text
        self.pos = 0
        self.filename = filename
        self.lineno = lineno

    def fail(self, problem: str) -> NoReturn:
        raise ConfigurationParseError(self.filename, self.lineno, problem)

    def at_end(self) -> bool:
        self.skip_spaces()
        return self.pos >= len(self.text) or self.text[self.pos] == "#"

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def quoted(self) -> str:
        text, pos = self.text, self.pos + 1
        out: list[str] = []
        while pos < len(text):
            char = text[pos]
            if char == '"':
                self.pos = pos + 1
                return "".join(out)
            if char != "\\":
                out.append(char)
                pos += 1
                continue
            if pos + 1 >= len(text):
                break
            code = text[pos + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                pos += 2
            elif code in _HEX_LENGTH:
                digits = text[pos + 2 : pos + 2 + _HEX_LENGTH[code]]
                if len(digits) != _HEX_LENGTH[code] or not all(
                    d in "0123456789abcdefABCDEF" for d in digits
                ):
                    self.fail(f"bad \\{code} escape: expected {_HEX_LENGTH[code]} hex digits")
                value = int(digits, 16)
                if value > 0x10FFFF:
                    self.fail(f"bad \\{code} escape: {digits} is not a Unicode code point")
                out.append(chr(value))
                pos += 2 + len(digits)
            else:
                self.fail(f"unknown escape \\{code} in quoted string")
        self.fail("unterminated quoted string (missing closing '\"')")

    def key(self) -> str:
        if self.text.startswith('"', self.pos):
            return self.quoted()
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            self.fail("expected a key (letters, digits, '_', '.', '@', '+', '-' or a quoted key)")
        self.pos = match.end()
        return match.group()

    def item(self) -> str:
        if self.text[self.pos] == '"':
            return self.quoted()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",#":
            if self.text[self.pos] in '"\\':
                self.fail(f"unexpected {self.text[self.pos]!r} in unquoted value; quote the value")
            self.pos += 1
        return self.text[start : self.pos].rstrip(" \t")

    def value(self) -> str | list[str] | None:
        items: list[str] = []
        commas = 0
        expect_item = True
        while not self.at_end():
            if self.text[self.pos] == ",":
                if expect_item and (items or commas):
                    self.fail("empty item in list (two commas in a row?)")
                commas += 1
                self.pos += 1
                if not items:  # a lone ',' is the empty list
                    if not self.at_end():
                        self.fail("a list cannot start with ','")
                    return []
                expect_item = True
                continue
            if not expect_item:
                self.fail("expected ',' or end of line after a quoted value")
            items.append(self.item())
            expect_item = False
        if commas:
            return items
        return items[0] if items else None


def _decode(data: bytes, filename: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigurationParseError(filename, line, "invalid UTF-8") from None
    return text


def loads(data: str | bytes, filename: str = "<string>") -> ConfigData:
    """Parse the file format; any problem raises ConfigurationParseError."""
    text = _decode(data, filename) if isinstance(data, bytes) else data
    text = text.removeprefix("\ufeff")  # editors on some systems add one
    root: ConfigData = {}
    stack: list[tuple[int, ConfigData]] = [(0, root)]
    pending: ConfigData | None = None  # a group whose first entry is expected next
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        content = line.lstrip(" \t")
        if not content or content.startswith("#"):
            continue
        parser = _LineParser(content, filename, lineno)
        fail = parser.fail
        lead = line[: len(line) - len(content)]
        if "\t" in lead:
            fail("tab in indentation; indent with spaces")
        indent = len(lead)
        if pending is not None and indent > stack[-1][0]:
            stack.append((indent, pending))
        elif indent > stack[-1][0]:
            fail("unexpected indentation")
        pending = None
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            fail("indentation does not match any enclosing group")
        key = parser.key()
        target = stack[-1][1]
        if key in target:
            fail(f"duplicate key {key!r}")
        parser.skip_spaces()
        separator = content[parser.pos : parser.pos + 1]
        parser.pos += 1
        if separator == ":":
            if not parser.at_end():
                fail(f"unexpected text after group {key!r}:")
            pending = target[key] = {}
        elif separator == "=":
            target[key] = parser.value()
        else:
            fail(f"expected '=' or ':' after key {key!r}")
    return root
