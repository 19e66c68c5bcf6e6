"""Reading the elements of a conference-info document, and the error for one that is not."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sipsimple.payloads.conference.elements import (
    _MAX_UNSIGNED,
    NAMESPACE,
    STATES,
    AvailableMedia,
    ConferenceDescription,
    ConferenceState,
    Endpoint,
    ExecutionInfo,
    HostInfo,
    Media,
    URIEntry,
    URIList,
    User,
    Users,
)
from sipsimple.payloads.timestamps import parse_datetime
from sipsimple.payloads.xml import Element, XMLParseError, child, child_text, children

T = TypeVar("T")


class ConferenceParseError(XMLParseError):
    """A body that is not a conference-info document."""


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
