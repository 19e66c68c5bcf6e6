"""Any URI a SIP message may carry, and the scheme-aware comparison."""

from __future__ import annotations

from typing import TypeAlias

from sipsimple.core.errors import SIPParseError
from sipsimple.core.teluri import AbsoluteURI, TelURI
from sipsimple.core.uri import SIPURI

__all__ = ["URI", "equivalent", "parse_uri"]

URI: TypeAlias = SIPURI | TelURI | AbsoluteURI


def parse_uri(text: str) -> URI:
    """A sip:/sips: URI as `SIPURI`, tel: as `TelURI`, anything else as `AbsoluteURI`."""
    if not isinstance(text, str):
        raise SIPParseError(f"a URI must be text, not {type(text).__name__}")
    scheme = text[:5].partition(":")[0].lower()
    if scheme in ("sip", "sips"):
        return SIPURI.parse(text)
    if scheme == "tel":
        return TelURI.parse(text)
    return AbsoluteURI.parse(text)


def equivalent(one: URI, two: URI) -> bool:
    """RFC 3261 19.1.4 (sip/sips), RFC 3966 (tel) or exact (other schemes) comparison."""
    return one.matches(two)
