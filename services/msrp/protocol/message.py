"""MSRP requests and responses as frozen values, and their serialization.

RFC 4975 section 9 (the ABNF) and section 7: a request is
``MSRP <transaction-id> <METHOD>``, its headers (To-Path and From-Path
first), optionally the content (MIME headers, Content-Type last, an empty
line, the body, CRLF) and the end-line ``-------<transaction-id><flag>``
whose flag is ``$`` (the message's last chunk), ``+`` (more chunks follow)
or ``#`` (the sender aborted the message). A response is
``MSRP <transaction-id> <code> [comment]``, its headers and the end-line;
it has no body.

Header values are strings in wire order (names in the RFC's spelling for
the headers it defines); the typed accessors parse them on demand with the
functions of `headers`. ``bytes(message)`` serializes; `make_response`
builds the hop-by-hop response of section 7.2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.headers import (
    CONTENT_HEADERS,
    ByteRange,
    FailureReport,
    Status,
    canonical_name,
    format_path,
    is_header_name,
    is_ident,
    parse_byte_range,
    parse_expires,
    parse_failure_report,
    parse_path,
    parse_status,
    parse_success_report,
    parse_use_nickname,
)
from sipsimple_services.msrp.protocol.uri import MSRPURI

__all__ = [
    "CONTINUATIONS",
    "METHODS",
    "REASONS",
    "MSRPRequest",
    "MSRPResponse",
    "contains_end_line",
    "end_line",
    "make_response",
]

METHODS = frozenset(("SEND", "REPORT", "AUTH", "NICKNAME"))  # RFC 4975, 4976, 7701
CONTINUATIONS = frozenset("$+#")
# RFC 4975 section 10, RFC 4976 section 8, RFC 7701 section 9.
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Message Too Large",
    415: "Unsupported Media Type",
    423: "Interval Out-of-Bounds",
    424: "Malformed Nickname",
    425: "Nickname Reserved or Already in Use",
    428: "Private Messages Not Supported",
    481: "Session Does Not Exist",
    501: "Method Not Implemented",
    506: "Session Already Bound",
}

Headers = tuple[tuple[str, str], ...]


def end_line(transaction_id: str, continuation: str) -> bytes:
    return b"-------" + transaction_id.encode("ascii") + continuation.encode("ascii") + b"\r\n"


_END_LINE_RE = re.compile(rb"\r\n-------([A-Za-z0-9.\-+%=]+)[$+#](?=\r\n|\Z)")


def contains_end_line(body: bytes | memoryview, transaction_id: str) -> bool:
    """Whether the parser would end `body` early: it holds CRLF, the dashes, this
    transaction id and a flag, then CRLF or its end (the framing CRLF follows)."""
    wanted = transaction_id.encode()
    # The common case, fast: the bytes a chunk is a view of (a file's read piece, a
    # message) do not hold CRLF, the dashes and the id at all; `bytes.find` tells
    # several times faster than a regex scan of the view (a sixth of a file
    # transfer's time went there).
    whole = body.obj if isinstance(body, memoryview) else body
    if isinstance(whole, bytes) and whole.find(b"\r\n-------" + wanted) < 0:
        return False
    # One pattern for every transaction id, compiled once; it reads the view in place.
    return any(match.group(1) == wanted for match in _END_LINE_RE.finditer(body))


class _Access:
    """Typed accessors over an ordered ``headers`` tuple of (name, value)."""

    headers: Headers

    @cached_property
    def _first_values(self) -> dict[str, str]:
        # Built once per message (the accessors ask for several headers).
        first: dict[str, str] = {}
        for header_name, value in self.headers:
            first.setdefault(header_name.lower(), value)
        return first

    def header(self, name: str) -> str | None:
        """The first value of this header (any case), or None."""
        return self._first_values.get(name.lower())

    def headers_named(self, name: str) -> list[str]:
        key = name.lower()
        return [value for header_name, value in self.headers if header_name.lower() == key]

    def _path(self, name: str) -> tuple[MSRPURI, ...]:
        value = self.header(name)
        return () if value is None else parse_path(value)

    @property
    def to_path(self) -> tuple[MSRPURI, ...]:
        return self._path("To-Path")

    @property
    def from_path(self) -> tuple[MSRPURI, ...]:
        return self._path("From-Path")

    @property
    def use_path(self) -> tuple[MSRPURI, ...]:
        return self._path("Use-Path")

    @property
    def message_id(self) -> str | None:
        value = self.header("Message-ID")
        return None if value is None else value.strip()

    @property
    def byte_range(self) -> ByteRange | None:
        value = self.header("Byte-Range")
        return None if value is None else parse_byte_range(value)

    @property
    def success_report(self) -> bool:
        """Success-Report; absent means no (section 7.1.1)."""
        value = self.header("Success-Report")
        return False if value is None else parse_success_report(value)

    @property
    def failure_report(self) -> FailureReport:
        """Failure-Report; absent means yes (section 7.1.1)."""
        value = self.header("Failure-Report")
        return FailureReport.YES if value is None else parse_failure_report(value)

    @property
    def status(self) -> Status | None:
        value = self.header("Status")
        return None if value is None else parse_status(value)

    @property
    def content_type(self) -> str | None:
        value = self.header("Content-Type")
        return None if value is None else value.strip()

    @property
    def use_nickname(self) -> str | None:
        """The nickname of a NICKNAME request (RFC 7701), unquoted."""
        value = self.header("Use-Nickname")
        return None if value is None else parse_use_nickname(value)

    @property
    def expires(self) -> int | None:
        value = self.header("Expires")
        return None if value is None else parse_expires(value)


def _check_headers(headers: Headers) -> None:
    for name, value in headers:
        if not is_header_name(name):
            raise MSRPError(f"invalid header name {name!r}")
        if any(ch in value for ch in "\r\n"):
            raise MSRPError(f"CR or LF in the value of {name}")


def _write_headers(out: list[bytes], headers: Headers) -> None:
    """To-Path, From-Path first, content headers last, Content-Type the very last."""
    order = {"to-path": 0, "from-path": 1, "content-type": 4}

    def rank(item: tuple[str, str]) -> int:
        key = item[0].lower()
        return order.get(key, 3 if key in CONTENT_HEADERS else 2)

    # sorted is stable: within a rank, the given order stays.
    for name, value in sorted(headers, key=rank):
        out.append(f"{canonical_name(name)}: {value}\r\n".encode())


@dataclass(frozen=True)
class MSRPRequest(_Access):
    """A request: SEND, REPORT, AUTH or another method (answered 501 by the session).

    ``body`` is None when there is no content (no Content-Type, no empty
    line): an empty SEND (keep-alive, section 7.1.1), a REPORT, an AUTH.
    """

    transaction_id: str
    method: str
    headers: Headers
    body: bytes | None = None
    continuation: str = "$"

    def __post_init__(self) -> None:
        if not is_ident(self.transaction_id):
            raise MSRPError(f"invalid transaction id {self.transaction_id!r}")
        if not self.method.isalpha() or not self.method.isupper() or not self.method.isascii():
            raise MSRPError(f"invalid method {self.method!r}")
        if self.continuation not in CONTINUATIONS:
            raise MSRPError(f"invalid continuation flag {self.continuation!r}")
        _check_headers(self.headers)

    @classmethod
    def _parsed(cls, transaction_id: str, method: str, headers: Headers) -> MSRPRequest:
        """A request head the parser built and checked already: no second check."""
        request = object.__new__(cls)
        for name, value in (("transaction_id", transaction_id), ("method", method),
                            ("headers", headers), ("body", None), ("continuation", "$")):
            object.__setattr__(request, name, value)
        return request

    def with_headers(self, headers: Iterable[tuple[str, str]]) -> MSRPRequest:
        return MSRPRequest(self.transaction_id, self.method, tuple(headers), self.body,
                           self.continuation)

    def head_bytes(self) -> bytes:
        """Everything before the body (the empty line included when there is a body)."""
        out = [f"MSRP {self.transaction_id} {self.method}\r\n".encode()]
        _write_headers(out, self.headers)
        if self.body is not None:
            if self.content_type is None:
                raise MSRPError("a request with a body needs a Content-Type (RFC 4975 section 9)")
            out.append(b"\r\n")
        return b"".join(out)

    def tail_bytes(self) -> bytes:
        """The CRLF after a body, if any, and the end-line."""
        line = end_line(self.transaction_id, self.continuation)
        return b"\r\n" + line if self.body is not None else line

    def __bytes__(self) -> bytes:
        body = self.body if self.body is not None else b""
        if contains_end_line(body, self.transaction_id):
            # Section 7.1: the sender picks a transaction id absent from the body.
            raise MSRPError("the body contains the end-line of its transaction id")
        return self.head_bytes() + body + self.tail_bytes()


@dataclass(frozen=True)
class MSRPResponse(_Access):
    """A response (section 7.2); responses carry no body."""

    transaction_id: str
    code: int
    comment: str | None
    headers: Headers

    def __post_init__(self) -> None:
        if not is_ident(self.transaction_id):
            raise MSRPError(f"invalid transaction id {self.transaction_id!r}")
        if not 100 <= self.code <= 999:
            raise MSRPError(f"invalid status code {self.code}")
        if self.comment is not None and any(ch in self.comment for ch in "\r\n"):
            raise MSRPError("CR or LF in the comment")
        _check_headers(self.headers)

    def __bytes__(self) -> bytes:
        first = f"MSRP {self.transaction_id} {self.code:03d}"
        if self.comment is not None:
            first += f" {self.comment}"
        out = [first.encode() + b"\r\n"]
        _write_headers(out, self.headers)
        out.append(end_line(self.transaction_id, "$"))
        return b"".join(out)


def make_response(
    request: MSRPRequest,
    code: int,
    comment: str | None = None,
    *,
    local_uri: MSRPURI | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> MSRPResponse:
    """The response to `request` (section 7.2).

    To-Path is the first URI of the request's From-Path (the previous hop);
    From-Path is `local_uri`, by default the first URI of the request's
    To-Path (the receiver's own URI, as addressed).
    """
    from_path = request.from_path
    to_path = request.to_path if local_uri is None else (local_uri,)
    if not from_path or not to_path:
        raise MSRPError("the request lacks the To-Path or From-Path a response needs")
    own = to_path[0]
    return MSRPResponse(
        request.transaction_id,
        code,
        comment if comment is not None else REASONS.get(code),
        (("To-Path", format_path(from_path[:1])), ("From-Path", str(own)), *headers),
    )
