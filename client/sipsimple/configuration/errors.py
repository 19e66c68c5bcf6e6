"""Exceptions raised by the configuration framework and its backends."""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "ConfigurationParseError",
    "DuplicateIDError",
    "InvalidStoredValueError",
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


class InvalidStoredValueError(ConfigurationError):
    """A stored value does not validate; raised when its settings object is loaded.

    The message names the file (when the configuration is one), the settings
    object, the dotted key, the stored value and the problem. Nothing is
    dropped or rewritten: the user fixes the file (or sets the key anew).
    """

    def __init__(
        self, source: str | None, section: str, key: str, value: object, problem: str
    ) -> None:
        where = f"{source}: " if source else ""
        shown = "empty value" if value is None else f"value {value!r}"
        target = f"{key} (in {section})" if key else section
        super().__init__(f"{where}invalid {shown} for {target}: {problem}")
        self.source = source
        self.section = section
        self.key = key  # dotted, within the settings object; "" for the object itself
        self.value = value
        self.problem = problem
