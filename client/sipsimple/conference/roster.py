"""Who is in a hosted conference, as RFC 4575 conference-info documents (pure).

A `Roster` holds the room's endpoints (one per participant's session, so one
user calling in from two devices is one user with two endpoints) and builds
the documents the room's `conference` notifier sends: the full state for a
new subscription, and for each change a partial document carrying only the
user it changed (RFC 4575 4.6: a user whose last endpoint left is
``state="deleted"``; the conference-state's user count comes along). The
version is the subscriber's: every subscription counts its own NOTIFYs from
1, so the documents take the version as an argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from sipsimple.core import SIPURI, AddressHeader, parse_uri
from sipsimple.payloads.conference import (
    AvailableMedia,
    Conference,
    ConferenceDescription,
    ConferenceState,
    Endpoint,
    Media,
    URIEntry,
    URIList,
    User,
    Users,
)

__all__ = ["MEDIA_STATUSES", "Participant", "Roster"]

# an endpoint's media status (RFC 4575 5.7.1.3): what the focus sends and receives
MEDIA_STATUSES = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass(frozen=True)
class Participant:
    """One endpoint of the conference: a participant's session with the focus."""

    key: str  # the room's id of the endpoint (its session)
    uri: str  # the participant's address (the user's entity)
    endpoint: str  # the endpoint's entity (its Contact, else the address)
    display_name: str | None = None
    status: str = "connected"  # RFC 4575 endpoint status: dialing-out, alerting, connected...
    joining_method: str = "dialed-in"  # or "dialed-out" (added by REFER)
    audio: str | None = None  # MEDIA_STATUSES, None without audio
    chat: bool = False
    referred_by: str | None = None
    nickname: str | None = None  # RFC 7701, the room's chat only (not in conference-info)


class Roster:
    def __init__(self, entity: str, display_text: str | None = None,
                 subject: str | None = None) -> None:
        self.entity = entity
        self.display_text = display_text
        self.subject = subject
        self._endpoints: dict[str, Participant] = {}  # by key, in joining order

    def __iter__(self) -> Iterator[Participant]:
        return iter(list(self._endpoints.values()))

    def __len__(self) -> int:
        return len(self._endpoints)

    def __contains__(self, key: object) -> bool:
        return key in self._endpoints

    def get(self, key: str) -> Participant | None:
        return self._endpoints.get(key)

    def find(self, uri: str) -> list[Participant]:
        """The endpoints of the user `uri` (compared as SIP addresses: user and host)."""
        wanted = _address(uri)
        return [p for p in self._endpoints.values() if _address(p.uri) == wanted]

    @property
    def user_count(self) -> int:
        return len({p.uri for p in self._endpoints.values()})

    # --- changes: each gives the user it changed, for `partial` ------------------

    def join(self, participant: Participant) -> str:
        if participant.key in self._endpoints:
            raise ValueError(f"endpoint {participant.key!r} is in the roster already")
        self._endpoints[participant.key] = participant
        return participant.uri

    def update(self, key: str, **changes: object) -> str:
        current = self._endpoints[key]
        self._endpoints[key] = replace(current, **changes)  # type: ignore[arg-type]
        return current.uri

    def leave(self, key: str) -> str:
        return self._endpoints.pop(key).uri

    # --- documents ---------------------------------------------------------------

    def full(self, version: int) -> Conference:
        users = tuple(self._user(uri) for uri in dict.fromkeys(
            p.uri for p in self._endpoints.values()))
        return Conference(
            entity=self.entity, state="full", version=version,
            conference_description=ConferenceDescription(
                display_text=self.display_text, subject=self.subject,
                conf_uris=URIList((URIEntry(self.entity, purpose="participation"),)),
                available_media=(AvailableMedia("audio", type="audio", status="sendrecv"),),
            ),
            conference_state=self._state(),
            users=Users(users, state="full"),
        )

    def partial(self, uri: str, version: int, left: str | None = None) -> Conference:
        """The change of user `uri`: its endpoints now, or deleted when none is left.

        `left` names an endpoint of the user that just left while others stay: it is
        marked deleted in the user's entry.
        """
        if not any(p.uri == uri for p in self._endpoints.values()):
            user = User(entity=uri, state="deleted")
        else:
            user = self._user(uri, state="partial")
            if left is not None:
                user = replace(user, endpoints=(*user.endpoints,
                                                Endpoint(entity=left, state="deleted")))
        return Conference(entity=self.entity, state="partial", version=version,
                          conference_state=self._state(),
                          users=Users((user,), state="partial"))

    def _state(self) -> ConferenceState:
        return ConferenceState(user_count=self.user_count, active=True, locked=False)

    def _user(self, uri: str, state: str = "full") -> User:
        endpoints = [p for p in self._endpoints.values() if p.uri == uri]
        return User(
            entity=uri, state=state,
            display_text=next((p.display_name for p in endpoints if p.display_name), None),
            roles=("participant",),
            endpoints=tuple(_endpoint(p) for p in endpoints),
        )


def _endpoint(participant: Participant) -> Endpoint:
    media = []
    if participant.audio is not None:
        media.append(Media(id=f"{participant.key}-audio", type="audio", label="audio",
                           status=participant.audio))
    if participant.chat:
        media.append(Media(id=f"{participant.key}-chat", type="message", label="chat",
                           status="sendrecv"))
    return Endpoint(entity=participant.endpoint, state="full",
                    display_text=participant.display_name, status=participant.status,
                    joining_method=participant.joining_method, media=tuple(media))


def _address(uri: str) -> tuple[str | None, str]:
    """(user, lower-cased host) of a SIP address; the text itself if it is none."""
    text = uri.strip()
    try:
        parsed = AddressHeader.parse(text).uri if text.startswith(("<", '"')) else parse_uri(text)
    except ValueError:
        return None, text
    if isinstance(parsed, SIPURI):
        return parsed.user, parsed.host.lower()
    return None, text
