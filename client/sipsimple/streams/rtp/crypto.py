"""SDES: the RFC 4568 `a=crypto` attribute, key generation and the choice of a line.

Only what the media service can run is usable: the suites
AES_CM_128_HMAC_SHA1_80 and _32, one `inline:` key (30 bytes of master key
and salt), an optional lifetime (accepted and ignored: calls never reach
2^31 packets) and the session parameters that change nothing for us
(`KDR=0`, `WSH=`). An MKI, a second key, another suite or a session
parameter that changes the transform (`UNENCRYPTED_SRTP`, ...) makes the
line unusable: `CryptoAttributeError`, and negotiation skips the line, as
RFC 4568 7.1.2 has the answerer do.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "KEY_LENGTH",
    "MAX_TAG",
    "SUPPORTED_SUITES",
    "CryptoAttribute",
    "CryptoAttributeError",
    "generate_key",
    "offer_attributes",
    "usable_attributes",
]

SUPPORTED_SUITES: tuple[str, ...] = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
KEY_LENGTH = 30  # 128-bit master key || 112-bit master salt
MAX_TAG = 999_999_999  # 1*9DIGIT

_TAG = re.compile(r"[0-9]{1,9}")
_SUITE = re.compile(r"[A-Za-z0-9_]+")
_LIFETIME = re.compile(r"(?:2\^([0-9]{1,2})|([0-9]{1,20}))")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_HARMLESS_PARAMETER = re.compile(r"(?:KDR=0|WSH=[0-9]{1,10})")


class CryptoAttributeError(ValueError):
    """An `a=crypto` value that is malformed or that we cannot use."""


def generate_key() -> bytes:
    """A new master key and salt from the system's CSPRNG."""
    return os.urandom(KEY_LENGTH)


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    tag: int
    suite: str
    key: bytes = field(repr=False)  # master key || master salt; kept out of logs
    lifetime: int | None = None  # in packets, as offered
    session_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.tag, bool) or not isinstance(self.tag, int):
            raise CryptoAttributeError(f"a crypto tag is an integer, not {self.tag!r}")
        if not 0 <= self.tag <= MAX_TAG:
            raise CryptoAttributeError(f"crypto tag out of range: {self.tag}")
        if self.suite not in SUPPORTED_SUITES:
            raise CryptoAttributeError(f"unsupported crypto suite: {self.suite!r}")
        if not isinstance(self.key, bytes) or len(self.key) != KEY_LENGTH:
            raise CryptoAttributeError(f"an SRTP key and salt are {KEY_LENGTH} bytes")
        object.__setattr__(self, "session_parameters", tuple(self.session_parameters))
        for parameter in self.session_parameters:
            if not isinstance(parameter, str) or not _HARMLESS_PARAMETER.fullmatch(parameter):
                raise CryptoAttributeError(f"unsupported session parameter: {parameter!r}")

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """The value of an `a=crypto:` line (without the `crypto:` name)."""
        if not isinstance(value, str):
            raise CryptoAttributeError("a crypto attribute is text")
        fields = value.split()
        if len(fields) < 3:
            raise CryptoAttributeError(f"a crypto attribute needs tag, suite and key: {value!r}")
        tag, suite, key_parameters, *session_parameters = fields
        if not _TAG.fullmatch(tag):
            raise CryptoAttributeError(f"invalid crypto tag: {tag!r}")
        if not _SUITE.fullmatch(suite):
            raise CryptoAttributeError(f"invalid crypto suite: {suite!r}")
        if suite not in SUPPORTED_SUITES:
            raise CryptoAttributeError(f"unsupported crypto suite: {suite!r}")
        if ";" in key_parameters:
            raise CryptoAttributeError("several keys in one attribute (MKI) are not supported")
        method, _, info = key_parameters.partition(":")
        if method.lower() != "inline":
            raise CryptoAttributeError(f"unsupported key method: {method!r}")
        key_salt, *extras = info.split("|")
        key = _decode_key(key_salt)
        lifetime = None
        if extras and ":" not in extras[0]:
            lifetime = _parse_lifetime(extras.pop(0))
        if extras:
            raise CryptoAttributeError("a master key identifier (MKI) is not supported")
        return cls(int(tag), suite, key, lifetime, tuple(session_parameters))

    def __str__(self) -> str:
        key = base64.b64encode(self.key).decode("ascii")
        lifetime = "" if self.lifetime is None else f"|{self.lifetime}"
        parameters = "".join(f" {p}" for p in self.session_parameters)
        return f"{self.tag} {self.suite} inline:{key}{lifetime}{parameters}"


def _decode_key(text: str) -> bytes:
    if not _BASE64.fullmatch(text):
        raise CryptoAttributeError("the key is not base64")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CryptoAttributeError(f"the key is not base64: {exc}") from exc
    if len(key) != KEY_LENGTH:
        raise CryptoAttributeError(f"the key and salt are {len(key)} bytes, not {KEY_LENGTH}")
    return key


def _parse_lifetime(text: str) -> int:
    match = _LIFETIME.fullmatch(text)
    if match is None:
        raise CryptoAttributeError(f"invalid key lifetime: {text!r}")
    lifetime = 2 ** int(match.group(1)) if match.group(1) is not None else int(match.group(2))
    if not 0 < lifetime <= 2**48:  # RFC 3711: at most 2^48 SRTP packets per key
        raise CryptoAttributeError(f"invalid key lifetime: {text!r}")
    return lifetime


def usable_attributes(values: Iterable[str]) -> list[CryptoAttribute]:
    """The `a=crypto` values we can use, in the order given; the others are skipped."""
    usable = []
    for value in values:
        try:
            usable.append(CryptoAttribute.parse(value))
        except CryptoAttributeError:
            continue
    return usable


def offer_attributes(
    suites: Iterable[str] = SUPPORTED_SUITES, keep: CryptoAttribute | None = None
) -> list[CryptoAttribute]:
    """The lines of an offer, tags from 1, each with a fresh key.

    `keep` (the line negotiated before) keeps its tag and key when its suite
    is offered again, so that a re-offer that changes nothing about SRTP
    does not make the peer re-key.
    """
    attributes = []
    for tag, suite in enumerate(suites, 1):
        if keep is not None and keep.suite == suite:
            attributes.append(CryptoAttribute(tag, suite, keep.key))
        else:
            attributes.append(CryptoAttribute(tag, suite, generate_key()))
    return attributes
