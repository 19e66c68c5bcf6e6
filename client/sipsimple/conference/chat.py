"""Chat in a hosted room: the focus relays each participant's messages (RFC 7701 style).

`relay` is the pure part: who gets a message a participant sent, and as what.
A message is wrapped in CPIM (RFC 3862) with the sender's identity in From
(the one its SIP session proved, whatever the message claimed) and:

- no To, or the room in To: every other participant with a chat gets it,
  To the room;
- participants in To: a private message, only to them, each To itself; a
  recipient who is not in the room is reported back (`unknown`), not guessed.

The sender never gets its own message back. Composing indications
(RFC 3994) go the same way (`composing` makes the message of one). `deliver`
sends one relayed message on the room's leg of a participant's ChatStream:
a message through `ChatStream.send_message(sender=...)` (a focus's stream
relays on behalf of its participants), a composing indication, which has
no sender there, through the msrp service as it is. `nickname_answer` is
the room's rule for RFC 7701 NICKNAME requests: one nickname per
participant, unique in the room regardless of case.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sipsimple.core import SIPURI
from sipsimple.payloads.cpim import CPIM_CONTENT_TYPE, CPIMIdentity, CPIMMessage
from sipsimple.payloads.iscomposing import CONTENT_TYPE as COMPOSING_CONTENT_TYPE
from sipsimple.payloads.iscomposing import IsComposingMessage

__all__ = ["Relayed", "composing", "deliver", "nickname_answer", "relay"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Relayed:
    """What one received message becomes: a message per recipient's key, and whom
    it named that is not in the room."""

    messages: tuple[tuple[str, CPIMMessage], ...]
    unknown: tuple[CPIMIdentity, ...] = ()
    private: bool = False


def _address(uri: Any) -> tuple[str | None, str]:
    if isinstance(uri, SIPURI):
        return uri.user, uri.host.lower()
    return None, str(uri)


def relay(message: Any, sender_key: str, sender: CPIMIdentity, room: CPIMIdentity,
          members: Mapping[str, CPIMIdentity]) -> Relayed:
    """The messages to send for `message` (a CPIMMessage or a plain ChatMessage)
    received from the participant `sender_key` (`sender`); `members` are the
    participants with a chat, by key (the sender among them)."""
    if isinstance(message, CPIMMessage):
        content, content_type = message.content, message.content_type
        parameters, subject = message.content_parameters, message.subject
        timestamp, named = message.timestamp, message.recipients
        headers = message.content_headers
    else:
        raw = message.content
        content = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        content_type, _, rest = str(message.content_type).partition(";")
        parameters = (("charset", "utf-8"),) if isinstance(raw, str) else ()
        subject, timestamp, named, headers = None, message.timestamp, (), ()
        del rest
    room_address = _address(room.uri)
    wanted = [identity for identity in named if _address(identity.uri) != room_address]

    def wrapped(to: CPIMIdentity) -> CPIMMessage:
        return CPIMMessage(content, content_type.strip().lower(), parameters, headers,
                           sender=sender, recipients=(to,), subject=subject,
                           timestamp=timestamp or datetime.now(UTC))

    if not wanted:
        return Relayed(tuple((key, wrapped(room)) for key in members if key != sender_key))
    out: list[tuple[str, CPIMMessage]] = []
    unknown: list[CPIMIdentity] = []
    for identity in wanted:
        keys = [key for key, member in members.items()
                if _address(member.uri) == _address(identity.uri) and key != sender_key]
        if not keys:
            unknown.append(identity)
        out += [(key, wrapped(members[key])) for key in keys]
    return Relayed(tuple(out), tuple(unknown), private=True)


def composing(state: str, refresh: int | None, last_active: datetime | None,
              content_type: str | None, recipients: Any) -> CPIMMessage:
    """A composing indication a participant sent (ChatStreamGotComposingIndication's
    data), as a message for `relay`."""
    body = IsComposingMessage(state, last_active, content_type, refresh).encode()
    named = tuple(CPIMIdentity(r.uri, r.display_name) for r in recipients or ())
    return CPIMMessage(body, COMPOSING_CONTENT_TYPE, recipients=named)


def deliver(stream: Any, message: CPIMMessage) -> None:
    """Send `message` on the room's ChatStream `stream`, its From kept."""
    if message.content_type != COMPOSING_CONTENT_TYPE:
        stream.send_message(message.content, message.content_type,
                            recipients=message.recipients, subject=message.subject,
                            timestamp=message.timestamp, sender=message.sender)
        return
    from sipsimple.streams.msrp.base import msrp_call

    session_id = getattr(stream, "msrp_session_id", None)
    if session_id is None:
        return
    msrp_call("send_message", session_id=session_id, content_type=CPIM_CONTENT_TYPE,
              body=message.encode(), success_report=False, failure_report="no")


def nickname_answer(nickname: str, key: str, taken: Mapping[str, str]) -> tuple[int, str]:
    """The answer to participant `key` asking for `nickname`, given the nicknames
    `taken` (by participant key): 200, or 425 when another participant has it."""
    wanted = nickname.strip().casefold()
    if not wanted:
        return 424, "Nickname empty"
    for other, name in taken.items():
        if other != key and name.casefold() == wanted:
            return 425, "Nickname reserved or already in use"
    return 200, "OK"
