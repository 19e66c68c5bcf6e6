"""How setting values convert: Python assignment, stored state and command-line text.

A setting's type is ``bool``, ``int``, ``str`` or a class implementing
``SettingType``. Three conversions exist and are kept apart on purpose:

- ``coerce(value)``: attribute assignment. Strict: only Python values of the
  right kind (``"60"`` is not accepted for an integer setting; ``True`` is not
  an integer). One exception: a list of values that are not strings (e.g.
  nameserver addresses) also takes its items as text, ``["127.0.0.1:5353"]``.
- ``from_state(state)`` / ``to_state()``: what the backend stores, a ``str``
  or, for list types, a ``list[str]``.
- ``from_string(text)`` / ``str(value)``: what a user types and reads.

``value_to_json`` gives the value as JSON-native data (numbers, booleans,
lists, null; text for everything else), for ``--json`` output.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

__all__ = [
    "ChoiceValue",
    "IntValue",
    "ListValue",
    "SettingType",
    "State",
    "StrValue",
    "coerce_value",
    "value_from_state",
    "value_from_string",
    "value_to_json",
    "value_to_state",
    "value_to_string",
]

JSONValue = bool | int | str | list["JSONValue"] | None
State = str | list[str]


@runtime_checkable
class SettingType(Protocol):
    @classmethod
    def coerce(cls, value: object) -> Self: ...

    @classmethod
    def from_state(cls, state: State) -> Self: ...

    def to_state(self) -> State: ...

    @classmethod
    def from_string(cls, text: str) -> Self: ...


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false, yes/no, on/off, 1/0), got {text!r}")


def _parse_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _state_text(state: object) -> str:
    if not isinstance(state, str):
        raise TypeError(f"expected a single value, got {type(state).__name__}")
    return state


def coerce_value(type_: type, value: object) -> Any:
    """Validate a Python value assigned to a setting of type_."""
    if type_ is bool:
        if not isinstance(value, bool):
            raise TypeError(f"expected bool, got {type(value).__name__}")
        return value
    if type_ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"expected int, got {type(value).__name__}")
        return int(value)
    if type_ is str:
        if not isinstance(value, str):
            raise TypeError(f"expected str, got {type(value).__name__}")
        return str(value)
    if isinstance(value, type_):
        return value
    if not issubclass(type_, SettingType):
        raise TypeError(f"{type_.__name__} is not a setting type")
    return type_.coerce(value)


def value_from_string(type_: type, text: str) -> Any:
    """Parse user-typed text into a value of type_."""
    if type_ is bool:
        return _parse_bool(text)
    if type_ is int:
        return _parse_int(text)
    if type_ is str:
        return text
    return type_.from_string(text)  # type: ignore[attr-defined]


def value_from_state(type_: type, state: State) -> Any:
    """Rebuild a value of type_ from what the backend stored."""
    if type_ in (bool, int, str):
        return value_from_string(type_, _state_text(state))
    return type_.from_state(state)  # type: ignore[attr-defined]


def value_to_state(type_: type, value: Any) -> State:
    if type_ is bool:
        return "true" if value else "false"
    if type_ in (int, str):
        return str(value)
    state: State = value.to_state()
    return state


def value_to_string(type_: type, value: Any) -> str:
    if type_ is bool:
        return "true" if value else "false"
    return str(value)


def value_to_json(type_: type, value: Any) -> JSONValue:
    """value as JSON-native data; types without a JSON counterpart give their text."""
    if value is None:
        return None
    if type_ is bool:
        return bool(value)
    if issubclass(type_, int):
        return int(value)
    if issubclass(type_, ListValue):
        return [value_to_json(type_.item_type, item) for item in value]
    return value_to_string(type_, value)


def _takes_text_items(item_type: type) -> bool:
    # Items whose values are not strings themselves (addresses, port ranges):
    # their text form is unambiguous. str and int item types keep strict coercion.
    return not issubclass(item_type, str | int) and issubclass(item_type, SettingType)


class IntValue(int):
    """An int restricted to [minimum, maximum]; subclasses set the bounds."""

    minimum: ClassVar[int | None] = None
    maximum: ClassVar[int | None] = None

    def __new__(cls, value: int) -> Self:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{cls.__name__} expects an int, got {type(value).__name__}")
        cls.check(int(value))
        return super().__new__(cls, value)

    @classmethod
    def check(cls, value: int) -> None:
        if cls.minimum is not None and value < cls.minimum:
            raise ValueError(f"{cls.__name__} must be at least {cls.minimum}, got {value}")
        if cls.maximum is not None and value > cls.maximum:
            raise ValueError(f"{cls.__name__} must be at most {cls.maximum}, got {value}")

    @classmethod
    def coerce(cls, value: object) -> Self:
        return cls(value)  # type: ignore[arg-type]  # __new__ rejects non-ints

    @classmethod
    def from_string(cls, text: str) -> Self:
        return cls(_parse_int(text))

    @classmethod
    def from_state(cls, state: State) -> Self:
        return cls.from_string(_state_text(state))

    def to_state(self) -> State:
        return str(int(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({int(self)})"

    __str__ = int.__repr__


class StrValue(str):
    """A validated str; subclasses override ``normalize`` (return canonical or raise)."""

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str):
            raise TypeError(f"{cls.__name__} expects a str, got {type(value).__name__}")
        return super().__new__(cls, cls.normalize(value))

    @classmethod
    def normalize(cls, value: str) -> str:
        return value

    @classmethod
    def coerce(cls, value: object) -> Self:
        return cls(value)  # type: ignore[arg-type]  # __new__ rejects non-str

    @classmethod
    def from_string(cls, text: str) -> Self:
        return cls(text.strip())

    @classmethod
    def from_state(cls, state: State) -> Self:
        return cls(_state_text(state))

    def to_state(self) -> State:
        return str(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    __str__ = str.__str__


class ChoiceValue(StrValue):
    """One of a fixed set of words, matched case-insensitively, kept in canonical spelling."""

    choices: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def normalize(cls, value: str) -> str:
        for choice in cls.choices:
            if value.lower() == choice.lower():
                return choice
        raise ValueError(f"{cls.__name__} must be one of {', '.join(cls.choices)}; got {value!r}")


class ListValue(tuple[Any, ...]):
    """An immutable list of item_type values."""

    item_type: ClassVar[type] = str
    allow_empty: ClassVar[bool] = True
    allow_duplicates: ClassVar[bool] = False

    def __new__(cls, items: Iterable[Any] = ()) -> Self:
        if isinstance(items, str | bytes):
            raise TypeError(f"{cls.__name__} expects a list of items, not a single string")
        text_items = _takes_text_items(cls.item_type)
        values = tuple(
            cls.item_type.from_string(item)  # type: ignore[attr-defined]
            if text_items and isinstance(item, str)
            else coerce_value(cls.item_type, item)
            for item in items
        )
        if not values and not cls.allow_empty:
            raise ValueError(f"{cls.__name__} cannot be empty")
        if not cls.allow_duplicates and len(set(values)) != len(values):
            raise ValueError(f"{cls.__name__} has duplicate items")
        return super().__new__(cls, values)

    @classmethod
    def coerce(cls, value: object) -> Self:
        if not isinstance(value, list | tuple):
            raise TypeError(f"{cls.__name__} expects a list, got {type(value).__name__}")
        return cls(value)

    @classmethod
    def from_string(cls, text: str) -> Self:
        words = [word.strip() for word in text.split(",")]
        return cls(value_from_string(cls.item_type, word) for word in words if word)

    @classmethod
    def from_state(cls, state: State) -> Self:
        if isinstance(state, str):  # hand-written single item without the trailing comma
            return cls.from_string(state)
        return cls(value_from_state(cls.item_type, item) for item in state)

    def to_state(self) -> State:
        return [_state_text(value_to_state(self.item_type, item)) for item in self]

    def __str__(self) -> str:
        return ", ".join(value_to_string(self.item_type, item) for item in self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"
