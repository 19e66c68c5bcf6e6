"""Exceptions of the SDP package.

`SDPParseError` is the only exception the parser raises for bad input.
`SDPNegotiationError` is what the offer/answer helpers raise when an offer or
an answer cannot be used; `status` is the SIP response a UAS should send for
an offer (488 unless said otherwise) and `warning` the text of an optional
`Warning: 399` header.
"""

from __future__ import annotations

__all__ = ["SDPNegotiationError", "SDPParseError"]


class SDPParseError(ValueError):
    """Text that is not a session description (RFC 8866)."""


class SDPNegotiationError(ValueError):
    """An offer or an answer that breaks RFC 3264; answer an offer with `status`."""

    def __init__(self, message: str, *, status: int = 488, warning: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.warning = warning
