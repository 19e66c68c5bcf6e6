"""Settings descriptors, nested groups and persistent settings objects.

A ``SettingsObject`` subclass declares ``Setting`` descriptors and nested
``SettingsGroup`` classes; each instance holds its own values. Settings are
addressed by dotted keys (``"sip.invite_timeout"``). An instance remembers which
values were assigned explicitly; only those are stored, so a default that
changes in a later version still reaches users who never touched it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar

from ..notification import NotificationCenter, NotificationData
from .datatypes import State, coerce_value, value_from_state, value_to_state
from .errors import (
    ConfigurationError,
    DuplicateIDError,
    InvalidStoredValueError,
    ObjectNotFoundError,
)
from .manager import ConfigurationManager

__all__ = [
    "ModifiedValue",
    "RuntimeSetting",
    "Setting",
    "SettingsGroup",
    "SettingsObject",
    "iter_schema",
    "replacing_stored_values",
]

_UNSET: Any = object()

# Dotted keys whose invalid stored values a load skips instead of failing on.
_replacing: ContextVar[frozenset[str]] = ContextVar("_replacing", default=frozenset())


@contextmanager
def replacing_stored_values(*keys: str) -> Iterator[None]:
    """Settings objects loaded within the block skip an invalid stored value of keys.

    For a caller about to replace those values explicitly (``sipsimple config
    set KEY VALUE`` or ``unset KEY`` on the key an error named): the user can
    repair a bad value without editing the file. The next save rewrites it.
    """
    token = _replacing.set(_replacing.get() | frozenset(keys))
    try:
        yield
    finally:
        _replacing.reset(token)


@dataclass(frozen=True)
class ModifiedValue:
    old: Any
    new: Any


class _State:
    """Per-object values: explicit persistent ones, the saved snapshot, runtime ones."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.saved: dict[str, Any] = {}
        self.runtime: dict[str, Any] = {}
        # Keys whose invalid stored value was skipped (replacing_stored_values):
        # the stored tree differs from `saved`, so the next save must write.
        self.skipped: set[str] = set()


class Setting:
    """A typed setting; the value lives in the settings object, not here."""

    persistent: ClassVar[bool] = True

    def __init__(self, type: type, default: Any = None, nillable: bool = False) -> None:
        self.type = type
        self.nillable = nillable
        self.name = ""
        if default is None and not nillable:
            raise TypeError("a setting that is not nillable needs a default")
        self.default = None if default is None else coerce_value(type, default)

    def __set_name__(self, owner: type, name: str) -> None:
        if self.name and self.name != name:
            raise TypeError(f"one Setting cannot be both {self.name!r} and {name!r}")
        self.name = name

    def _values(self, obj: Any) -> dict[str, Any]:
        state: _State = obj._settings_state
        return state.values if self.persistent else state.runtime

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self._values(obj).get(obj._settings_prefix + self.name, _UNSET)
        return self.default if value is _UNSET else value

    def __set__(self, obj: Any, value: Any) -> None:
        key = obj._settings_prefix + self.name
        try:
            value = self.validate(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{key}: {exc}") from None
        self._values(obj)[key] = value

    def __delete__(self, obj: Any) -> None:
        """``del obj.setting`` returns it to its default."""
        self._values(obj).pop(obj._settings_prefix + self.name, None)

    def validate(self, value: Any) -> Any:
        """Return value as this setting's type, or raise TypeError / ValueError."""
        if value is None:
            if self.nillable:
                return None
            raise ValueError("this setting cannot be None")
        return coerce_value(self.type, value)

    def to_state(self, value: Any) -> State | None:
        return None if value is None else value_to_state(self.type, value)

    def from_state(self, state: State | None) -> Any:
        return self.validate(None if state is None else value_from_state(self.type, state))

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}({self.type.__name__}, default={self.default!r}, nillable={self.nillable})"


class RuntimeSetting(Setting):
    """A setting that is validated like any other but never saved nor reported."""

    persistent = False


def _members(cls: type) -> dict[str, Any]:
    """Settings and groups of cls in definition order; subclasses override bases."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, Setting | SettingsGroupMeta):
                members[attr] = value
            else:
                members.pop(attr, None)
    return members


def iter_schema(cls: type, prefix: str = "") -> Iterator[tuple[str, Setting]]:
    """Yield (dotted key, Setting) for every setting of a settings class, depth first."""
    for attr, value in _members(cls).items():
        if isinstance(value, Setting):
            yield prefix + attr, value
        else:
            yield from iter_schema(value, f"{prefix}{attr}.")


class _ContainerMeta(type):
    _group_names_: dict[type, str]

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        # Lets a group class find the attribute name it is bound under.
        cls._group_names_ = {
            value: attr
            for attr, value in _members(cls).items()
            if isinstance(value, SettingsGroupMeta)
        }


class SettingsGroupMeta(_ContainerMeta):
    """Makes a nested group class act as a descriptor bound to each settings object."""

    def __get__(cls, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return cls
        name = type(obj)._group_names_[cls]
        groups: dict[str, Any] = obj.__dict__.setdefault("_settings_groups", {})
        group = groups.get(name)
        if type(group) is not cls:
            new: Any = object.__new__  # bound groups skip __init__: they only hold a path
            group = new(cls)
            group._settings_root = obj._settings_root
            group._settings_prefix = f"{obj._settings_prefix}{name}."
            groups[name] = group
        return group

    def __set__(cls, obj: Any, value: Any) -> None:
        raise AttributeError(f"settings group {cls.__name__!r} cannot be replaced")


class SettingsGroup(metaclass=SettingsGroupMeta):
    """Base for nested groups; declare them as classes inside a settings class."""

    _settings_root: SettingsObject
    _settings_prefix: str

    @property
    def _settings_state(self) -> _State:
        return self._settings_root._settings_state

    def __repr__(self) -> str:
        name = self._settings_prefix[:-1]
        return f"<{type(self).__name__} group {name!r} of {self._settings_root!r}>"


def _put(tree: dict[str, Any], parts: list[str], state: State | None) -> None:
    for part in parts[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[parts[-1]] = state


def _remove(tree: dict[str, Any], parts: list[str]) -> None:
    nodes = [tree]
    for part in parts[:-1]:
        child = nodes[-1].get(part)
        if not isinstance(child, dict):
            return
        nodes.append(child)
    nodes[-1].pop(parts[-1], None)
    for node, part in zip(reversed(nodes[:-1]), reversed(parts[:-1]), strict=True):
        if node[part]:
            break
        del node[part]


def _lookup(tree: dict[str, Any], parts: list[str]) -> tuple[Any, str | None]:
    """(stored value or _UNSET, None), or (the stored value, its dotted key) when a
    value sits where the schema has a group (saving would replace it)."""
    node: Any = tree
    for index, part in enumerate(parts):
        if part not in node:
            return _UNSET, None
        node = node[part]
        if index < len(parts) - 1 and not isinstance(node, dict):
            return node, ".".join(parts[: index + 1])
    return node, None


class SettingsObjectMeta(_ContainerMeta):
    """Returns the live instance for a storage key instead of building a second one."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        klass: Any = cls  # typed loosely: the class attributes live on SettingsObject
        manager = ConfigurationManager()
        with manager._lock:
            manager._require_running()
            if klass._is_global():
                key = klass._storage_key(None)
            else:
                if not args and "id" not in kwargs:
                    raise TypeError(f"{cls.__name__} needs an id")
                raw_id = args[0] if args else kwargs.pop("id")
                if not isinstance(raw_id, str) or not raw_id:
                    raise ValueError(f"{cls.__name__} id must be a non-empty str, got {raw_id!r}")
                object_id = str(value_from_state(klass.__id_type__, raw_id))
                args = (object_id, *args[1:])
                key = klass._storage_key(object_id)
            existing = manager._objects.get(key) or manager._weak_objects.get(key)
            if existing is not None:
                if not isinstance(existing, cls):
                    raise DuplicateIDError(f"{key[-1]!r} already exists as {existing!r}")
                return existing
            instance = super().__call__(*args, **kwargs)
            if klass._is_global():
                manager._objects[key] = instance
            else:
                manager._weak_objects[key] = instance
        instance._did_load()
        return instance


class SettingsObject(metaclass=SettingsObjectMeta):
    """Settings stored under ``(__group__, __id__)`` in the configuration.

    A class with a str ``__id__`` is global: one instance, e.g. SIPSimpleSettings.
    A class without one takes the id at construction (``AccountSettings(id)``),
    and its instances live under ``__group__``. Either way there is one live
    instance per id while the ConfigurationManager runs.
    """

    __id__: ClassVar[str | None] = None
    __group__: ClassVar[str | None] = None
    __id_type__: ClassVar[Any] = str  # validates per-id objects' ids (from_state or str)

    _settings_prefix = ""
    _settings_state: _State

    def __init__(self, id: str | None = None) -> None:
        if id is not None:
            self.__dict__["__id__"] = id
        self._settings_state = _State()
        self._stored = False
        self._deleted = False
        self._load()

    @classmethod
    def _is_global(cls) -> bool:
        return isinstance(cls.__id__, str)

    @classmethod
    def _storage_key(cls, object_id: str | None) -> tuple[str, ...]:
        if cls._is_global():
            assert cls.__id__ is not None
            return (cls.__group__, cls.__id__) if cls.__group__ else (cls.__id__,)
        if not cls.__group__:
            raise TypeError(f"{cls.__name__} has neither a class __id__ nor a __group__")
        assert object_id is not None
        return (cls.__group__, object_id)

    @property
    def _settings_root(self) -> SettingsObject:
        return self

    @property
    def _key(self) -> tuple[str, ...]:
        return self._storage_key(self.__dict__.get("__id__"))

    def _did_load(self) -> None:
        """Hook run once after the instance is built and registered."""

    def _load(self) -> None:
        manager = ConfigurationManager()
        try:
            tree = manager.get(self._key)
        except ObjectNotFoundError:
            return
        section = "/".join(self._key)
        # An invalid stored value is an error, never dropped: the next save would
        # rewrite the file without it, silently losing what the user wrote.
        if not isinstance(tree, dict):
            raise InvalidStoredValueError(
                manager.source_name, section, "", tree, "expected a group of settings"
            )
        self._stored = True
        state = self._settings_state
        replacing = _replacing.get()
        for key, setting in iter_schema(type(self)):
            if not setting.persistent:
                continue
            stored, misplaced = _lookup(tree, key.split("."))
            if misplaced is not None:
                raise InvalidStoredValueError(
                    manager.source_name, section, misplaced, stored,
                    "expected a group of settings, found a value",
                )
            if stored is _UNSET:
                continue
            try:
                state.values[key] = setting.from_state(stored)
            except (TypeError, ValueError) as exc:
                if key not in replacing:
                    raise InvalidStoredValueError(
                        manager.source_name, section, key, stored, str(exc)
                    ) from None
                state.skipped.add(key)
        state.saved = dict(state.values)

    def _modified(self, old: dict[str, Any], new: dict[str, Any]) -> dict[str, ModifiedValue]:
        modified = {}
        for key, setting in iter_schema(type(self)):
            if setting.persistent:
                before, after = old.get(key, setting.default), new.get(key, setting.default)
                if before != after:
                    modified[key] = ModifiedValue(before, after)
        return modified

    def save(self) -> None:
        """Persist explicit values; post CFGSettingsObjectWasCreated or ...DidChange."""
        manager = ConfigurationManager()
        with manager._lock:
            if self._deleted:
                raise ConfigurationError(f"{self!r} was deleted")
            state = self._settings_state
            values = dict(state.values)
            if self._stored and values == state.saved and not state.skipped:
                return
            try:
                old_tree = manager.get(self._key)
            except ObjectNotFoundError:
                old_tree = None
            tree = copy.deepcopy(old_tree) if isinstance(old_tree, dict) else {}
            for key, setting in iter_schema(type(self)):
                if not setting.persistent:
                    continue
                if key in values:
                    _put(tree, key.split("."), setting.to_state(values[key]))
                else:
                    _remove(tree, key.split("."))
            manager.set(self._key, tree)
            try:
                manager.save()
            except BaseException:
                if old_tree is None:
                    manager.delete(self._key)
                else:
                    manager.set(self._key, old_tree)
                raise
            modified = self._modified(state.saved, values)
            state.saved = values
            state.skipped.clear()
            created, self._stored = not self._stored, True
        center = NotificationCenter()
        if created:
            center.post_notification("CFGSettingsObjectWasCreated", self, NotificationData())
        elif modified:
            center.post_notification(
                "CFGSettingsObjectDidChange", self, NotificationData(modified=modified)
            )

    def delete(self) -> None:
        """Remove a per-id object from the configuration; post CFGSettingsObjectWasDeleted."""
        if self._is_global():
            raise TypeError(f"{type(self).__name__} is global and cannot be deleted")
        manager = ConfigurationManager()
        with manager._lock:
            if self._deleted:
                return
            was_stored = self._stored
            if was_stored:
                old_tree = manager.get(self._key)
                manager.delete(self._key)
                try:
                    manager.save()
                except BaseException:
                    manager.set(self._key, old_tree)
                    raise
            self._deleted = True
            if manager._weak_objects.get(self._key) is self:
                del manager._weak_objects[self._key]
        if was_stored:
            NotificationCenter().post_notification(
                "CFGSettingsObjectWasDeleted", self, NotificationData()
            )

    def __repr__(self) -> str:
        object_id = self.__dict__.get("__id__", self.__id__)
        return f"<{type(self).__name__} {object_id!r}>"
