"""sipsimple.payloads.cpim.syntax: the CPIM parse error."""

from __future__ import annotations

from sipsimple.payloads import ParserError
from sipsimple.payloads.cpim import CPIMParseError


def test_errors_are_parser_errors() -> None:
    assert issubclass(CPIMParseError, ParserError)
    assert issubclass(CPIMParseError, ValueError)
