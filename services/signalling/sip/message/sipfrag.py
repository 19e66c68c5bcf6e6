"""message/sipfrag bodies (RFC 3420) as the refer package uses them (RFC 3515 2.4.5).

Only the status-line form is built and read: ``SIP/2.0 200 OK`` and
optionally header lines after it (ignored when parsing). Parsing returns a
`SipFrag` or raises `SipFragError`; nothing else escapes for any input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CONTENT_TYPE", "SipFrag", "SipFragError", "build_sipfrag", "parse_sipfrag"]

CONTENT_TYPE = "message/sipfrag;version=2.0"

# RFC 3261 25.1 Status-Line: the reason phrase is any text without CR/LF; we
# also refuse other control characters, which no real phrase carries.
_STATUS_RE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2}) ([^\x00-\x08\x0a-\x1f\x7f]*)")
MAX_SIZE = 8192  # a status line and a few headers; a bigger body is no progress report


class SipFragError(ValueError):
    """The body is no message/sipfrag status line."""


@dataclass(frozen=True)
class SipFrag:
    code: int
    reason: str


def build_sipfrag(code: int, reason: str) -> bytes:
    """The body ``SIP/2.0 <code> <reason>`` (CRLF-terminated)."""
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 699:
        raise SipFragError(f"status code {code!r} is not in 100..699")
    if not _STATUS_RE.fullmatch(f"SIP/2.0 {code} {reason}"):
        raise SipFragError(f"invalid reason phrase {reason!r}")
    return f"SIP/2.0 {code} {reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> SipFrag:
    """The status line of a sipfrag body; header lines after it are not read."""
    if not isinstance(body, bytes | bytearray):
        raise SipFragError("a sipfrag body is bytes")
    if len(body) > MAX_SIZE:
        raise SipFragError("sipfrag body too large")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise SipFragError("sipfrag body is not UTF-8") from None
    line = text.split("\r\n", 1)[0].split("\n", 1)[0]
    match = _STATUS_RE.fullmatch(line)
    if match is None:
        raise SipFragError(f"no SIP status line in sipfrag body: {line[:80]!r}")
    return SipFrag(int(match.group(1)), match.group(2).strip(" \t"))
