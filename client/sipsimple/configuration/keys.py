"""Get and set settings by dotted key, with values as text (for CLIs and tools)."""

from __future__ import annotations

import difflib
from typing import Any

from .datatypes import State, value_from_string, value_to_json, value_to_string
from .datatypes.base import JSONValue
from .errors import InvalidValueError, UnknownSettingError
from .framework import Setting, SettingsObject, iter_schema

__all__ = [
    "format_setting_value",
    "get_setting",
    "get_setting_string",
    "parse_setting_value",
    "reset_setting",
    "resolve_setting",
    "set_setting",
    "set_setting_string",
    "setting_items",
    "setting_json",
    "setting_keys",
    "setting_states",
]


def setting_keys(obj: SettingsObject, include_runtime: bool = False) -> list[str]:
    return [key for key, setting in iter_schema(type(obj)) if include_runtime or setting.persistent]


def resolve_setting(obj: SettingsObject, key: str) -> tuple[Any, Setting]:
    """(object or bound group holding the setting, the Setting); UnknownSettingError."""
    schema = dict(iter_schema(type(obj)))
    setting = schema.get(key)
    if setting is None:
        inside = sorted(k for k in schema if k.startswith(key + "."))
        if inside:
            hint = f"; {key!r} is a group, its settings are: {', '.join(inside)}"
        else:
            close = difflib.get_close_matches(key, list(schema), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise UnknownSettingError(f"unknown setting {key!r}{hint}")
    container: Any = obj
    for part in key.split(".")[:-1]:
        container = getattr(container, part)
    return container, setting


def get_setting(obj: SettingsObject, key: str) -> Any:
    container, setting = resolve_setting(obj, key)
    return getattr(container, setting.name)


def set_setting(obj: SettingsObject, key: str, value: Any) -> None:
    """Assign a Python value; TypeError / ValueError as for attribute assignment."""
    container, setting = resolve_setting(obj, key)
    setattr(container, setting.name, value)


def reset_setting(obj: SettingsObject, key: str) -> None:
    """Return a setting to its default (the stored value goes at the next save)."""
    container, setting = resolve_setting(obj, key)
    delattr(container, setting.name)


def parse_setting_value(setting: Setting, text: str) -> Any:
    """Text to value: empty text means None for a nillable setting."""
    if text == "" and setting.nillable:
        return None
    return setting.validate(value_from_string(setting.type, text))


def format_setting_value(setting: Setting, value: Any) -> str:
    return "" if value is None else value_to_string(setting.type, value)


def get_setting_string(obj: SettingsObject, key: str) -> str:
    container, setting = resolve_setting(obj, key)
    return format_setting_value(setting, getattr(container, setting.name))


def set_setting_string(obj: SettingsObject, key: str, text: str) -> None:
    """Set from text, e.g. ``set_setting_string(settings, "sip.invite_timeout", "60")``.

    Raises UnknownSettingError for an unknown key and InvalidValueError (a
    ValueError) naming the key when the text is not a valid value.
    """
    container, setting = resolve_setting(obj, key)
    try:
        value = parse_setting_value(setting, text)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"invalid value {text!r} for {key}: {exc}") from None
    setattr(container, setting.name, value)


def setting_items(obj: SettingsObject) -> list[tuple[str, Setting, Any]]:
    """(dotted key, setting, current value) for every persistent setting."""
    items = []
    for key, setting in iter_schema(type(obj)):
        if setting.persistent:
            items.append((key, setting, get_setting(obj, key)))
    return items


def setting_json(setting: Setting, value: Any) -> JSONValue:
    """A value as JSON-native data: numbers, booleans, lists and null stay typed."""
    return value_to_json(setting.type, value)


def setting_states(obj: SettingsObject) -> dict[str, State | None]:
    """Dotted key -> stored form (str, list of str or None); JSON-friendly."""
    return {key: setting.to_state(value) for key, setting, value in setting_items(obj)}
