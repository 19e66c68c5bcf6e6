"""The parts of a conference-info document, as frozen values, and the names they share.

Each element of RFC 4575 below ``<conference-info>`` is a dataclass here; the
document itself is `Conference` (in `document`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

CONTENT_TYPE = "application/conference-info+xml"
NAMESPACE = "urn:ietf:params:xml:ns:conference-info"
STATES = ("full", "partial", "deleted")
_MAX_UNSIGNED = 2**32 - 1


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


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
