"""Chat rooms (RFC 7701) as ChatStream sees them: the rules, and ChatStream's part.

A conference focus says in its m-line what its room offers
(``a=chatroom:nickname private-messages``); a ChatStream reads it as
`chatroom_capabilities` only when the peer is a focus (``isfocus``) and CPIM
is in use, as the original SDK did. Private messages (recipients other than
the peer, courtesy recipients) need ``private-messages``; `NICKNAME` requests
need ``nickname``. `check_recipients` and `same_identity` are pure;
`ChatRoomMixin` is ChatStream's RFC 7701 side (capabilities, nicknames, the
room's own ``a=chatroom``), mixed in before MSRPStreamBase.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sipsimple.core.sdp import SDPAttribute, SDPMediaStream
from sipsimple.payloads.cpim import CPIM_CONTENT_TYPE, ChatIdentity
from sipsimple.streams.msrp.base import (
    ChatStreamError,
    MSRPStreamBase,
    MSRPStreamError,
    msrp_call,
    msrp_call_async,
)
from sipsimple.streams.msrp.sdp import contains_mime_type

__all__ = ["ChatRoomMixin", "RecipientsError", "check_recipients", "same_identity"]

log = logging.getLogger(__name__)


class RecipientsError(ValueError):
    """Recipients the peer cannot take."""


def same_identity(one: ChatIdentity, other: ChatIdentity) -> bool:
    """The same user at the same host (scheme, port and parameters aside)."""
    def key(identity: ChatIdentity) -> tuple[str | None, str]:
        uri = identity.uri
        return getattr(uri, "user", None), str(getattr(uri, "host", uri)).lower()
    return key(one) == key(other)


def check_recipients(recipients: Sequence[ChatIdentity] | None,
                     courtesy_recipients: Sequence[ChatIdentity],
                     remote: ChatIdentity | None, private_allowed: bool) -> None:
    """RecipientsError unless the message goes to the peer alone (None: by default),
    or the peer is a focus that takes private messages (RFC 7701)."""
    if recipients is not None and not recipients:
        raise RecipientsError("recipients must name at least one identity")
    others = recipients is not None and not (
        remote is not None and len(recipients) == 1 and same_identity(recipients[0], remote))
    if (others or courtesy_recipients) and not private_allowed:
        raise RecipientsError(
            "the peer does not support private messages (recipients other than the peer "
            "and courtesy recipients need a conference focus with "
            "a=chatroom:private-messages and CPIM)")


# mypy sees the mixin as the stream base it is mixed into; at run time it is plain
if TYPE_CHECKING:
    _Base = MSRPStreamBase
else:
    _Base = object


class ChatRoomMixin(_Base):
    """RFC 7701 for ChatStream (which sets the attributes below in ``__init__``)."""

    local_chatroom_capabilities: list[str]
    local_nickname: str | None
    _nicknames: dict[str, str]

    if TYPE_CHECKING:
        def _remote_identity(self) -> ChatIdentity | None: ...

    @property
    def cpim_enabled(self) -> bool:
        """Whether both sides take Message/CPIM (known once the stream started)."""
        remote = self.remote_media
        return remote is not None and contains_mime_type(self.accept_types, CPIM_CONTENT_TYPE) \
            and contains_mime_type(remote.accept_types, CPIM_CONTENT_TYPE)

    @property
    def chatroom_capabilities(self) -> list[str]:
        """What the peer's ``a=chatroom`` offers, when it is a conference focus and CPIM
        is in use (else nothing): ``private-messages``, ``nickname``..."""
        remote = self.remote_media
        if remote is None or not self.cpim_enabled or not getattr(self.session,
                                                                 "remote_focus", False):
            return []
        return list(remote.chatroom)

    @property
    def private_messages_allowed(self) -> bool:
        """Whether messages may name recipients other than the peer: the peer is a
        focus offering ``private-messages``, or we are the focus (the room relays)."""
        return "private-messages" in self.chatroom_capabilities or \
            bool(getattr(self.session, "local_focus", False))

    @property
    def nickname_allowed(self) -> bool:
        return "nickname" in self.chatroom_capabilities

    def set_local_nickname(self, nickname: str) -> str:
        """Ask the focus for `nickname` (RFC 7701 NICKNAME); the outcome comes as
        ChatStreamDidSetNickname or ChatStreamDidNotSetNickname with the returned id.

        ChatStreamError when the peer takes no nicknames (a focus with
        ``a=chatroom:nickname``), the stream has not started, or the nickname
        cannot be carried (control characters, over 256 characters)."""
        if not self.nickname_allowed:
            raise ChatStreamError("the peer does not support nicknames (it must be a "
                                  "conference focus offering a=chatroom:nickname)")
        session_id = self.msrp_session_id
        if session_id is None or self._state == "ended":
            raise ChatStreamError(f"cannot set a nickname in state {self._state}")
        transaction_id = secrets.token_hex(8)
        self._nicknames[transaction_id] = nickname  # before: the answer may come first
        try:
            msrp_call("send_nickname", session_id=session_id, nickname=nickname,
                      transaction_id=transaction_id)
        except MSRPStreamError as exc:
            self._nicknames.pop(transaction_id, None)
            raise ChatStreamError(str(exc)) from exc
        return transaction_id

    def answer_nickname(self, transaction_id: str, code: int = 200,
                        reason: str | None = None) -> None:
        """A chat room's answer to ChatStreamGotNicknameRequest (200, or 425 when the
        nickname is taken, 424 malformed, 403...). Does not wait (safe on the bus
        thread); a failure is logged."""
        self._answer_nickname(transaction_id, code, reason)

    def _answer_nickname(self, transaction_id: str, code: int, reason: str | None) -> None:
        session_id = self.msrp_session_id
        if session_id is None:
            raise ChatStreamError("the stream has no MSRP session")
        try:
            msrp_call_async("answer_nickname", self, session_id=session_id,
                            transaction_id=transaction_id, code=code, reason=reason)
        except MSRPStreamError as exc:
            raise ChatStreamError(f"cannot answer the NICKNAME: {exc}") from exc

    def _nickname_event(self, what: str, data: Any) -> None:
        transaction_id = str(getattr(data, "transaction_id", ""))
        if what == "nickname_received":
            nickname = str(getattr(data, "nickname", ""))
            if "nickname" in self.local_chatroom_capabilities:
                self._post("ChatStreamGotNicknameRequest", transaction_id=transaction_id,
                           nickname=nickname)
                return
            try:  # we are no room: the method is not ours (RFC 4975 501)
                self._answer_nickname(transaction_id, 501, "this endpoint is no chat room")
            except ChatStreamError as exc:
                log.info("%r: %s", self, exc)
            return
        asked = self._nicknames.pop(transaction_id, None)
        if asked is None:
            return
        code = getattr(data, "code", 0)
        code = code if isinstance(code, int) else 0
        reason = str(getattr(data, "reason", "") or "")
        if code == 200:
            self.local_nickname = asked
            self._post("ChatStreamDidSetNickname", message_id=transaction_id, nickname=asked,
                       code=code, reason=reason)
        else:
            self._post("ChatStreamDidNotSetNickname", message_id=transaction_id,
                       nickname=asked, code=code, reason=reason)

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        media = super().get_local_media(for_offer)
        if self.local_chatroom_capabilities:  # a chat room's own stream (RFC 7701)
            media.attributes.append(SDPAttribute(
                "chatroom", " ".join(self.local_chatroom_capabilities)))
        return media

    def _is_private(self, recipients: Sequence[ChatIdentity]) -> bool:
        """A message from a focus meant for us alone (the original SDK's rule)."""
        remote = self._remote_identity()
        return bool(getattr(self.session, "remote_focus", False)) and len(recipients) == 1 \
            and remote is not None and not same_identity(recipients[0], remote)
