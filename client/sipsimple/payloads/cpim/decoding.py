"""Reading a CPIM message: the header blocks, the message headers and the MIME
headers of the wrapped object. `CPIMMessage.decode` builds the message from
what these return.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sipsimple.payloads.cpim.escapes import _scan_quoted, _unescape
from sipsimple.payloads.cpim.headers import CPIMHeader, CPIMNamespace, MultilingualText
from sipsimple.payloads.cpim.identities import CPIMIdentity
from sipsimple.payloads.cpim.syntax import (
    _BAD_URI_RE,
    _HEADER_NAME_RE,
    _LANG_RE,
    _MEDIA_TYPE_RE,
    _NAME_RE,
    _TOKEN_RE,
    CPIM_NAMESPACE,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    CPIMParseError,
)
from sipsimple.payloads.timestamps import parse_datetime


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
