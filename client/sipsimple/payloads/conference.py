"""Conference state: application/conference-info+xml (RFC 4575) and its merge.

`Conference` is one parsed ``<conference-info>`` document and also the
subscriber's view of the conference that `SIPSessionGotConferenceInfo` carries.
Optional children are None when absent, so that a partial notification says
exactly what it changes. `merge` applies a notification to the current state
(RFC 4575 section 4.6):

- ``state="full"`` replaces the whole state; ``state="deleted"`` on the root
  ends it (the document is returned as it is).
- ``state="partial"`` must carry the version right after the current one.
  Elements with a ``state`` attribute (users, user, endpoint and the URI lists)
  are merged by key: user and endpoint by ``entity``, URI entries by ``uri``;
  an item marked ``deleted`` is removed, ``full`` replaces the item, ``partial``
  merges into it. Media (by ``id``), available-media entries (by ``label``) and
  the elements without a ``state`` attribute (conference-description,
  host-info, conference-state) take the children present in the notification
  and keep the others.
- A stale version (not above the current one) raises `StaleVersionError`: drop
  the document. A gap, or a partial document with nothing to apply it to,
  raises `ResubscribeError`: the state is unknown until a new full document, so
  the subscriber re-SUBSCRIBEs.

Sidebars by value and call-info are not modelled (ignored when parsing).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVar

from sipsimple.payloads.errors import BuilderError, PayloadError
from sipsimple.payloads.timestamps import format_datetime, parse_datetime
from sipsimple.payloads.xml import (
    MAX_XML_SIZE,
    Element,
    XMLParseError,
    check_text,
    child,
    child_text,
    children,
    parse_xml,
    serialize,
    sub,
)

__all__ = [
    "CONTENT_TYPE",
    "NAMESPACE",
    "STATES",
    "AvailableMedia",
    "Conference",
    "ConferenceDescription",
    "ConferenceDocument",
    "ConferenceMergeError",
    "ConferenceParseError",
    "ConferenceState",
    "Endpoint",
    "ExecutionInfo",
    "HostInfo",
    "Media",
    "ResubscribeError",
    "StaleVersionError",
    "URIEntry",
    "URIList",
    "User",
    "Users",
    "merge",
]

CONTENT_TYPE = "application/conference-info+xml"
NAMESPACE = "urn:ietf:params:xml:ns:conference-info"
STATES = ("full", "partial", "deleted")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MAX_UNSIGNED = 2**32 - 1

T = TypeVar("T")


class ConferenceParseError(XMLParseError):
    """A body that is not a conference-info document."""


class ConferenceMergeError(PayloadError):
    """A notification that cannot be applied to the current state."""


class StaleVersionError(ConferenceMergeError):
    """The notification is not newer than the state: drop it."""


class ResubscribeError(ConferenceMergeError):
    """The state is unknown (version gap, partial before full): subscribe again."""


# --- the model ---------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionInfo:
    """When, why and by whom something was done (execution-type)."""

    when: datetime | None = None
    reason: str | None = None
    by: str | None = None


@dataclass(frozen=True)
class URIEntry:
    uri: str
    display_text: str | None = None
    purpose: str | None = None
    modified: ExecutionInfo | None = None


@dataclass(frozen=True)
class URIList:
    """conf-uris, service-uris, associated-aors, host uris, sidebars-by-ref."""

    entries: tuple[URIEntry, ...] = ()
    state: str = "full"


@dataclass(frozen=True)
class AvailableMedia:
    label: str
    type: str | None = None
    display_text: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class ConferenceDescription:
    display_text: str | None = None
    subject: str | None = None
    free_text: str | None = None
    keywords: tuple[str, ...] | None = None
    conf_uris: URIList | None = None
    service_uris: URIList | None = None
    maximum_user_count: int | None = None
    available_media: tuple[AvailableMedia, ...] | None = None
    state: str | None = None


@dataclass(frozen=True)
class HostInfo:
    display_text: str | None = None
    web_page: str | None = None
    uris: URIList | None = None
    state: str | None = None


@dataclass(frozen=True)
class ConferenceState:
    user_count: int | None = None
    active: bool | None = None
    locked: bool | None = None
    state: str | None = None


@dataclass(frozen=True)
class Media:
    id: str
    display_text: str | None = None
    type: str | None = None
    label: str | None = None
    src_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Endpoint:
    entity: str
    state: str = "full"
    display_text: str | None = None
    referred: ExecutionInfo | None = None
    status: str | None = None
    joining_method: str | None = None
    joining_info: ExecutionInfo | None = None
    disconnection_method: str | None = None
    disconnection_info: ExecutionInfo | None = None
    media: tuple[Media, ...] = ()


@dataclass(frozen=True)
class User:
    entity: str
    state: str = "full"
    display_text: str | None = None
    associated_aors: URIList | None = None
    roles: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    cascaded_focus: str | None = None
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class Users:
    users: tuple[User, ...] = ()
    state: str = "full"

    def __iter__(self) -> Iterator[User]:
        return iter(self.users)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Conference:
    """A ``<conference-info>`` document, or the merged state of a conference."""

    entity: str
    state: str = "full"
    version: int | None = None
    conference_description: ConferenceDescription | None = None
    host_info: HostInfo | None = None
    conference_state: ConferenceState | None = None
    users: Users | None = None
    sidebars_by_ref: URIList | None = None

    def user(self, entity: str) -> User | None:
        for item in self.users or ():
            if item.entity == entity:
                return item
        return None

    def encode(self) -> bytes:
        return serialize(_build_conference(self), NAMESPACE)

    @classmethod
    def parse(cls, data: bytes | str, *, max_size: int = MAX_XML_SIZE) -> Conference:
        root = parse_xml(data, error=ConferenceParseError, max_size=max_size)
        if root.tag != _tag("conference-info"):
            raise ConferenceParseError(f"root element is {root.tag!r}, not conference-info")
        return _parse_conference(root)


# The original SDK's name for the document class.
ConferenceDocument = Conference


# --- parsing -----------------------------------------------------------------


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _fail(message: str) -> ConferenceParseError:
    return ConferenceParseError(message)


def _text(element: Element, name: str) -> str | None:
    return child_text(element, NAMESPACE, name)


def _token(element: Element, name: str) -> str | None:
    # An empty value (<status/>) says nothing, as if the element were absent.
    value = _text(element, name)
    return (value.strip() or None) if value is not None else None


def _state(element: Element) -> str:
    value = element.get("state", "full").strip()
    if value not in STATES:
        raise _fail(f"invalid state {value!r} on {element.tag}")
    return value


def _section_state(element: Element) -> str | None:
    # RFC 4575 gives these sections no state attribute, but focuses send one.
    return _state(element) if element.get("state") is not None else None


def _required(element: Element, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise _fail(f"{element.tag} without the {name} attribute")
    return value


def _unsigned(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > _MAX_UNSIGNED:
        raise _fail(f"invalid {what} {text!r}")
    return int(text)


def _boolean(text: str | None, what: str) -> bool | None:
    if text is None:
        return None
    value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip())
    if value is None:
        raise _fail(f"invalid {what} {text!r}")
    return value


def _words(text: str | None) -> tuple[str, ...] | None:
    return tuple(text.split()) if text is not None else None


def _optional(element: Element, name: str, parse: Callable[[Element], T]) -> T | None:
    found = child(element, NAMESPACE, name)
    return parse(found) if found is not None else None


def _parse_execution(element: Element) -> ExecutionInfo:
    when_text = _text(element, "when")
    when = None
    if when_text is not None:
        when = parse_datetime(when_text, naive_is_utc=True)
        if when is None:
            raise _fail(f"invalid date-time {when_text!r}")
    return ExecutionInfo(when, _text(element, "reason"), _token(element, "by"))


def _parse_uri_list(element: Element) -> URIList:
    entries = []
    for item in children(element, NAMESPACE, "entry"):
        uri = _token(item, "uri")
        if not uri:
            raise _fail("URI entry without a uri")
        entries.append(
            URIEntry(
                uri,
                _text(item, "display-text"),
                _text(item, "purpose"),
                _optional(item, "modified", _parse_execution),
            )
        )
    return URIList(tuple(entries), _state(element))


def _parse_available_media(element: Element) -> tuple[AvailableMedia, ...]:
    return tuple(
        AvailableMedia(
            _required(item, "label"),
            _token(item, "type"),
            _text(item, "display-text"),
            _token(item, "status"),
        )
        for item in children(element, NAMESPACE, "entry")
    )


def _parse_description(element: Element) -> ConferenceDescription:
    return ConferenceDescription(
        display_text=_text(element, "display-text"),
        subject=_text(element, "subject"),
        free_text=_text(element, "free-text"),
        keywords=_words(_text(element, "keywords")),
        conf_uris=_optional(element, "conf-uris", _parse_uri_list),
        service_uris=_optional(element, "service-uris", _parse_uri_list),
        maximum_user_count=_unsigned(_text(element, "maximum-user-count"), "maximum-user-count"),
        available_media=_optional(element, "available-media", _parse_available_media),
        state=_section_state(element),
    )


def _parse_host_info(element: Element) -> HostInfo:
    return HostInfo(
        _text(element, "display-text"),
        _token(element, "web-page"),
        _optional(element, "uris", _parse_uri_list),
        _section_state(element),
    )


def _parse_conference_state(element: Element) -> ConferenceState:
    return ConferenceState(
        _unsigned(_text(element, "user-count"), "user-count"),
        _boolean(_text(element, "active"), "active"),
        _boolean(_text(element, "locked"), "locked"),
        _section_state(element),
    )


def _parse_media(element: Element) -> Media:
    return Media(
        _required(element, "id"),
        _text(element, "display-text"),
        _token(element, "type"),
        _token(element, "label"),
        _token(element, "src-id"),
        _token(element, "status"),
    )


def _parse_endpoint(element: Element) -> Endpoint:
    media = [_parse_media(item) for item in children(element, NAMESPACE, "media")]
    return Endpoint(
        entity=_required(element, "entity"),
        state=_state(element),
        display_text=_text(element, "display-text"),
        referred=_optional(element, "referred", _parse_execution),
        status=_token(element, "status"),
        joining_method=_token(element, "joining-method"),
        joining_info=_optional(element, "joining-info", _parse_execution),
        disconnection_method=_token(element, "disconnection-method"),
        disconnection_info=_optional(element, "disconnection-info", _parse_execution),
        media=tuple(media),
    )


def _parse_user(element: Element) -> User:
    roles = _optional(
        element,
        "roles",
        lambda e: tuple(
            role for item in children(e, NAMESPACE, "entry") if (role := (item.text or "").strip())
        ),
    )
    endpoints = [_parse_endpoint(item) for item in children(element, NAMESPACE, "endpoint")]
    return User(
        entity=_required(element, "entity"),
        state=_state(element),
        display_text=_text(element, "display-text"),
        associated_aors=_optional(element, "associated-aors", _parse_uri_list),
        roles=roles,
        languages=_words(_text(element, "languages")),
        cascaded_focus=_token(element, "cascaded-focus"),
        endpoints=tuple(endpoints),
    )


def _parse_users(element: Element) -> Users:
    users = tuple(_parse_user(item) for item in children(element, NAMESPACE, "user"))
    return Users(users, _state(element))


def _parse_conference(root: Element) -> Conference:
    version_text = root.get("version")
    return Conference(
        entity=_required(root, "entity"),
        state=_state(root),
        version=_unsigned(version_text, "version") if version_text is not None else None,
        conference_description=_optional(root, "conference-description", _parse_description),
        host_info=_optional(root, "host-info", _parse_host_info),
        conference_state=_optional(root, "conference-state", _parse_conference_state),
        users=_optional(root, "users", _parse_users),
        sidebars_by_ref=_optional(root, "sidebars-by-ref", _parse_uri_list),
    )


# --- building ----------------------------------------------------------------


def _put(parent: Element, name: str, value: str | None, *, token: bool = False) -> None:
    if value is None:
        return
    text = check_text(value, name)
    if token and (not text or text != text.strip()):
        raise BuilderError(f"invalid {name} {text!r}")
    sub(parent, NAMESPACE, name, text)


def _put_state(element: Element, state: str) -> None:
    if state not in STATES:
        raise BuilderError(f"invalid state {state!r}")
    element.set("state", state)


def _put_section_state(element: Element, state: str | None) -> None:
    if state is not None:
        _put_state(element, state)


def _put_attribute(element: Element, name: str, value: Any) -> None:
    text = check_text(value, name)
    if not text or text != text.strip():
        raise BuilderError(f"invalid {name} attribute {text!r}")
    element.set(name, text)


def _put_unsigned(parent: Element, name: str, value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_UNSIGNED:
        raise BuilderError(f"invalid {name} {value!r}")
    sub(parent, NAMESPACE, name, str(value))


def _put_words(parent: Element, name: str, values: tuple[str, ...] | None) -> None:
    if values is None:
        return
    for value in values:
        if (
            not isinstance(value, str)
            or not value
            or len(value.split()) != 1
            or (value != value.strip())
        ):
            raise BuilderError(f"invalid {name} item {value!r}")
    _put(parent, name, " ".join(values))


def _put_execution(parent: Element, name: str, value: ExecutionInfo | None) -> None:
    if value is None:
        return
    element = sub(parent, NAMESPACE, name)
    if value.when is not None:
        sub(element, NAMESPACE, "when", format_datetime(value.when))
    _put(element, "reason", value.reason)
    _put(element, "by", value.by, token=True)


def _put_uri_list(parent: Element, name: str, value: URIList | None) -> None:
    if value is None:
        return
    element = sub(parent, NAMESPACE, name)
    _put_state(element, value.state)
    for entry in value.entries:
        item = sub(element, NAMESPACE, "entry")
        _put(item, "uri", entry.uri, token=True)
        _put(item, "display-text", entry.display_text)
        _put(item, "purpose", entry.purpose)
        _put_execution(item, "modified", entry.modified)


def _build_conference(value: Conference) -> Element:
    root = ET.Element(_tag("conference-info"))
    _put_attribute(root, "entity", value.entity)
    _put_state(root, value.state)
    if value.version is not None:
        if (
            isinstance(value.version, bool)
            or not isinstance(value.version, int)
            or not (0 <= value.version <= _MAX_UNSIGNED)
        ):
            raise BuilderError(f"invalid version {value.version!r}")
        root.set("version", str(value.version))
    description = value.conference_description
    if description is not None:
        element = sub(root, NAMESPACE, "conference-description")
        _put_section_state(element, description.state)
        _put(element, "display-text", description.display_text)
        _put(element, "subject", description.subject)
        _put(element, "free-text", description.free_text)
        _put_words(element, "keywords", description.keywords)
        _put_uri_list(element, "conf-uris", description.conf_uris)
        _put_uri_list(element, "service-uris", description.service_uris)
        _put_unsigned(element, "maximum-user-count", description.maximum_user_count)
        if description.available_media is not None:
            media = sub(element, NAMESPACE, "available-media")
            for entry in description.available_media:
                item = sub(media, NAMESPACE, "entry")
                _put_attribute(item, "label", entry.label)
                _put(item, "display-text", entry.display_text)
                _put(item, "type", entry.type, token=True)
                _put(item, "status", entry.status, token=True)
    if value.host_info is not None:
        element = sub(root, NAMESPACE, "host-info")
        _put_section_state(element, value.host_info.state)
        _put(element, "display-text", value.host_info.display_text)
        _put(element, "web-page", value.host_info.web_page, token=True)
        _put_uri_list(element, "uris", value.host_info.uris)
    if value.conference_state is not None:
        element = sub(root, NAMESPACE, "conference-state")
        state = value.conference_state
        _put_section_state(element, state.state)
        _put_unsigned(element, "user-count", state.user_count)
        for name, flag in (("active", state.active), ("locked", state.locked)):
            if flag is not None:
                sub(element, NAMESPACE, name, "true" if flag else "false")
    if value.users is not None:
        element = sub(root, NAMESPACE, "users")
        _put_state(element, value.users.state)
        for user in value.users.users:
            _build_user(element, user)
    _put_uri_list(root, "sidebars-by-ref", value.sidebars_by_ref)
    return root


def _build_user(parent: Element, user: User) -> None:
    element = sub(parent, NAMESPACE, "user")
    _put_attribute(element, "entity", user.entity)
    _put_state(element, user.state)
    _put(element, "display-text", user.display_text)
    _put_uri_list(element, "associated-aors", user.associated_aors)
    if user.roles is not None:
        roles = sub(element, NAMESPACE, "roles")
        for role in user.roles:
            _put(roles, "entry", role, token=True)
    _put_words(element, "languages", user.languages)
    _put(element, "cascaded-focus", user.cascaded_focus, token=True)
    for endpoint in user.endpoints:
        item = sub(element, NAMESPACE, "endpoint")
        _put_attribute(item, "entity", endpoint.entity)
        _put_state(item, endpoint.state)
        _put(item, "display-text", endpoint.display_text)
        _put_execution(item, "referred", endpoint.referred)
        _put(item, "status", endpoint.status, token=True)
        _put(item, "joining-method", endpoint.joining_method, token=True)
        _put_execution(item, "joining-info", endpoint.joining_info)
        _put(item, "disconnection-method", endpoint.disconnection_method, token=True)
        _put_execution(item, "disconnection-info", endpoint.disconnection_info)
        for media in endpoint.media:
            medium = sub(item, NAMESPACE, "media")
            _put_attribute(medium, "id", media.id)
            _put(medium, "display-text", media.display_text)
            _put(medium, "type", media.type, token=True)
            _put(medium, "label", media.label, token=True)
            _put(medium, "src-id", media.src_id, token=True)
            _put(medium, "status", media.status, token=True)


# --- merging -----------------------------------------------------------------


def merge(current: Conference | None, update: Conference) -> Conference:
    """The conference state after `update` (see the module docstring for the rules)."""
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
