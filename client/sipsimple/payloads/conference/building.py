"""Writing a conference-info document: the XML tree of a `Conference`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from sipsimple.payloads.conference.elements import (
    _MAX_UNSIGNED,
    NAMESPACE,
    STATES,
    ExecutionInfo,
    URIList,
    User,
    _tag,
)
from sipsimple.payloads.errors import BuilderError
from sipsimple.payloads.timestamps import format_datetime
from sipsimple.payloads.xml import Element, check_text, sub

if TYPE_CHECKING:
    from sipsimple.payloads.conference.document import Conference


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
