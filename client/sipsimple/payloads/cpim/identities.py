"""The parties of a message: `ChatIdentity` and its CPIM form `CPIMIdentity`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sipsimple.core.anyuri import URI, parse_uri
from sipsimple.core.errors import SIPParseError
from sipsimple.payloads.cpim.escapes import _check_value, _quote, _scan_quoted, _unescape
from sipsimple.payloads.cpim.syntax import _BAD_URI_RE, CPIMParseError
from sipsimple.payloads.errors import BuilderError


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
