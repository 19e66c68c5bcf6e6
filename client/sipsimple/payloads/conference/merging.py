"""Applying a notification to the conference state (RFC 4575 section 4.6).

The rules are in the docstring of the `sipsimple.payloads.conference` package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from typing import Any, TypeVar

from sipsimple.payloads.conference.document import Conference
from sipsimple.payloads.conference.elements import (
    AvailableMedia,
    Endpoint,
    ExecutionInfo,
    URIList,
    User,
    Users,
)
from sipsimple.payloads.errors import PayloadError

T = TypeVar("T")


class ConferenceMergeError(PayloadError):
    """A notification that cannot be applied to the current state."""


class StaleVersionError(ConferenceMergeError):
    """The notification is not newer than the state: drop it."""


class ResubscribeError(ConferenceMergeError):
    """The state is unknown (version gap, partial before full): subscribe again."""


def merge(current: Conference | None, update: Conference) -> Conference:
    """The conference state after `update` (see the package docstring for the rules)."""
    if update.state != "partial":
        if current is not None and _is_stale(current, update):
            raise StaleVersionError(f"version {update.version} is not above {current.version}")
        return _settled(update) if update.state == "full" else update
    if current is None or current.state != "full":
        raise ResubscribeError("partial notification without a full state to apply it to")
    if update.version is None or current.version is None:
        raise ResubscribeError("partial notification without versions to order it")
    if update.entity != current.entity:
        raise ResubscribeError(f"notification for {update.entity}, not {current.entity}")
    if update.version <= current.version:
        raise StaleVersionError(f"version {update.version} is not above {current.version}")
    if update.version != current.version + 1:
        raise ResubscribeError(f"version gap: {current.version} to {update.version}")
    return replace(
        current,
        version=update.version,
        conference_description=_merge_fields(
            current.conference_description,
            update.conference_description,
            {
                "conf_uris": _merge_uri_list,
                "service_uris": _merge_uri_list,
                "available_media": _merge_available_media,
            },
        ),
        host_info=_merge_fields(current.host_info, update.host_info, {"uris": _merge_uri_list}),
        conference_state=_merge_fields(current.conference_state, update.conference_state, {}),
        users=_merge_users(current.users, update.users),
        sidebars_by_ref=_merge_uri_list(current.sidebars_by_ref, update.sidebars_by_ref),
    )


def _is_stale(current: Conference, update: Conference) -> bool:
    return (
        update.version is not None
        and current.version is not None
        and update.entity == current.entity
        and update.version <= current.version
    )


def _merge_fields(old: Any, new: Any, special: dict[str, Callable[[Any, Any], Any]]) -> Any:
    """`old` with each field `new` carries (not None) replaced, or merged by `special`."""
    if new is None:
        return old
    state = getattr(new, "state", None)
    if state == "deleted":
        return None
    if old is None or state == "full":
        return _settled(new)
    changes = {}
    for item in fields(new):
        value = getattr(new, item.name)
        if item.name in ("state", "entity", "id", "label") or value is None:
            continue
        merger = special.get(item.name)
        changes[item.name] = merger(getattr(old, item.name), value) if merger else _settled(value)
    return replace(old, **changes)


def _keyed(
    old: Iterable[T] | None,
    new: Iterable[T],
    key: Callable[[T], str],
    apply: Callable[[T | None, T], T | None],
) -> tuple[T, ...]:
    """Items of `old` updated by those of `new` with the same key, new ones appended."""
    result: dict[str, T] = {key(item): item for item in old or ()}
    for item in new:
        merged = apply(result.get(key(item)), item)
        if merged is None:
            result.pop(key(item), None)
        else:
            result[key(item)] = merged
    return tuple(result.values())


def _stateful(merge_item: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Apply an item that has a state attribute: deleted, full or partial."""

    def apply(old: Any, new: Any) -> Any:
        if new.state == "deleted":
            return None
        if new.state == "full" or old is None:
            return _settled(new)
        return merge_item(old, new)

    return apply


def _merge_uri_list(old: URIList | None, new: URIList | None) -> URIList | None:
    if new is None:
        return old
    if new.state == "deleted":
        return None
    if new.state == "full" or old is None:
        return _settled(new)
    entries = _keyed(old.entries, new.entries, lambda e: e.uri, lambda _old, e: e)
    return URIList(entries)


def _merge_available_media(
    old: tuple[AvailableMedia, ...] | None, new: tuple[AvailableMedia, ...]
) -> tuple[AvailableMedia, ...]:
    return _keyed(old, new, lambda e: e.label, lambda o, e: _merge_fields(o, e, {}))


def _merge_endpoint(old: Endpoint, new: Endpoint) -> Endpoint:
    return _merge_fields(
        old,
        new,
        {
            "media": lambda o, n: _keyed(
                o, n, lambda m: m.id, lambda om, nm: _merge_fields(om, nm, {})
            )
        },
    )


def _merge_user(old: User, new: User) -> User:
    return _merge_fields(
        old,
        new,
        {
            "associated_aors": _merge_uri_list,
            "endpoints": lambda o, n: _keyed(o, n, lambda e: e.entity, _stateful(_merge_endpoint)),
        },
    )


def _merge_users(old: Users | None, new: Users | None) -> Users | None:
    if new is None:
        return old
    if new.state == "deleted":
        return None
    if new.state == "full" or old is None:
        return _settled(new)
    return Users(_keyed(old.users, new.users, lambda u: u.entity, _stateful(_merge_user)))


def _settled(value: Any) -> Any:
    """`value` as stored state: every state attribute "full", deleted items dropped."""
    if isinstance(value, tuple):
        return tuple(
            _settled(item) for item in value if getattr(item, "state", "full") != "deleted"
        )
    if not hasattr(value, "__dataclass_fields__") or isinstance(value, ExecutionInfo):
        return value
    changes = {}
    for item in fields(value):
        inner = getattr(value, item.name)
        if item.name == "state":
            changes["state"] = "full" if inner is not None else None
        elif isinstance(inner, tuple) or hasattr(inner, "__dataclass_fields__"):
            changes[item.name] = _settled(inner)
    return replace(value, **changes)
