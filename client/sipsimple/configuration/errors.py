"""Exceptions raised by the configuration framework and its backends."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConfigurationParseError",
    "DuplicateIDError",
    "InvalidValueError",
    "ObjectNotFoundError",
    "UnknownSettingError",
]


class ConfigurationError(Exception):
    """Base class: the configuration cannot be read, written or used."""


class ConfigurationParseError(ConfigurationError):
    """A configuration file is not valid; names the file, the line and the problem."""

    def __init__(self, filename: str, line: int, problem: str) -> None:
        super().__init__(f"{filename}, line {line}: {problem}")
        self.filename = filename
        self.line = line
        self.problem = problem


class ObjectNotFoundError(ConfigurationError, LookupError):
    """No configuration data is stored under the requested key."""


class DuplicateIDError(ConfigurationError):
    """A settings object with this id already exists as a different class."""


class UnknownSettingError(ConfigurationError, LookupError):
    """A dotted setting key names no setting."""


class InvalidValueError(ConfigurationError, ValueError):
    """A value given as text cannot be converted to the setting's type."""
