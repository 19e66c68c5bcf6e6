"""application/im-iscomposing+xml (RFC 3994): composing indications.

``<isComposing>`` holds `state` ("active" or "idle"; RFC 3994 section 4 lets a
receiver see other values, kept as written), and optionally `lastactive` (a
date-time), `contenttype` (the type being composed) and `refresh` (seconds
before an active state reverts to idle, positive).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime

from sipsimple.payloads.errors import BuilderError
from sipsimple.payloads.timestamps import format_datetime, parse_datetime
from sipsimple.payloads.xml import (
    MAX_XML_SIZE,
    XMLParseError,
    check_text,
    child_text,
    parse_xml,
    serialize,
    sub,
)

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "IsComposingDocument",
    "IsComposingMessage",
    "IsComposingParseError",
]

CONTENT_TYPE = "application/im-iscomposing+xml"
NAMESPACE = "urn:ietf:params:xml:ns:im-iscomposing"


class IsComposingParseError(XMLParseError):
    """A body that is not an is-composing document."""


@dataclass(frozen=True)
class IsComposingMessage:
    """One composing indication."""

    state: str
    last_active: datetime | None = None
    content_type: str | None = None
    refresh: int | None = None

    @property
    def is_active(self) -> bool:
        # RFC 3994 section 4: anything but "active" is treated as idle.
        return self.state == "active"

    def encode(self) -> bytes:
        root = ET.Element(f"{{{NAMESPACE}}}isComposing")
        state = check_text(self.state, "state")
        if not state or state != state.strip():
            raise BuilderError(f"invalid state {state!r}")
        sub(root, NAMESPACE, "state", state)
        if self.last_active is not None:
            sub(root, NAMESPACE, "lastactive", format_datetime(self.last_active))
        if self.content_type is not None:
            content_type = check_text(self.content_type, "content type")
            if not content_type or content_type != content_type.strip():
                raise BuilderError(f"invalid content type {content_type!r}")
            sub(root, NAMESPACE, "contenttype", content_type)
        if self.refresh is not None:
            refresh = self.refresh
            if isinstance(refresh, bool) or not isinstance(refresh, int) or refresh < 1:
                raise BuilderError(f"refresh must be a positive integer, not {self.refresh!r}")
            sub(root, NAMESPACE, "refresh", str(self.refresh))
        return serialize(root, NAMESPACE)

    @classmethod
    def parse(cls, data: bytes | str, *, max_size: int = MAX_XML_SIZE) -> IsComposingMessage:
        error = IsComposingParseError
        root = parse_xml(data, error=error, max_size=max_size)
        if root.tag != f"{{{NAMESPACE}}}isComposing":
            raise error(f"root element is {root.tag!r}, not isComposing")
        state = child_text(root, NAMESPACE, "state")
        if state is None or not state.strip():
            raise error("isComposing without a state")
        last_active = None
        text = child_text(root, NAMESPACE, "lastactive")
        if text is not None:
            last_active = parse_datetime(text, naive_is_utc=True)
            if last_active is None:
                raise error(f"invalid lastactive {text!r}")
        content_type = child_text(root, NAMESPACE, "contenttype")
        if content_type is not None:
            content_type = content_type.strip() or None
        refresh = None
        text = child_text(root, NAMESPACE, "refresh")
        if text is not None:
            text = text.strip()
            if not text.isascii() or not text.isdigit() or int(text) < 1 or len(text) > 9:
                raise error(f"invalid refresh {text!r}")
            refresh = int(text)
        return cls(state.strip(), last_active, content_type, refresh)


# The original SDK's name for the document class.
IsComposingDocument = IsComposingMessage
