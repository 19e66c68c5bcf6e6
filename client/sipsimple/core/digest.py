"""Digest computation (RFC 2617, RFC 7616, RFC 8760), pure: what SIP and MSRP (RFC 4976) share.

The signalling service's `AuthSession` (SIP) and the msrp service's relay
client (AUTH) both answer Digest challenges; services never import one
another, so the algorithms and the ``response`` formula live here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["ALGORITHMS", "Algorithm", "digest_response"]


@dataclass(frozen=True)
class Algorithm:
    """A Digest algorithm: ``hash_name`` for hashlib, ``session`` for ``-sess``."""

    name: str
    hash_name: str
    session: bool
    strength: int

    def hash(self, text: str) -> str:
        return hashlib.new(self.hash_name, text.encode("utf-8")).hexdigest()

    def hash_bytes(self, data: bytes) -> str:
        return hashlib.new(self.hash_name, data).hexdigest()


def _algorithms() -> dict[str, Algorithm]:
    table: dict[str, Algorithm] = {}
    for name, hash_name, strength in (
        ("MD5", "md5", 1),
        ("SHA-256", "sha256", 2),
        ("SHA-512-256", "sha512_256", 3),
    ):
        try:
            hashlib.new(hash_name)
        except ValueError:  # OpenSSL builds without SHA-512/256
            continue
        table[name] = Algorithm(name, hash_name, False, strength)
        table[f"{name}-SESS"] = Algorithm(f"{name}-sess", hash_name, True, strength)
    return table


ALGORITHMS: dict[str, Algorithm] = _algorithms()
"""Supported algorithms by upper-case name."""


def digest_response(
    algorithm: Algorithm,
    *,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: int = 0,
    cnonce: str = "",
    qop: str | None = None,
    body: bytes = b"",
    ha1: str | None = None,
) -> str:
    """The ``response`` value (RFC 7616 section 3.4.1; RFC 2069 when ``qop`` is None).

    ``ha1`` short-circuits the A1 hash (the cached session key of ``-sess``).
    """
    h = algorithm.hash
    if ha1 is None:
        ha1 = h(f"{username}:{realm}:{password}")
        if algorithm.session:
            ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 = f"{a2}:{algorithm.hash_bytes(body)}"
    ha2 = h(a2)
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")
