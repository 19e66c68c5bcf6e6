"""The configuration framework: typed settings persisted through a backend.

- ``ConfigurationManager``: singleton holding the settings tree; ``start(backend)``.
- ``Setting`` / ``RuntimeSetting`` descriptors, nested ``SettingsGroup`` classes,
  ``SettingsObject`` (``save()``, ``delete()``, change notifications).
- ``sipsimple.configuration.datatypes``: value types.
- ``sipsimple.configuration.backend``: ``FileBackend``, ``MemoryBackend``.
- ``sipsimple.configuration.settings``: ``SIPSimpleSettings``.
- ``sipsimple.configuration.account``: ``AccountSettings``.
- ``sipsimple.configuration.keys``: get/set by dotted key with text values.

Notifications (sender: the settings object): ``CFGSettingsObjectWasCreated`` on
the first save, ``CFGSettingsObjectDidChange`` with ``modified`` (dotted key ->
``ModifiedValue(old, new)``) on later saves, ``CFGSettingsObjectWasDeleted``.
"""

from __future__ import annotations

from .errors import (
    ConfigurationError,
    ConfigurationParseError,
    DuplicateIDError,
    InvalidStoredValueError,
    InvalidValueError,
    ObjectNotFoundError,
    UnknownSettingError,
)
from .framework import (
    ModifiedValue,
    RuntimeSetting,
    Setting,
    SettingsGroup,
    SettingsObject,
    iter_schema,
)
from .manager import ConfigurationManager

__all__ = [
    "ConfigurationError",
    "ConfigurationManager",
    "ConfigurationParseError",
    "DuplicateIDError",
    "InvalidStoredValueError",
    "InvalidValueError",
    "ModifiedValue",
    "ObjectNotFoundError",
    "RuntimeSetting",
    "Setting",
    "SettingsGroup",
    "SettingsObject",
    "UnknownSettingError",
    "iter_schema",
]
