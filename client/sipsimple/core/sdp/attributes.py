"""`a=` lines: one attribute type in both forms and the lists that hold them.

A property attribute (`a=sendrecv`) has the value "". The lists answer
questions by attribute name: `"crypto" in media.attributes`,
`attributes.getfirst("rtcp")`, `attributes.getall("candidate")`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, overload

from sipsimple.core.sdp.grammar import check_text, check_token

__all__ = [
    "FrozenSDPAttribute",
    "FrozenSDPAttributeList",
    "SDPAttribute",
    "SDPAttributeList",
]


class _Attribute(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...


def _render(attribute: _Attribute) -> str:
    return attribute.name if not attribute.value else f"{attribute.name}:{attribute.value}"


@dataclass(frozen=True, slots=True)
class FrozenSDPAttribute:
    name: str
    value: str = ""

    def __post_init__(self) -> None:
        check_token("attribute name", self.name)
        check_text("attribute value", self.value)

    @classmethod
    def new(cls, other: _Attribute) -> FrozenSDPAttribute:
        if isinstance(other, FrozenSDPAttribute):
            return other
        return cls(other.name, other.value)

    def __str__(self) -> str:
        return _render(self)


@dataclass(slots=True)
class SDPAttribute:
    """Mutable; checked when frozen (which serializing does)."""

    name: str
    value: str = ""

    @classmethod
    def new(cls, other: _Attribute) -> SDPAttribute:
        return cls(other.name, other.value)

    def __str__(self) -> str:
        return str(FrozenSDPAttribute.new(self))


class _Queries:
    """Look-ups by name shared by both list types (values, not attribute objects)."""

    __slots__ = ()

    def _items(self) -> Iterable[_Attribute]:
        raise NotImplementedError

    @overload
    def getfirst(self, name: str) -> str | None: ...
    @overload
    def getfirst(self, name: str, default: str) -> str: ...
    def getfirst(self, name: str, default: str | None = None) -> str | None:
        for attribute in self._items():
            if attribute.name == name:
                return attribute.value
        return default

    def getall(self, name: str) -> list[str]:
        return [a.value for a in self._items() if a.name == name]

    def _has(self, item: object) -> bool:
        if isinstance(item, str):
            return any(a.name == item for a in self._items())
        return any(a == item for a in self._items())


class FrozenSDPAttributeList(_Queries, tuple[FrozenSDPAttribute, ...]):
    def __new__(cls, attributes: Iterable[_Attribute] = ()) -> FrozenSDPAttributeList:
        return super().__new__(cls, (FrozenSDPAttribute.new(a) for a in attributes))

    def _items(self) -> Iterable[_Attribute]:
        return tuple.__iter__(self)

    def __contains__(self, item: object) -> bool:
        """By name for a string, by equality for an attribute."""
        return self._has(item)

    def __repr__(self) -> str:
        return f"FrozenSDPAttributeList({list(self)!r})"


class SDPAttributeList(_Queries, list[SDPAttribute]):
    def __init__(self, attributes: Iterable[_Attribute] = ()) -> None:
        super().__init__(SDPAttribute.new(a) for a in attributes)

    def _items(self) -> Iterable[_Attribute]:
        return list.__iter__(self)

    def __contains__(self, item: object) -> bool:
        """By name for a string, by equality for an attribute."""
        return self._has(item)

    def __repr__(self) -> str:
        return f"SDPAttributeList({list(self)!r})"


def render_attribute(attribute: _Attribute) -> str:
    return _render(attribute)
