"""`CPIMMessage`: the headers of RFC 3862 and the wrapped MIME object, and its encoding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sipsimple.payloads.cpim.decoding import (
    _check_bytes,
    _parse_message_headers,
    _parse_mime_headers,
    _read_block,
)
from sipsimple.payloads.cpim.escapes import _check_value, _escape, _quote
from sipsimple.payloads.cpim.headers import CPIMHeader, CPIMNamespace, MultilingualText
from sipsimple.payloads.cpim.identities import ChatIdentity, CPIMIdentity
from sipsimple.payloads.cpim.syntax import (
    _BAD_URI_RE,
    _CONTROL_RE,
    _HEADER_NAME_RE,
    _LANG_RE,
    _MEDIA_TYPE_RE,
    _NAME_RE,
    _TOKEN_RE,
    CPIM_CONTENT_TYPE,
    CPIM_NAMESPACE,
    MAX_CPIM_SIZE,
    CPIMParseError,
)
from sipsimple.payloads.errors import BuilderError
from sipsimple.payloads.timestamps import format_datetime

_STANDARD = {"from", "to", "cc", "datetime", "subject", "ns", "require"}


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
