"""RFC 4975 header values: names, typed values, their parsing and formatting.

Header values stay strings in a message (`message.MSRPRequest.headers`);
the functions here give the typed value of each header RFC 4975 (and RFC
4976 for AUTH) defines, and `check_header` validates a value the way the
parser does before a request reaches the session (section 9, the ABNF):

- To-Path, From-Path, Use-Path: one or more MSRP URIs separated by spaces.
- Message-ID: an ident (4 to 32 characters).
- Byte-Range: ``start-end/total``, ``end`` and ``total`` may be ``*``.
- Success-Report ``yes|no``, Failure-Report ``yes|no|partial``.
- Status (in REPORT): ``namespace SP code [SP comment]``, namespace ``000``.
- Expires, Min-Expires, Max-Expires (RFC 4976): 1*DIGIT.
- Use-Nickname (RFC 7701, in NICKNAME): a quoted-string (RFC 4975's: ``\\``
  and ``\"`` the only escapes, no control characters but HTAB); a value that
  breaks it earns 424 (Malformed nickname).
- Content-Type: ``type/subtype *(;param)``; the other MIME headers
  (Content-ID, Content-Description, Content-Disposition, Content-*) are kept
  as text, and so are WWW-Authenticate, Authorization and Authentication-Info,
  whose digest syntax is RFC 4976's (the relay side's business).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.uri import MSRPURI, parse_uri

__all__ = [
    "CONTENT_HEADERS",
    "KNOWN_HEADERS",
    "ByteRange",
    "FailureReport",
    "Status",
    "canonical_name",
    "check_header",
    "format_path",
    "format_use_nickname",
    "is_ident",
    "parse_byte_range",
    "parse_expires",
    "parse_failure_report",
    "parse_path",
    "parse_status",
    "parse_success_report",
    "parse_use_nickname",
]

KNOWN_HEADERS = {
    name.lower(): name
    for name in (
        "To-Path", "From-Path", "Message-ID", "Success-Report", "Failure-Report",
        "Byte-Range", "Status", "Content-Type", "Content-ID", "Content-Description",
        "Content-Disposition", "Use-Path", "Expires", "Min-Expires", "Max-Expires",
        "WWW-Authenticate", "Authorization", "Authentication-Info", "Use-Nickname",
    )
}
# Headers of the content-stuff: the serializer writes them last, Content-Type
# the very last (RFC 4975 section 9: *(Other-Mime-header CRLF) Content-Type).
CONTENT_HEADERS = frozenset(("content-type", "content-id", "content-description",
                             "content-disposition"))

_IDENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-+%=]{3,31}")
_NAME_RE = re.compile(r"[A-Za-z0-9\-_.!%*+`'~]+")
_RANGE_RE = re.compile(r"([0-9]{1,18})-([0-9]{1,18}|\*)/([0-9]{1,18}|\*)")
_STATUS_RE = re.compile(r"([0-9]{3}) ([0-9]{3})(?: ([^\r\n]*))?")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
_TOKEN = r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+"
_CONTENT_TYPE_RE = re.compile(
    rf"{_TOKEN}/{_TOKEN}(?:\s*;\s*{_TOKEN}\s*=\s*(?:{_TOKEN}|\"(?:[^\"\\\r\n]|\\.)*\"))*\s*"
)


def canonical_name(name: str) -> str:
    """The RFC's spelling of a known header name, any other name unchanged."""
    return KNOWN_HEADERS.get(name.lower(), name)


def is_header_name(name: str) -> bool:
    return _NAME_RE.fullmatch(name) is not None


def is_ident(text: str) -> bool:
    """An RFC 4975 ident: transaction ids and Message-IDs (4-32 characters)."""
    return _IDENT_RE.fullmatch(text) is not None


@dataclass(frozen=True)
class ByteRange:
    """Byte-Range (section 7.1.1, 1-based, inclusive); None for ``*``."""

    start: int
    end: int | None
    total: int | None

    def __post_init__(self) -> None:
        if self.start < 1:
            raise MSRPParseError(f"Byte-Range start {self.start} below 1")
        if self.end is not None and self.end < self.start - 1:
            raise MSRPParseError(f"Byte-Range end {self.end} before its start {self.start}")
        if self.total is not None and self.end is not None and self.end > self.total:
            raise MSRPParseError(f"Byte-Range end {self.end} beyond the total {self.total}")

    def __str__(self) -> str:
        end = "*" if self.end is None else str(self.end)
        total = "*" if self.total is None else str(self.total)
        return f"{self.start}-{end}/{total}"


def parse_byte_range(text: str) -> ByteRange:
    match = _RANGE_RE.fullmatch(text.strip())
    if match is None:
        raise MSRPParseError(f"invalid Byte-Range {text!r}")
    start, end, total = match.groups()
    return ByteRange(
        int(start), None if end == "*" else int(end), None if total == "*" else int(total)
    )


class FailureReport(StrEnum):
    YES = "yes"
    NO = "no"
    PARTIAL = "partial"


def parse_failure_report(text: str) -> FailureReport:
    try:
        return FailureReport(text.strip().lower())
    except ValueError:
        raise MSRPParseError(f"invalid Failure-Report {text!r}") from None


def parse_success_report(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("yes", "no"):
        raise MSRPParseError(f"invalid Success-Report {text!r}")
    return value == "yes"


@dataclass(frozen=True)
class Status:
    """The Status header of a REPORT: ``000 200 OK``."""

    code: int
    comment: str | None = None
    namespace: int = 0

    def __str__(self) -> str:
        text = f"{self.namespace:03d} {self.code:03d}"
        return text if self.comment is None else f"{text} {self.comment}"


def parse_status(text: str) -> Status:
    match = _STATUS_RE.fullmatch(text.strip())
    if match is None:
        raise MSRPParseError(f"invalid Status {text!r}")
    namespace, code, comment = match.groups()
    return Status(int(code), comment, int(namespace))


def parse_path(text: str) -> tuple[MSRPURI, ...]:
    """To-Path, From-Path, Use-Path: 1*(URI) separated by whitespace."""
    # The paths of a session recur in every chunk: each short text is parsed
    # once (the values are immutable, so sharing them is safe; bounded cache).
    if len(text) <= 1024:
        return _cached_path(text)
    return _parse_path(text)


def _parse_path(text: str) -> tuple[MSRPURI, ...]:
    parts = text.split()
    if not parts:
        raise MSRPParseError("empty path")
    return tuple(parse_uri(part) for part in parts)


_cached_path = lru_cache(maxsize=1024)(_parse_path)


def format_path(path: tuple[MSRPURI, ...]) -> str:
    return " ".join(str(uri) for uri in path)


def parse_expires(text: str) -> int:
    """Expires, Min-Expires, Max-Expires (RFC 4976 section 5): seconds."""
    if not _DIGITS_RE.fullmatch(text.strip()):
        raise MSRPParseError(f"invalid expiry {text!r}")
    return int(text)


# qdtext: SP, HTAB, printable ASCII but DQUOTE and BACKSLASH, any non-ASCII
# character; qd-esc: BACKSLASH BACKSLASH or BACKSLASH DQUOTE (RFC 4975 section 9)
_QUOTED_RE = re.compile(r'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\U0010ffff]|\\[\\"])*)"')
_UNESCAPE_RE = re.compile(r'\\([\\"])')
MAX_NICKNAME = 256  # characters; a nickname is a short display name (RFC 8266)


def parse_use_nickname(text: str) -> str:
    """Use-Nickname (RFC 7701 section 9): the nickname, unquoted (may be empty)."""
    match = _QUOTED_RE.fullmatch(text.strip(" "))
    if match is None:
        raise MSRPParseError(f"invalid Use-Nickname {text[:80]!r}", status=424)
    nickname = _UNESCAPE_RE.sub(r"\1", match.group(1))
    if len(nickname) > MAX_NICKNAME:
        raise MSRPParseError(f"a nickname of {len(nickname)} characters", status=424)
    return nickname


def format_use_nickname(nickname: str) -> str:
    """The Use-Nickname value of `nickname`; MSRPParseError (424) if it cannot be one."""
    value = '"' + nickname.replace("\\", "\\\\").replace('"', '\\"') + '"'
    parse_use_nickname(value)  # control characters, length
    return value


def _check_message_id(text: str) -> None:
    if not is_ident(text.strip()):
        raise MSRPParseError(f"invalid Message-ID {text!r}")


def _check_content_type(text: str) -> None:
    if not _CONTENT_TYPE_RE.fullmatch(text.strip()):
        raise MSRPParseError(f"invalid Content-Type {text!r}")


_CHECKS: dict[str, Callable[[str], object]] = {
    "to-path": parse_path,
    "from-path": parse_path,
    "use-path": parse_path,
    "message-id": _check_message_id,
    "byte-range": parse_byte_range,
    "success-report": parse_success_report,
    "failure-report": parse_failure_report,
    "status": parse_status,
    "expires": parse_expires,
    "min-expires": parse_expires,
    "max-expires": parse_expires,
    "content-type": _check_content_type,
    "use-nickname": parse_use_nickname,
}


def check_header(name: str, value: str) -> None:
    """Raise `MSRPParseError` if a known header's value breaks its grammar."""
    if "\r" in value or "\n" in value or "\x00" in value:
        raise MSRPParseError(f"control character in the {name} header")
    check = _CHECKS.get(name.lower())
    if check is not None:
        check(value)
