"""`Conference`: one ``<conference-info>`` document, or the merged state of a conference."""

from __future__ import annotations

from dataclasses import dataclass

from sipsimple.payloads.conference.building import _build_conference
from sipsimple.payloads.conference.elements import (
    NAMESPACE,
    ConferenceDescription,
    ConferenceState,
    HostInfo,
    URIList,
    User,
    Users,
    _tag,
)
from sipsimple.payloads.conference.parsing import (
    ConferenceParseError,
    _optional,
    _parse_conference_state,
    _parse_description,
    _parse_host_info,
    _parse_uri_list,
    _parse_users,
    _required,
    _state,
    _unsigned,
)
from sipsimple.payloads.xml import MAX_XML_SIZE, Element, parse_xml, serialize


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
