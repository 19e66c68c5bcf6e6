"""Any URI a SIP message may carry, and the scheme-aware comparison."""

from __future__ import annotations

from typing import TypeAlias

from sipsimple.core.errors import SIPParseError
from sipsimple.core.teluri import AbsoluteURI, TelURI
from sipsimple.core.uri import SIPURI

__all__ = ["URI", "equivalent", "parse_uri"]

URI: TypeAlias = SIPURI | TelURI | AbsoluteURI


# A user agent sees the same few URIs again and again (its own contact and
# AOR in Request-URIs and To, its peers' in From and Contact). URI objects are
# immutable, so parse_uri shares them: text -> URI, valid ones only, short
# texts only, cleared when full so that memory stays bounded.
_CACHE: dict[str, URI] = {}
_CACHE_SIZE = 2048
_CACHE_MAX_LENGTH = 256


def parse_uri(text: str) -> URI:
    """A sip:/sips: URI as `SIPURI`, tel: as `TelURI`, anything else as `AbsoluteURI`."""
    if not isinstance(text, str):
        raise SIPParseError(f"a URI must be text, not {type(text).__name__}")
    uri = _CACHE.get(text)
    if uri is not None:
        return uri
    scheme = text[:5].partition(":")[0].lower()
    if scheme in ("sip", "sips"):
        uri = SIPURI.parse(text)
    elif scheme == "tel":
        uri = TelURI.parse(text)
    else:
        uri = AbsoluteURI.parse(text)
    if len(text) <= _CACHE_MAX_LENGTH:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[text] = uri
    return uri


def equivalent(one: URI, two: URI) -> bool:
    """RFC 3261 19.1.4 (sip/sips), RFC 3966 (tel) or exact (other schemes) comparison."""
    return one.matches(two)
