"""ChatStream: session-based instant messaging over MSRP (RFC 4975, CPIM RFC 3862).

Outgoing messages go wrapped in Message/CPIM (`sipsimple.payloads.cpim`)
when both sides accept ``message/cpim`` and the peer accepts the content type
wrapped, else as they are if the peer accepts the type directly
(`choose_wrapping`). What only CPIM can carry (recipients, cc, subject,
timestamp, required, additional headers) needs CPIM, or the call raises
ChatStreamError. Messages sent before the stream started wait in order and
go once it has the peer's path (the service holds them until the
connection is up); one that cannot go then gets ChatStreamDidNotDeliverMessage.

Chat messages ask for a success REPORT (``Success-Report: yes``,
``Failure-Report: yes``, as the original SDK): ChatStreamDidDeliverMessage
when it comes, ChatStreamDidNotDeliverMessage on an error response, a
failure REPORT, a local 408 or the stream ending first. Composing
indications (RFC 3994) ask for no report at all.

IMDN (RFC 5438, `dispositions`): ``send_message(dispositions=[...])`` asks
the peer for delivery and display notifications (CPIM headers, so CPIM is
needed); they come back as ChatStreamGotDispositionNotification. Received
messages that ask are answered: delivery at once, display when the
application calls `send_display_notification`.

Chat rooms (RFC 7701, `chatroom`): a conference focus's ``a=chatroom``
capabilities allow private messages (recipients other than the peer,
courtesy recipients) and nicknames (`set_local_nickname`, NICKNAME); a
room's own stream advertises them (`local_chatroom_capabilities`) and
answers the participants' NICKNAME requests (`answer_nickname`).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sipsimple.core.sdp import FrozenSDPSession
from sipsimple.payloads.cpim import (
    CPIM_CONTENT_TYPE,
    ChatIdentity,
    CPIMHeader,
    CPIMIdentity,
    CPIMMessage,
    CPIMParseError,
    MultilingualText,
)
from sipsimple.payloads.errors import BuilderError
from sipsimple.payloads.imdn import CONTENT_TYPE as IMDN_CONTENT_TYPE
from sipsimple.payloads.imdn import IMDNNotification, IMDNParseError, IMDNRequest
from sipsimple.payloads.iscomposing import (
    CONTENT_TYPE as COMPOSING_CONTENT_TYPE,
)
from sipsimple.payloads.iscomposing import (
    IsComposingMessage,
    IsComposingParseError,
)
from sipsimple.streams.interface import InvalidStreamError
from sipsimple.streams.msrp.base import (
    ChatStreamError,
    MSRPStreamBase,
    MSRPStreamError,
    msrp_call,
    msrp_call_async,
)
from sipsimple.streams.msrp.chatroom import ChatRoomMixin, RecipientsError, check_recipients
from sipsimple.streams.msrp.dispositions import (
    DispositionError,
    Dispositions,
    Received,
    checked_dispositions,
    not_understood,
    notification_for,
)
from sipsimple.streams.msrp.sdp import contains_mime_type

__all__ = ["ChatMessage", "ChatStream", "ChatStreamError", "OutgoingChatMessage",
           "choose_wrapping"]

log = logging.getLogger(__name__)

# RFC 3994 3.2: an "active" indication holds this long without a refresh in it
COMPOSING_REFRESH = 120


@dataclass(frozen=True)
class ChatMessage:
    """A message received without CPIM: the sender and recipients are the session's parties.

    `content` is text (UTF-8 decoded, errors replaced) for ``text/*`` types,
    bytes otherwise.
    """

    content: str | bytes
    content_type: str
    sender: ChatIdentity | None = None
    recipients: tuple[ChatIdentity, ...] = ()
    timestamp: datetime | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class OutgoingChatMessage:
    """What `send_message` was asked, kept until it can be wrapped and sent."""

    message_id: str
    content: bytes
    content_type: str
    recipients: tuple[ChatIdentity, ...] | None = None
    courtesy_recipients: tuple[ChatIdentity, ...] = ()
    subject: str | None = None
    timestamp: datetime | None = None
    required: tuple[str, ...] = ()
    additional_headers: tuple[CPIMHeader, ...] = ()
    notify: bool = True  # False: a composing indication (no reports, no notifications)
    dispositions: tuple[str, ...] = ()  # IMDN notifications asked of the peer
    sender: ChatIdentity | None = None  # a room relaying for a participant (CPIM From)
    payload: Any = field(default=None, compare=False)  # what was wrapped and sent

    @property
    def needs_cpim(self) -> bool:
        return bool(self.recipients is not None or self.courtesy_recipients or self.subject
                    or self.timestamp is not None or self.required or self.additional_headers
                    or self.dispositions or self.sender is not None)


def choose_wrapping(content_type: str, needs_cpim: bool, *, local_accept: Sequence[str],
                    remote_accept: Sequence[str], remote_wrapped: Sequence[str],
                    prefer_cpim: bool = True) -> bool:
    """Whether to wrap a message of `content_type` in CPIM; ChatStreamError if it cannot go."""
    cpim = contains_mime_type(local_accept, CPIM_CONTENT_TYPE) and \
        contains_mime_type(remote_accept, CPIM_CONTENT_TYPE)
    wrappable = cpim and contains_mime_type(remote_wrapped, content_type)
    direct = contains_mime_type(remote_accept, content_type)
    if needs_cpim or not direct:
        if not wrappable:
            raise ChatStreamError(
                f"the peer does not accept {content_type}" if not needs_cpim else
                "recipients, cc, subject, timestamp, required and additional headers "
                "need CPIM, which the peer does not accept for this content type")
        return True
    return prefer_cpim and wrappable


def _identity(header: Any) -> ChatIdentity | None:
    uri = getattr(header, "uri", None)
    if uri is None:
        return None
    try:
        return ChatIdentity(uri, getattr(header, "display_name", None) or None)
    except BuilderError:
        return None


class ChatStream(ChatRoomMixin, MSRPStreamBase):
    type = "chat"
    priority = 1

    media_type = "message"
    accept_types = ["message/cpim", "text/*", "image/*", COMPOSING_CONTENT_TYPE]
    accept_wrapped_types = ["text/*", "image/*", COMPOSING_CONTENT_TYPE, IMDN_CONTENT_TYPE]
    prefer_cpim = True

    def __init__(self, account: Any, direction: str = "sendrecv") -> None:
        super().__init__(account, direction)
        self._queue: list[OutgoingChatMessage] = []  # before the service session is ready
        self._ready = False
        self._pending: dict[str, OutgoingChatMessage] = {}  # sent, outcome awaited
        # Keeps the order of queued and new messages; never taken on the bus thread
        # (sending makes bus calls, which the bus thread must not wait for).
        self._send_lock = threading.Lock()
        self._dispositions = Dispositions()
        # RFC 3994 4: the peer's "active" lapses to idle when no refresh comes
        self._composing_timer: threading.Timer | None = None
        # RFC 7701 a=chatroom of our m-line: set (before the offer or answer) by an
        # application that is a chat room's focus, e.g. ["nickname", "private-messages"]
        self.local_chatroom_capabilities: list[str] = []
        self.local_nickname: str | None = None  # the last one the focus accepted
        self._nicknames: dict[str, str] = {}  # our NICKNAME transactions -> nickname

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> ChatStream:
        offer = cls._read_offer(remote_sdp, stream_index)
        media = remote_sdp.media[stream_index]
        if "file-selector" in media.attributes:
            raise InvalidStreamError("an m-line with a=file-selector is a file transfer")
        if offer.direction != "sendrecv":
            raise InvalidStreamError(f"a chat must be sendrecv, not {offer.direction}")
        stream = cls(account)
        stream._remote_offer = offer
        return stream

    # --- sending -------------------------------------------------------------------

    def send_message(self, content: str | bytes, content_type: str = "text/plain",
                     recipients: Iterable[ChatIdentity] | None = None,
                     courtesy_recipients: Iterable[ChatIdentity] | None = None,
                     subject: str | None = None, timestamp: datetime | None = None,
                     required: Iterable[str] | None = None,
                     additional_headers: Iterable[CPIMHeader] | None = None,
                     dispositions: Iterable[str] | None = None,
                     sender: ChatIdentity | None = None) -> str:
        """Send (or queue until the stream starts) a message; its MSRP Message-ID.

        `dispositions` (``positive-delivery``, ``negative-delivery``,
        ``display``) asks the peer for IMDN notifications (RFC 5438), which name
        the returned id. `sender` (the CPIM From, by default ours) is a chat
        room's: only a stream whose session is the focus relays messages on
        behalf of its participants."""
        try:
            asked = checked_dispositions(dispositions or ())
        except DispositionError as exc:
            raise ChatStreamError(str(exc)) from None
        message = OutgoingChatMessage(
            secrets.token_hex(8),
            content.encode("utf-8") if isinstance(content, str) else bytes(content),
            content_type, tuple(recipients) if recipients is not None else None,
            tuple(courtesy_recipients or ()), subject, timestamp, tuple(required or ()),
            tuple(additional_headers or ()), dispositions=asked, sender=sender)
        self._submit(message)
        return message.message_id

    def send_display_notification(self, message_id: str, status: str = "displayed") -> None:
        """Tell the sender that its message `message_id` (ChatStreamGotMessage's
        ``message_id``) was displayed (or ``forbidden``, ``error``), as it asked.

        ChatStreamError if it asked for no display notification (or was answered
        already) or the stream cannot send it. Safe on any thread."""
        if status not in ("displayed", "forbidden", "error"):
            raise ChatStreamError(f"{status!r} is not a display status")
        received = self._dispositions.take_display(message_id)
        if received is None:
            raise ChatStreamError(f"message {message_id} asked for no display notification")
        if not self._notify(received, "display", status):
            self._dispositions.owe_display(received)  # still owed: the caller may retry
            raise ChatStreamError("the peer cannot take IMDN notifications now")

    def send_composing_indication(self, state: str, refresh: int | None = None,
                                  last_active: datetime | None = None,
                                  recipients: Iterable[ChatIdentity] | None = None) -> str:
        body = IsComposingMessage(state, last_active, None, refresh).encode()
        message = OutgoingChatMessage(
            secrets.token_hex(8), body, COMPOSING_CONTENT_TYPE,
            tuple(recipients) if recipients is not None else None, notify=False)
        self._submit(message)
        return message.message_id

    def _submit(self, message: OutgoingChatMessage) -> None:
        with self._send_lock:
            if self._state == "ended":
                raise ChatStreamError("the stream has ended")
            if not self._ready:
                self._queue.append(message)
                return
            self._send(message, raising=True)

    def _session_ready(self) -> None:
        with self._send_lock:
            queued, self._queue = self._queue, []
            self._ready = True
            for message in queued:
                self._send(message, raising=False)

    def _send(self, message: OutgoingChatMessage, raising: bool) -> None:
        remote = self.remote_media
        assert remote is not None and self.msrp_session_id is not None
        try:
            try:
                check_recipients(message.recipients, message.courtesy_recipients,
                                 self._remote_identity(), self.private_messages_allowed)
            except RecipientsError as exc:
                raise ChatStreamError(str(exc)) from None
            if message.sender is not None and not getattr(self.session, "local_focus", False):
                raise ChatStreamError("only a conference focus sends on behalf of another "
                                      "sender")
            cpim = choose_wrapping(message.content_type, message.needs_cpim,
                                   local_accept=self.accept_types,
                                   remote_accept=remote.accept_types,
                                   remote_wrapped=remote.accept_wrapped_types,
                                   prefer_cpim=self.prefer_cpim)
            payload: Any
            if cpim:
                payload = self._wrap(message)
                content_type, body = CPIM_CONTENT_TYPE, payload.encode()
            else:
                payload = ChatMessage(_content(message.content, message.content_type),
                                      message.content_type, self._local_identity(),
                                      _present(self._remote_identity()), None,
                                      message.message_id)
                content_type, body = message.content_type, message.content
            message = _with_payload(message, payload)
            if message.notify:
                self._pending[message.message_id] = message
            self._dispositions.sent(message.message_id, message.dispositions)
            msrp_call("send_message", session_id=self.msrp_session_id,
                      content_type=content_type, body=body, message_id=message.message_id,
                      success_report=message.notify,
                      failure_report="yes" if message.notify else "no")
        except (ChatStreamError, MSRPStreamError, BuilderError) as exc:
            self._pending.pop(message.message_id, None)
            if raising:
                raise ChatStreamError(str(exc)) from exc
            if message.notify:
                self._post("ChatStreamDidNotDeliverMessage", message_id=message.message_id,
                           code=0, reason=str(exc), chunk=None)
            return
        if message.notify:
            self._post("ChatStreamDidSendMessage", message_id=message.message_id,
                       message=payload, content_type=content_type)

    def _wrap(self, message: OutgoingChatMessage) -> CPIMMessage:
        recipients = message.recipients
        if recipients is None:
            recipients = _present(self._remote_identity())
        parameters: tuple[tuple[str, str], ...] = ()
        if message.content_type.lower().startswith("text/"):
            parameters = (("charset", "utf-8"),)
        sender = message.sender or self._local_identity()
        cpim = CPIMMessage(
            message.content, message.content_type.split(";", 1)[0].strip(), parameters,
            sender=CPIMIdentity(sender.uri, sender.display_name) if sender else None,
            recipients=tuple(CPIMIdentity(r.uri, r.display_name) for r in recipients),
            courtesy_recipients=tuple(CPIMIdentity(r.uri, r.display_name)
                                      for r in message.courtesy_recipients),
            subject=_subject(message.subject),
            timestamp=message.timestamp or datetime.now(UTC),
            required=message.required, additional_headers=message.additional_headers)
        if message.dispositions:
            assert cpim.timestamp is not None
            cpim = IMDNRequest(message.message_id, cpim.timestamp,
                               message.dispositions).apply(cpim)
        return cpim

    def _local_identity(self) -> ChatIdentity | None:
        identity = _identity(getattr(self.session, "local_identity", None))
        return identity if identity is not None else _identity(self.account)

    def _remote_identity(self) -> ChatIdentity | None:
        return _identity(getattr(self.session, "remote_identity", None))

    # --- outcomes and receiving (bus thread) ----------------------------------------

    def _message_outcome(self, message_id: str, delivered: bool, code: int, reason: str) -> None:
        if self._pending.pop(message_id, None) is None:
            return
        name = "ChatStreamDidDeliverMessage" if delivered else "ChatStreamDidNotDeliverMessage"
        self._post(name, message_id=message_id, code=code, reason=reason, chunk=None)

    def end(self) -> None:
        never = self._state == "new"  # the base has nothing to end then, but we may
        super().end()                 # hold queued messages that will never go
        if never:
            self._stream_ended()

    def _stream_ended(self) -> None:
        self._composing_lapse(None)
        with self._send_lock:
            lost = [m for m in self._queue if m.notify] + list(self._pending.values())
            self._queue, self._pending = [], {}
        for message in lost:
            self._post("ChatStreamDidNotDeliverMessage", message_id=message.message_id,
                       code=408, reason="the stream ended", chunk=None)

    def _message_received(self, message_id: str, content_type: str | None, body: bytes) -> None:
        bare = (content_type or "").split(";", 1)[0].strip().lower()
        remote = self._remote_identity()
        if bare == CPIM_CONTENT_TYPE:
            try:
                cpim = CPIMMessage.decode(body)
            except CPIMParseError as exc:
                log.warning("%r: dropped a malformed CPIM message %s: %s", self, message_id, exc)
                return
            sender = cpim.sender or (CPIMIdentity(remote.uri, remote.display_name)
                                     if remote else None)
            if cpim.content_type == COMPOSING_CONTENT_TYPE:
                self._composing(cpim.content, sender, list(cpim.recipients))
                return
            if cpim.content_type == IMDN_CONTENT_TYPE:
                self._disposition(cpim.content, sender)
                return
            self._cpim_received(cpim, sender, message_id)
            return
        if bare == COMPOSING_CONTENT_TYPE:
            self._composing(body, remote, _present(self._local_identity()))
            return
        message = ChatMessage(_content(body, bare), bare or "application/octet-stream", remote,
                              _present(self._local_identity()), datetime.now(UTC), message_id)
        self._post("ChatStreamGotMessage", message=message, message_id=message_id,
                   dispositions=[], private=False)

    def _cpim_received(self, cpim: CPIMMessage, sender: CPIMIdentity | None,
                       message_id: str) -> None:
        try:
            request = IMDNRequest.from_message(cpim)
        except IMDNParseError as exc:  # it cannot be answered; the message itself is fine
            log.info("%r: message %s asks for IMDN wrongly: %s", self, message_id, exc)
            request = None
        received = Received(request, sender) if request is not None else None
        asked = request.notifications if request is not None else ()
        refusal = self._refusal(cpim)
        if refusal is not None:
            log.warning("%r: dropped message %s: %s", self, message_id, refusal)
            if received is not None and "negative-delivery" in asked:
                self._notify(received, "delivery", "failed")
            return
        # RFC 3862 leaves From and DateTime out at times: the session's peer, now.
        if cpim.sender is None and sender is not None:
            cpim = _replace(cpim, sender=sender)
        if cpim.timestamp is None:
            cpim = _replace(cpim, timestamp=datetime.now(UTC))
        if received is not None:
            if "display" in asked:  # before the application may answer it
                self._dispositions.owe_display(received)
            if "positive-delivery" in asked:
                self._notify(received, "delivery", "delivered")
        self._post("ChatStreamGotMessage", message=cpim,
                   message_id=request.message_id if request is not None else message_id,
                   dispositions=list(asked), private=self._is_private(cpim.recipients))

    def _refusal(self, cpim: CPIMMessage) -> str | None:
        """Why a CPIM message cannot be handed to the application (None: it can)."""
        if not contains_mime_type(self.accept_wrapped_types, cpim.content_type):
            return f"{cpim.content_type} is not accepted wrapped in CPIM"
        missing = not_understood(cpim)
        if missing:
            return f"it requires headers not understood here: {', '.join(missing)}"
        return None

    def _disposition(self, body: bytes, sender: ChatIdentity | None) -> None:
        try:
            notification = IMDNNotification.parse(body)
        except IMDNParseError as exc:
            log.warning("%r: dropped a malformed IMDN notification: %s", self, exc)
            return
        if not self._dispositions.expected(notification):
            log.info("%r: an IMDN notification for %s, which did not ask for it", self,
                     notification.message_id)
            return
        self._post("ChatStreamGotDispositionNotification", message_id=notification.message_id,
                   kind=notification.kind, status=notification.status, sender=sender,
                   notification=notification)

    def _notify(self, received: Received, kind: str, status: str) -> bool:
        """Send our IMDN notification without waiting (this may run on the bus thread);
        False when the peer cannot take it."""
        remote, session_id = self.remote_media, self.msrp_session_id
        if remote is None or session_id is None or self._state == "ended":
            return False
        if not (contains_mime_type(self.accept_types, CPIM_CONTENT_TYPE)
                and contains_mime_type(remote.accept_types, CPIM_CONTENT_TYPE)
                and contains_mime_type(remote.accept_wrapped_types, IMDN_CONTENT_TYPE)):
            log.info("%r: the peer takes no IMDN notifications; %s %s not sent", self, kind,
                     status)
            return False
        local = self._local_identity()
        message = notification_for(received, kind, status, CPIMIdentity(
            local.uri, local.display_name) if local is not None else None)
        try:
            msrp_call_async("send_message", self, session_id=session_id,
                            content_type=CPIM_CONTENT_TYPE, body=message.encode(),
                            success_report=False, failure_report="no")
        except MSRPStreamError as exc:
            log.info("%r: IMDN %s %s not sent: %s", self, kind, status, exc)
            return False
        return True

    def _composing(self, body: bytes, sender: ChatIdentity | None,
                   recipients: Sequence[ChatIdentity]) -> None:
        try:
            indication = IsComposingMessage.parse(body)
        except IsComposingParseError as exc:
            log.warning("%r: dropped a malformed composing indication: %s", self, exc)
            return
        self._post("ChatStreamGotComposingIndication", state=indication.state,
                   refresh=indication.refresh, last_active=indication.last_active,
                   content_type=indication.content_type, sender=sender,
                   recipients=list(recipients), private=self._is_private(recipients))
        if indication.state == "active":
            self._composing_lapse(indication.refresh or COMPOSING_REFRESH, sender, recipients)
        else:
            self._composing_lapse(None)

    def _composing_lapse(self, after: float | None, sender: ChatIdentity | None = None,
                         recipients: Sequence[ChatIdentity] = ()) -> None:
        """(Re)arm the timer that turns the peer's "active" into "idle" (RFC 3994 4:
        no refresh within its interval), or only cancel it (`after` None)."""
        timer, self._composing_timer = self._composing_timer, None
        if timer is not None:
            timer.cancel()
        if after is None:
            return

        def lapse() -> None:
            if self._composing_timer is not new:
                return
            self._composing_timer = None
            self._post("ChatStreamGotComposingIndication", state="idle", refresh=None,
                       last_active=None, content_type=None, sender=sender,
                       recipients=list(recipients), private=self._is_private(recipients))

        new = threading.Timer(after, lapse)
        new.daemon = True
        self._composing_timer = new
        new.start()


def _content(data: bytes, content_type: str) -> str | bytes:
    if content_type.lower().startswith("text/"):
        return data.decode("utf-8", errors="replace")
    return data


def _subject(subject: str | None) -> MultilingualText | None:
    if subject is None or isinstance(subject, MultilingualText):
        return subject  # its translations kept
    return MultilingualText(subject)


def _present(identity: ChatIdentity | None) -> tuple[ChatIdentity, ...]:
    return (identity,) if identity is not None else ()


def _with_payload(message: OutgoingChatMessage, payload: Any) -> OutgoingChatMessage:
    return replace(message, payload=payload)


def _replace(message: CPIMMessage, **changes: Any) -> CPIMMessage:
    return replace(message, **changes)
