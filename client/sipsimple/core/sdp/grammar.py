"""Lexical checks of RFC 8866 section 9, shared by the model and the parser.

Each check raises `ValueError` with a short message; the frozen model runs
them on construction, so that whatever can be frozen can be serialized and
parsed back. Only linear scans: no input can make them slow.
"""

from __future__ import annotations

__all__ = [
    "DIRECTIONS",
    "TOKEN_CHARS",
    "check_address",
    "check_int",
    "check_nonws",
    "check_text",
    "check_token",
    "check_transport",
    "is_token",
]

# RFC 8866 token-char: visible ASCII except the separators it leaves out.
TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`{|}~0123456789"
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# byte-string of RFC 8866 excludes only NUL, CR and LF.
_FORBIDDEN_IN_TEXT = ("\x00", "\r", "\n")


def is_token(text: str) -> bool:
    return bool(text) and all(c in TOKEN_CHARS for c in text)


def check_token(what: str, value: object) -> str:
    if not isinstance(value, str) or not is_token(value):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def check_transport(value: object) -> str:
    # proto = token *("/" token), e.g. RTP/SAVPF or TCP/TLS/MSRP.
    if not isinstance(value, str) or not all(is_token(p) for p in value.split("/")):
        raise ValueError(f"invalid transport: {value!r}")
    return value


def check_nonws(what: str, value: object) -> str:
    """A non-ws-string: visible characters (UTF-8 allowed), no space."""
    if (
        not isinstance(value, str)
        or not value
        or any(c <= " " or c == "\x7f" for c in value)
    ):
        raise ValueError(f"invalid {what}: {value!r}")
    return value


def check_address(value: object) -> str:
    # Addresses stay opaque (FQDN, IPv4, IPv6, multicast with /ttl/count):
    # the model only guarantees that they serialize as one field.
    return check_nonws("address", value)


def check_text(what: str, value: object, *, empty: bool = True) -> str:
    if not isinstance(value, str) or any(c in value for c in _FORBIDDEN_IN_TEXT):
        raise ValueError(f"invalid {what}: {value!r}")
    if not empty and not value:
        raise ValueError(f"empty {what}")
    return value


def check_int(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"invalid {what}: {value!r}")
    return value
