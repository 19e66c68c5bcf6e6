"""The one exception type of the MSRP core, and what it tells the caller."""

from __future__ import annotations

__all__ = ["MSRPError", "MSRPParseError"]


class MSRPError(Exception):
    """An invalid call on the MSRP core (a programming error, not bad input)."""


class MSRPParseError(ValueError):
    """Bytes, a header value or a URI that break RFC 4975's grammar or a limit.

    ``status`` is the response code that a request with this problem earns
    (400 malformed, 413 too large; RFC 4975 section 10); ``transaction_id`` is
    the transaction it belongs to when that much could be read, so that the
    request can still be answered.
    """

    def __init__(
        self, message: str, *, status: int = 400, transaction_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transaction_id = transaction_id
