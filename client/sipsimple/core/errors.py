"""The one exception type for SIP text that does not parse.

Every parser in `sipsimple.core` and in the signalling service's message
parser raises `SIPParseError` (a `ValueError`) and nothing else for bad input.
`status` is the response code a UAS should answer with (400, or 505 for an
unsupported SIP version); `partial` is set by the message parser to what it
could read of the message, so that a transaction layer can still answer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SIPParseError"]


class SIPParseError(ValueError):
    """Malformed SIP text: a URI, a header value or a whole message."""

    def __init__(self, message: str, *, status: int = 400, partial: Any = None) -> None:
        super().__init__(message)
        self.status = status
        # Typed as Any to keep this module free of message types; the
        # signalling parser stores a `PartialMessage` here.
        self.partial = partial
