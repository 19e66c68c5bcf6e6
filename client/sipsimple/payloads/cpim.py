"""Message/CPIM (RFC 3862): the wrapper chat and page-mode messages share.

A CPIM message is three parts: message headers (From, To, cc, DateTime,
Subject, NS, Require and namespaced extension headers such as
``imdn.Message-ID``), a blank line, the encapsulated MIME headers
(Content-Type and the others), a blank line, and the content bytes.
`CPIMMessage.decode` reads it as carried in a MESSAGE or MSRP SEND body (the
transport's ``Content-Type: message/cpim`` is outside); `decode_mime` also reads
the outer MIME headers, as RFC 3862 section 6 shows the example.

Header values are UTF-8. Quoted strings, Subject and extension values use the
RFC 3862 escapes (``\\\\``, ``\\"``, ``\\b``, ``\\t``, ``\\n``, ``\\r``,
``\\uXXXX``) for characters the syntax could not otherwise carry; an unknown
escape is kept as written. Lines may end in CRLF or a bare LF on input and end
in CRLF on output; a line starting with white space continues the previous one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sipsimple.core.anyuri import URI, parse_uri
from sipsimple.core.errors import SIPParseError
from sipsimple.payloads.errors import BuilderError, ParserError
from sipsimple.payloads.timestamps import format_datetime, parse_datetime

__all__ = [
    "CPIM_CONTENT_TYPE",
    "CPIM_NAMESPACE",
    "MAX_CPIM_SIZE",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "CPIMHeader",
    "CPIMIdentity",
    "CPIMMessage",
    "CPIMNamespace",
    "CPIMParseError",
    "ChatIdentity",
    "MultilingualText",
]

CPIM_CONTENT_TYPE = "message/cpim"
CPIM_NAMESPACE = "urn:ietf:params:cpim-headers:"
MAX_CPIM_SIZE = 16 * 1024 * 1024
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 256

_NAME = r"[A-Za-z0-9!#$%&'*+\-^_`|~]+"
_NAME_RE = re.compile(_NAME)
_HEADER_NAME_RE = re.compile(rf"(?:({_NAME})\.)?({_NAME})")
_TOKEN_RE = re.compile(r"[A-Za-z0-9!#$%&'*+\-.^_`|~]+")
_MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9!#$&\-^_.+]+/[A-Za-z0-9!#$&\-^_.+]+")
_LANG_RE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_BAD_URI_RE = re.compile(r"[\x00-\x20<>\"\x7f]")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_HEX = "0123456789abcdefABCDEF"
_STANDARD = {"from", "to", "cc", "datetime", "subject", "ns", "require"}
_ESCAPES = {"\\": "\\", '"': '"', "b": "\b", "t": "\t", "n": "\n", "r": "\r"}
_NAMED = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


class CPIMParseError(ParserError):
    """Bytes that are not a Message/CPIM message (answer 400 / REPORT 400)."""


# --- escapes -----------------------------------------------------------------


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


# --- identities and text -----------------------------------------------------


def _check_uri(uri: Any) -> URI:
    if isinstance(uri, str):
        try:
            uri = parse_uri(uri)
        except SIPParseError as exc:
            raise BuilderError(f"invalid URI {uri!r}: {exc}") from None
    text = str(uri)
    if _BAD_URI_RE.search(text):
        raise BuilderError(f"URI {text!r} cannot be carried in <>")
    return uri


@dataclass(frozen=True)
class ChatIdentity:
    """A party of a chat: its URI and optional display name.

    Plain chat messages (no CPIM) take these from the SIP session; CPIM
    messages carry `CPIMIdentity`, which adds the CPIM text form.
    """

    uri: URI
    display_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri", _check_uri(self.uri))
        if self.display_name is not None:
            _check_value(self.display_name, "display name")

    def __str__(self) -> str:
        if self.display_name is None:
            return f"<{self.uri}>"
        return f"{_quote(self.display_name)} <{self.uri}>"


@dataclass(frozen=True)
class CPIMIdentity(ChatIdentity):
    """``[Formal-name] <URI>`` as in CPIM From, To and cc (RFC 3862 sections 3.2, 4.1)."""

    @classmethod
    def parse(cls, text: str) -> CPIMIdentity:
        value = text.strip(" \t")
        display: str | None = None
        if value.startswith('"'):
            end = _scan_quoted(value, 0)
            display = _unescape(value[1 : end - 1])
            value = value[end:].lstrip(" \t")
            if not value.startswith("<"):
                raise CPIMParseError(f"a quoted name must precede <URI> in {text!r}")
        else:
            less = value.find("<")
            if less > 0:
                display = " ".join(value[:less].split()) or None
                value = value[less:]
        if value.startswith("<"):
            if not value.endswith(">"):
                raise CPIMParseError(f"identity {text!r} does not end with '>'")
            uri_text = value[1:-1]
        else:
            uri_text = value
        if not uri_text or _BAD_URI_RE.search(uri_text):
            raise CPIMParseError(f"invalid URI in identity {text!r}")
        try:
            uri = parse_uri(uri_text)
        except SIPParseError as exc:
            raise CPIMParseError(f"invalid URI in identity {text!r}: {exc}") from None
        return cls(uri, display)


class MultilingualText(str):
    """A text with translations, as the CPIM Subject header carries it.

    The string value is the main text (in `language`, None when untagged);
    `translations` maps language tags to the other versions. Compared with a
    plain string only the main text counts; two MultilingualText are equal when
    all their versions are.
    """

    language: str | None
    translations: Mapping[str, str]

    def __new__(
        cls,
        text: str = "",
        translations: Mapping[str, str] | None = None,
        /,
        *,
        language: str | None = None,
        **more: str,
    ) -> MultilingualText:
        self = super().__new__(cls, text)
        merged = dict(translations or {})
        merged.update(more)
        # Immutable like the frozen dataclasses that hold it.
        object.__setattr__(self, "language", language)
        object.__setattr__(self, "translations", MappingProxyType(merged))
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"MultilingualText is immutable (cannot set {name})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_multilingual, (str(self), dict(self.translations), self.language))

    def get_translation(self, language: str) -> str | None:
        wanted = language.lower()
        if self.language is not None and self.language.lower() == wanted:
            return str(self)
        for lang, text in self.translations.items():
            if lang.lower() == wanted:
                return text
        return None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultilingualText):
            return (
                str.__eq__(self, other)
                and self.language == other.language
                and dict(self.translations) == dict(other.translations)
            )
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = str.__hash__

    def __repr__(self) -> str:
        return (
            f"MultilingualText({str.__repr__(self)}, {dict(self.translations)!r}, "
            f"language={self.language!r})"
        )


def _multilingual(
    text: str, translations: dict[str, str], language: str | None
) -> MultilingualText:
    return MultilingualText(text, translations, language=language)


@dataclass(frozen=True)
class CPIMNamespace:
    """An NS declaration: `prefix` (None for the default namespace) bound to `uri`."""

    uri: str
    prefix: str | None = None


@dataclass(frozen=True)
class CPIMHeader:
    """A message header other than the standard ones, e.g. ``imdn.Message-ID``.

    `namespace` is the URI the prefix stood for (`CPIM_NAMESPACE` for an
    unprefixed header), `prefix` the one written (None when unprefixed), and
    `parameters` the ``;name=value`` pairs in order.
    """

    name: str
    value: str
    namespace: str = CPIM_NAMESPACE
    prefix: str | None = None
    parameters: tuple[tuple[str, str], ...] = ()


# --- the message -------------------------------------------------------------


def _identities(value: Any, what: str) -> tuple[CPIMIdentity, ...]:
    items = tuple(value)
    for item in items:
        if not isinstance(item, ChatIdentity):
            raise BuilderError(f"{what} must hold CPIMIdentity objects, not {type(item).__name__}")
    return tuple(
        item if isinstance(item, CPIMIdentity) else CPIMIdentity(item.uri, item.display_name)
        for item in items
    )


@dataclass(frozen=True)
class CPIMMessage:
    """A Message/CPIM message: the headers of RFC 3862 and the wrapped MIME object.

    `content_type` is the bare media type (lower case), `content_parameters`
    its parameters (``charset``...), `content_headers` the other MIME headers
    of the wrapped object as (name, value) in order. `namespaces` are the NS
    declarations; those needed by `additional_headers` are added when encoding.
    """

    content: bytes
    content_type: str = "text/plain"
    content_parameters: tuple[tuple[str, str], ...] = ()
    content_headers: tuple[tuple[str, str], ...] = ()
    sender: CPIMIdentity | None = None
    recipients: tuple[CPIMIdentity, ...] = ()
    courtesy_recipients: tuple[CPIMIdentity, ...] = ()
    subject: MultilingualText | None = None
    timestamp: datetime | None = None
    required: tuple[str, ...] = ()
    namespaces: tuple[CPIMNamespace, ...] = ()
    additional_headers: tuple[CPIMHeader, ...] = ()

    def __post_init__(self) -> None:
        setter = object.__setattr__
        if isinstance(self.content, str):
            setter(self, "content", self.content.encode("utf-8"))
        elif not isinstance(self.content, bytes):
            setter(self, "content", bytes(self.content))
        if not isinstance(self.content_type, str) or not _MEDIA_TYPE_RE.fullmatch(
            self.content_type
        ):
            raise BuilderError(f"invalid content type {self.content_type!r}")
        setter(self, "content_type", self.content_type.lower())
        setter(self, "content_parameters", tuple(tuple(p) for p in self.content_parameters))
        setter(self, "content_headers", tuple(tuple(h) for h in self.content_headers))
        if self.sender is not None:
            setter(self, "sender", _identities([self.sender], "sender")[0])
        setter(self, "recipients", _identities(self.recipients, "recipients"))
        setter(
            self,
            "courtesy_recipients",
            _identities(self.courtesy_recipients, "courtesy_recipients"),
        )
        if self.subject is not None and not isinstance(self.subject, MultilingualText):
            setter(self, "subject", MultilingualText(_check_value(self.subject, "subject")))
        if self.timestamp is not None and not isinstance(self.timestamp, datetime):
            raise BuilderError(f"timestamp must be a datetime, not {type(self.timestamp).__name__}")
        setter(self, "required", tuple(self.required))
        setter(self, "namespaces", tuple(self.namespaces))
        setter(self, "additional_headers", tuple(self.additional_headers))
        for kind, items in (
            (CPIMNamespace, self.namespaces),
            (CPIMHeader, self.additional_headers),
        ):
            for item in items:
                if not isinstance(item, kind):
                    raise BuilderError(f"expected {kind.__name__}, not {type(item).__name__}")

    @property
    def charset(self) -> str | None:
        for name, value in self.content_parameters:
            if name.lower() == "charset":
                return value
        return None

    def header(self, name: str, namespace: str = CPIM_NAMESPACE) -> str | None:
        """The value of the first additional header `name` in `namespace`, or None."""
        for item in self.headers(name, namespace):
            return item.value
        return None

    def headers(self, name: str, namespace: str = CPIM_NAMESPACE) -> tuple[CPIMHeader, ...]:
        return tuple(
            item
            for item in self.additional_headers
            if item.namespace == namespace and item.name.lower() == name.lower()
        )

    # -- encoding --

    def encode(self) -> bytes:
        """The CPIM body as sent in MSRP or MESSAGE (Content-Type: message/cpim)."""
        lines: list[str] = []
        if self.sender is not None:
            lines.append(f"From: {self.sender}")
        lines.extend(f"To: {item}" for item in self.recipients)
        lines.extend(f"cc: {item}" for item in self.courtesy_recipients)
        if self.timestamp is not None:
            lines.append(f"DateTime: {format_datetime(self.timestamp)}")
        if self.subject is not None:
            lines.extend(_subject_lines(self.subject))
        lines.extend(self._namespace_lines())
        if self.required:
            for name in self.required:
                if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
                    raise BuilderError(f"invalid Require entry {name!r}")
            lines.append("Require: " + ",".join(self.required))
        for header in self.additional_headers:
            lines.append(_header_line(header))
        lines.append("")
        params = "".join(
            f"; {_check_token(name, 'parameter name')}={_param_value(value)}"
            for name, value in self.content_parameters
        )
        lines.append(f"Content-Type: {self.content_type}{params}")
        for name, value in self.content_headers:
            _check_token(name, "MIME header name")
            if name.lower() == "content-type":
                raise BuilderError("Content-Type goes in content_type, not content_headers")
            if _CONTROL_RE.search(_check_value(value, f"{name} value")):
                raise BuilderError(f"{name} value holds a control character")
            lines.append(f"{name}: {value}")
        lines.append("")
        return "\r\n".join(lines).encode("utf-8") + b"\r\n" + self.content

    def encode_mime(self) -> bytes:
        """The message with its outer MIME header, as RFC 3862 section 6 shows it."""
        return b"Content-Type: message/cpim\r\n\r\n" + self.encode()

    def _namespace_lines(self) -> list[str]:
        bound: dict[str | None, str] = {None: CPIM_NAMESPACE}
        lines: list[str] = []

        def declare(prefix: str | None, uri: str) -> None:
            if not isinstance(uri, str) or not uri or _BAD_URI_RE.search(uri):
                raise BuilderError(f"invalid namespace URI {uri!r}")
            if prefix is None:
                # Headers after a new default namespace would no longer be CPIM's own.
                if uri != CPIM_NAMESPACE:
                    raise BuilderError("the default namespace must stay the CPIM one")
            elif not isinstance(prefix, str) or not _NAME_RE.fullmatch(prefix):
                raise BuilderError(f"invalid namespace prefix {prefix!r}")
            elif bound.get(prefix, uri) != uri:
                raise BuilderError(f"prefix {prefix!r} bound to two namespaces")
            bound[prefix] = uri
            lines.append(f"NS: {prefix} <{uri}>" if prefix is not None else f"NS: <{uri}>")

        for item in self.namespaces:
            declare(item.prefix, item.uri)
        for header in self.additional_headers:
            if bound.get(header.prefix) != header.namespace:
                if header.prefix is None:
                    raise BuilderError(
                        f"header {header.name!r} in {header.namespace!r} needs a prefix"
                    )
                declare(header.prefix, header.namespace)
        return lines

    # -- decoding --

    @classmethod
    def decode(cls, data: bytes, *, max_size: int = MAX_CPIM_SIZE) -> CPIMMessage:
        """Parse a CPIM body (without the outer MIME header); CPIMParseError if malformed."""
        data = _check_bytes(data, max_size)
        lines, pos = _read_block(data, 0, eof_ok=False, what="message headers")
        fields = _parse_message_headers(lines)
        mime_lines, pos = _read_block(data, pos, eof_ok=True, what="MIME headers")
        content_type, params, others = _parse_mime_headers(mime_lines)
        try:
            return cls(
                content=data[pos:],
                content_type=content_type,
                content_parameters=params,
                content_headers=others,
                **fields,
            )
        except BuilderError as exc:  # a value the parser let through but the model refuses
            raise CPIMParseError(str(exc)) from None

    @classmethod
    def decode_mime(cls, data: bytes, *, max_size: int = MAX_CPIM_SIZE) -> CPIMMessage:
        """Parse a MIME entity whose own Content-Type is message/cpim."""
        data = _check_bytes(data, max_size)
        lines, pos = _read_block(data, 0, eof_ok=False, what="outer MIME headers")
        content_type, _params, _others = _parse_mime_headers(lines)
        if content_type != CPIM_CONTENT_TYPE:
            raise CPIMParseError(f"outer Content-Type is {content_type!r}, not message/cpim")
        return cls.decode(data[pos:], max_size=max_size)


def _check_token(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise BuilderError(f"invalid {what} {value!r}")
    return value


def _param_value(value: Any) -> str:
    value = _check_value(value, "parameter value")
    return value if _TOKEN_RE.fullmatch(value) else _quote(value)


def _subject_lines(subject: MultilingualText) -> list[str]:
    lines = []
    seen: set[str | None] = set()
    versions: list[tuple[str | None, str]] = [(subject.language, str(subject))]
    versions.extend(subject.translations.items())
    for lang, text in versions:
        key = lang.lower() if lang is not None else None
        if key in seen:
            raise BuilderError(f"subject has two versions in language {lang!r}")
        seen.add(key)
        if lang is not None and not (isinstance(lang, str) and _LANG_RE.fullmatch(lang)):
            raise BuilderError(f"invalid language tag {lang!r}")
        param = f";lang={lang}" if lang is not None else ""
        lines.append(f"Subject:{param} {_escape(_check_value(text, 'subject'), quote=False)}")
    return lines


def _header_line(header: CPIMHeader) -> str:
    if not isinstance(header, CPIMHeader):
        raise BuilderError(f"additional headers must be CPIMHeader, not {type(header).__name__}")
    if not isinstance(header.name, str) or not _NAME_RE.fullmatch(header.name):
        raise BuilderError(f"invalid header name {header.name!r}")
    if header.prefix is None and header.name.lower() in _STANDARD:
        raise BuilderError(f"{header.name} is a standard header; use its field")
    name = header.name if header.prefix is None else f"{header.prefix}.{header.name}"
    params = "".join(
        f";{_check_token(key, 'parameter name')}={_param_value(value)}"
        for key, value in header.parameters
    )
    return f"{name}:{params} {_escape(_check_value(header.value, name), quote=False)}"


# --- decoding helpers ---------------------------------------------------------


def _check_bytes(data: Any, max_size: int) -> bytes:
    if isinstance(data, bytearray | memoryview):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise CPIMParseError(f"expected bytes, not {type(data).__name__}")
    if len(data) > max_size:
        raise CPIMParseError(f"message of {len(data)} bytes exceeds the limit of {max_size}")
    return data


def _read_block(data: bytes, pos: int, *, eof_ok: bool, what: str) -> tuple[list[str], int]:
    """Header lines (unfolded) up to the next empty line, and the index after it.

    With `eof_ok` the block may also end at the end of the data.
    """
    lines: list[str] = []
    start = pos
    while True:
        newline = data.find(b"\n", pos, start + MAX_HEADER_BYTES + 1)
        if newline < 0:
            if len(data) > start + MAX_HEADER_BYTES:
                raise CPIMParseError(f"{what} exceed {MAX_HEADER_BYTES} bytes")
            if not eof_ok:
                raise CPIMParseError(f"{what} are not ended by an empty line")
            raw, pos = data[pos:], len(data)
        else:
            raw, pos = data[pos:newline], newline + 1
        raw = raw.removesuffix(b"\r")
        if not raw:
            return lines, pos
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CPIMParseError(f"{what} are not UTF-8") from None
        if "\r" in line or "\x00" in line:
            raise CPIMParseError(f"stray control character in {what}")
        if line[0] in " \t":
            if not lines:
                raise CPIMParseError(f"{what} start with a continuation line")
            lines[-1] += " " + line.strip(" \t")
        else:
            if len(lines) >= MAX_HEADERS:
                raise CPIMParseError(f"more than {MAX_HEADERS} {what}")
            lines.append(line)
        if newline < 0:
            return lines, pos


def _split_header(line: str) -> tuple[str | None, str, list[tuple[str, str]], str]:
    """(prefix, name, parameters, raw value) of a CPIM message header line."""
    colon = line.find(":")
    if colon < 0:
        raise CPIMParseError(f"header line {line!r} has no ':'")
    match = _HEADER_NAME_RE.fullmatch(line[:colon])
    if match is None:
        raise CPIMParseError(f"invalid header name {line[:colon]!r}")
    rest = line[colon + 1 :]
    params: list[tuple[str, str]] = []
    while rest.startswith(";"):
        equals = rest.find("=")
        if equals < 0:
            raise CPIMParseError(f"parameter without '=' in {line!r}")
        pname = rest[1:equals]
        if not _TOKEN_RE.fullmatch(pname):
            raise CPIMParseError(f"invalid parameter name {pname!r} in {line!r}")
        rest = rest[equals + 1 :]
        if rest.startswith('"'):
            end = _scan_quoted(rest, 0)
            pvalue = _unescape(rest[1 : end - 1])
        else:
            end = 0
            while end < len(rest) and rest[end] not in " ;":
                end += 1
            pvalue = rest[:end]
            if not _TOKEN_RE.fullmatch(pvalue):
                raise CPIMParseError(f"invalid parameter value {pvalue!r} in {line!r}")
        params.append((pname, pvalue))
        rest = rest[end:]
    if rest.startswith(" "):
        rest = rest[1:]
    return match.group(1), match.group(2), params, rest


def _parse_message_headers(lines: list[str]) -> dict[str, Any]:
    bound: dict[str | None, str] = {None: CPIM_NAMESPACE}
    sender: CPIMIdentity | None = None
    recipients: list[CPIMIdentity] = []
    courtesy: list[CPIMIdentity] = []
    timestamp: datetime | None = None
    subjects: list[tuple[str | None, str]] = []
    required: list[str] = []
    namespaces: list[CPIMNamespace] = []
    extra: list[CPIMHeader] = []
    for line in lines:
        prefix, name, params, raw = _split_header(line)
        if prefix not in bound:
            raise CPIMParseError(f"header {prefix}.{name} uses an undeclared prefix")
        namespace = bound[prefix]
        key = name.lower() if namespace == CPIM_NAMESPACE else None
        if key in ("from", "to", "cc"):
            identity = CPIMIdentity.parse(raw)
            if key == "from":
                if sender is not None:
                    raise CPIMParseError("more than one From header")
                sender = identity
            else:
                (recipients if key == "to" else courtesy).append(identity)
        elif key == "datetime":
            if timestamp is not None:
                raise CPIMParseError("more than one DateTime header")
            timestamp = parse_datetime(raw)
            if timestamp is None:
                raise CPIMParseError(f"invalid DateTime {raw!r}")
        elif key == "subject":
            lang = next((v for k, v in params if k.lower() == "lang"), None)
            if lang is not None and not _LANG_RE.fullmatch(lang):
                raise CPIMParseError(f"invalid language tag {lang!r}")
            subjects.append((lang, _unescape(raw)))
        elif key == "ns":
            uri_text = raw.strip(" \t")
            ns_prefix: str | None = None
            if not uri_text.startswith("<"):
                ns_prefix, _, uri_text = uri_text.partition(" ")
                uri_text = uri_text.strip(" \t")
                if not _NAME_RE.fullmatch(ns_prefix):
                    raise CPIMParseError(f"invalid NS prefix {ns_prefix!r}")
            if (
                not (uri_text.startswith("<") and uri_text.endswith(">"))
                or _BAD_URI_RE.search(uri_text[1:-1])
                or len(uri_text) < 3
            ):
                raise CPIMParseError(f"invalid NS header value {raw!r}")
            bound[ns_prefix] = uri_text[1:-1]
            namespaces.append(CPIMNamespace(uri_text[1:-1], ns_prefix))
        elif key == "require":
            for item in raw.split(","):
                item = item.strip(" \t")
                if not _HEADER_NAME_RE.fullmatch(item):
                    raise CPIMParseError(f"invalid Require entry {item!r}")
                required.append(item)
        else:
            extra.append(CPIMHeader(name, _unescape(raw), namespace, prefix, tuple(params)))
    return {
        "sender": sender,
        "recipients": tuple(recipients),
        "courtesy_recipients": tuple(courtesy),
        "subject": _subject(subjects),
        "timestamp": timestamp,
        "required": tuple(required),
        "namespaces": tuple(namespaces),
        "additional_headers": tuple(extra),
    }


def _subject(subjects: list[tuple[str | None, str]]) -> MultilingualText | None:
    if not subjects:
        return None
    (language, text), rest = subjects[0], subjects[1:]
    seen = {language.lower() if language else None}
    translations: dict[str, str] = {}
    for lang, value in rest:
        key = lang.lower() if lang else None
        if lang is None or key in seen:
            raise CPIMParseError(f"two Subject headers in language {lang!r}")
        seen.add(key)
        translations[lang] = value
    return MultilingualText(text, translations, language=language)


def _parse_mime_headers(
    lines: Iterable[str],
) -> tuple[str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    content_type: str | None = None
    params: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    for line in lines:
        name, colon, value = line.partition(":")
        name = name.strip(" \t")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise CPIMParseError(f"invalid MIME header line {line!r}")
        value = value.strip(" \t")
        if name.lower() == "content-type":
            if content_type is not None:
                raise CPIMParseError("more than one Content-Type")
            content_type, params = _parse_content_type(value)
        else:
            others.append((name, value))
    return content_type or "text/plain", tuple(params), tuple(others)


def _parse_content_type(value: str) -> tuple[str, list[tuple[str, str]]]:
    media, _, rest = value.partition(";")
    media = media.strip(" \t")
    if not _MEDIA_TYPE_RE.fullmatch(media):
        raise CPIMParseError(f"invalid Content-Type {value!r}")
    params: list[tuple[str, str]] = []
    rest = rest.strip(" \t")
    while rest:
        name, equals, rest = rest.partition("=")
        name = name.strip(" \t")
        if not equals or not _TOKEN_RE.fullmatch(name):
            raise CPIMParseError(f"invalid Content-Type parameter in {value!r}")
        rest = rest.lstrip(" \t")
        if rest.startswith('"'):
            end = _scan_quoted(rest, 0)
            pvalue, rest = _unescape(rest[1 : end - 1]), rest[end:]
        else:
            end = rest.find(";")
            end = len(rest) if end < 0 else end
            pvalue, rest = rest[:end].strip(" \t"), rest[end:]
            if not _TOKEN_RE.fullmatch(pvalue):
                raise CPIMParseError(f"invalid Content-Type parameter value in {value!r}")
        params.append((name, pvalue))
        rest = rest.strip(" \t")
        if rest and not rest.startswith(";"):
            raise CPIMParseError(f"junk after a Content-Type parameter in {value!r}")
        rest = rest[1:].strip(" \t")
    return media.lower(), params
