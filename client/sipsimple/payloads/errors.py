"""Exception types shared by the payload modules.

`ParserError` (a `ValueError`) is raised for bytes that do not parse; each
format subclasses it (`CPIMParseError`, `IMDNParseError`...) so that a caller
can catch one format's errors or all of them. `BuilderError` is raised when a
value cannot be encoded (for example a header value holding a NUL).
"""

from __future__ import annotations

__all__ = ["BuilderError", "ParserError", "PayloadError"]


class PayloadError(ValueError):
    """Base of every payload error."""


class ParserError(PayloadError):
    """Input that is not a valid document of the expected format."""


class BuilderError(PayloadError):
    """A value that cannot be encoded in the expected format."""
