"""ConferenceRoom: a conference focus hosted by one of our accounts (RFC 4579).

The room takes the INVITEs to its URI (the SessionManager hands them over
instead of posting SIPSessionNewIncoming) and answers them with a Contact
carrying ``isfocus``; the participants' audio streams are mixed in the media
service, each hearing all the others and not itself (`ConferenceBridge`). It
is the notifier of the `conference` event package at its URI (RFC 4575):
the full state for a new subscription, then a partial document for each
join, leave or mute (`Roster`), each subscription counting its own versions.
A REFER in a participant's dialog adds (dials out, reporting 100/180/200 or
the failure as sipfrag NOTIFYs) or, with ``method=BYE``, removes a
participant (RFC 4579 5.5, 5.10).

The room's state lives on its own worker: session, subscription and REFER
events are handed to it from whichever thread posted them.

Notifications (sender: the room): ConferenceRoomDidStart, ConferenceRoomDidEnd,
ConferenceRoomParticipantDidJoin, ConferenceRoomParticipantDidChange,
ConferenceRoomParticipantDidLeave (each with ``participant``, a `Participant`),
ConferenceRoomDidAddParticipant (``uri``) and ConferenceRoomDidNotAddParticipant
(``uri``, ``code``, ``reason``) for dial-outs.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sipsimple.audio import AudioError, AudioMixer
from sipsimple.bus.client import BusError, ServiceError, get_bus
from sipsimple.core import SIPURI, AddressHeader, ReferToHeader, ToHeader, parse_uri
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.payloads.cpim import CPIMIdentity
from sipsimple.payloads.errors import BuilderError
from sipsimple.session import Session, SessionManager
from sipsimple.threading import Worker

from .chat import composing, deliver, nickname_answer, relay
from .mixing import ConferenceBridge
from .notifier import ConferenceSubscriptions
from .roster import Participant, Roster

__all__ = ["ConferenceRoom", "Participant"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
ROOM_STREAMS = ("audio", "chat")  # what a participant may bring
_SESSION_NOTIFICATIONS = (
    "SIPSessionDidStart", "SIPSessionDidEnd", "SIPSessionDidFail",
    "SIPSessionGotProvisionalResponse", "SIPSessionDidChangeHoldState",
)
_SUBSCRIPTION_EVENTS = (
    "signalling.subscription_incoming", "signalling.subscription_ended",
    "signalling.subscription_failed",
)
_OBSERVED = (*_SUBSCRIPTION_EVENTS, "ServiceDidRestart")
_CHAT_NOTIFICATIONS = ("ChatStreamGotMessage", "ChatStreamGotComposingIndication",
                       "ChatStreamGotNicknameRequest")
CHATROOM = ["nickname", "private-messages"]  # what the room's chat offers (RFC 7701)


@dataclass
class _Referral:
    """A REFER being carried out: whom to report the outcome to."""

    session: Session | None  # the referrer's leg (None: the host's own add/remove)
    transfer_id: str | None
    uri: SIPURI


def room_uri(account: Any, uri: Any) -> SIPURI:
    """The room's address: a SIP URI, or a bare name at the account's domain."""
    text = str(uri).strip()
    if "@" not in text and ":" not in text:
        return SIPURI(user=text, host=account.domain)
    parsed = AddressHeader.parse(text).uri if text.startswith(("<", '"')) else parse_uri(text)
    if not isinstance(parsed, SIPURI) or not parsed.user:
        raise ValueError(f"a room needs a SIP URI with a user part, not {uri!r}")
    return SIPURI(user=parsed.user, host=parsed.host, port=parsed.port, secure=parsed.secure)


class ConferenceRoom:
    def __init__(self, account: Any, uri: Any = "conference", display_name: str | None = None,
                 subject: str | None = None) -> None:
        self.account = account
        self.uri = room_uri(account, uri)
        self.display_name = display_name or self.uri.user
        self.roster = Roster(str(self.uri), self.display_name, subject)
        self.state = "new"  # new, started, ended
        self.bridge = ConferenceBridge(AudioMixer("voice"))
        self._worker: Worker | None = None
        self._lock = threading.RLock()
        self._keys: dict[Session, str] = {}  # participant legs (joined or joining) -> key
        self.subscriptions = ConferenceSubscriptions(self.roster, self._signalling)
        self._claims: list[SIPURI] = []
        self._adding: dict[Session, _Referral] = {}  # our dial-outs
        self._removing: dict[Session, list[_Referral]] = {}
        self._nicknames: dict[str, str] = {}  # participant key -> nickname (RFC 7701)
        self._emptied = threading.Event()  # set when the room has ended and its calls too

    def __repr__(self) -> str:
        return f"<ConferenceRoom {self.uri} {self.state} {len(self.roster)} participants>"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Take the room's URI: INVITEs and conference SUBSCRIBEs to it come here."""
        with self._lock:
            if self.state != "new":
                raise RuntimeError(f"{self!r} was started already")
            self.state = "started"
            self._worker = Worker(f"sipsimple-room-{self.uri.user}")
        center = NotificationCenter()
        for name in _OBSERVED:
            center.add_observer(self, name=name)
        try:
            for uri in self._addresses():
                SessionManager().add_focus(uri, self)
                self._claims.append(uri)
                get_bus().call("signalling", "claim_account", timeout=BUS_TIMEOUT, aor=str(uri))
        except (BusError, ValueError):  # nothing half-taken stays behind
            self._give_back()
            with self._lock:
                self.state = "ended"
            self._worker.stop(STOP_TIMEOUT)
            raise
        self._post("ConferenceRoomDidStart")

    def _claim_again(self) -> None:
        """A new signalling service knows nothing of us: claim the URIs again (its
        subscriptions went with the old one; the sessions end on their own)."""
        self.subscriptions.forget_all()
        if self.state != "started":
            return
        for uri in self._claims:
            if not self._signalling("claim_account", aor=str(uri)):
                log.error("%r: %s is not ours on the new signalling service", self, uri)

    def _addresses(self) -> list[SIPURI]:
        """The room's URI, and the same user at the signalling service's address: the
        Contact of our answers names that one, and the participants subscribe there."""
        addresses = [self.uri]
        host = get_bus().call("signalling", "get_transports", timeout=BUS_TIMEOUT).get("host")
        hosts = ["127.0.0.1"] if host in (None, "", "0.0.0.0") else [host]
        if host == "::":
            hosts = ["::1"]
        for name in hosts:
            if name.lower() != self.uri.host.lower():
                addresses.append(SIPURI(user=self.uri.user, host=name))
        return addresses

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """End every participant's call and every subscription, and give the URI back."""
        with self._lock:
            if self.state != "started":
                return
            self.state = "ended"
            worker = self._worker
        assert worker is not None
        done = threading.Event()

        def finish() -> None:
            self.subscriptions.end_all()
            for session in [*self._keys, *self._adding]:
                session.end()
            self._check_emptied()
            done.set()

        deadline = time.monotonic() + timeout
        worker.submit(finish)
        done.wait(timeout)
        # the calls' ends come back through the worker: wait for them (bounded), so that
        # every participant is seen leaving
        self._emptied.wait(max(0.0, deadline - time.monotonic()))
        self._give_back()
        worker.stop(max(0.5, deadline - time.monotonic()))
        self._post("ConferenceRoomDidEnd")

    def _give_back(self) -> None:
        center = NotificationCenter()
        for name in _OBSERVED:
            center.discard_observer(self, name=name)
        for uri in self._claims:
            SessionManager().remove_focus(uri, self)
            try:
                get_bus().call("signalling", "release_account", timeout=BUS_TIMEOUT, aor=str(uri))
            except BusError as exc:
                log.info("%r: releasing %s: %s", self, uri, exc)
        self._claims.clear()

    @property
    def participants(self) -> list[Participant]:
        return list(self.roster)

    # --- the host's own operations -------------------------------------------------------

    def add_participant(self, uri: Any) -> None:
        """Dial `uri` into the room (as a REFER from a participant would)."""
        target = _sip_uri(uri)
        self._submit(lambda: self._dial(_Referral(None, None, target)))

    def remove_participant(self, uri: Any) -> None:
        """End the calls of `uri` with the room."""
        target = _sip_uri(uri)
        self._submit(lambda: self._remove(_Referral(None, None, target)))

    def mute(self, uri: Any, muted: bool = True) -> None:
        """Whether the others hear `uri` (a muted participant still hears them)."""
        text = str(_sip_uri(uri))
        self._submit(lambda: self._mute(text, muted))

    def _mute(self, uri: str, muted: bool) -> None:
        for participant in self.roster.find(uri):
            session = self._session_of(participant.key)
            audio = _stream(session, "audio")
            if session is None or audio is None:
                continue
            try:
                self.bridge.set_muted(audio, muted)
            except AudioError as exc:
                log.warning("%r: muting %s: %s", self, uri, exc)
                continue
            self._changed(participant.key, audio=_audio_status(session, self.bridge))

    # --- incoming calls (from the SessionManager, on a session worker) ---------------------

    def session_incoming(self, session: Session, streams: list[Any]) -> None:
        chosen = [s for s in streams if getattr(s, "type", None) in ROOM_STREAMS]
        if self.state != "started":
            session.reject(480, "Temporarily Unavailable")
            return
        if not chosen:
            session.reject(488, "Not Acceptable Here")
            return
        with self._lock:
            self._keys[session] = uuid.uuid4().hex[:12]
        for stream in chosen:
            if stream.type == "audio":
                stream.mixer = self.bridge.mixer  # the room's worker: one mix holds every leg
            if stream.type == "chat":
                stream.local_chatroom_capabilities = list(CHATROOM)
                # its requests may come before the session's start: observed from now
                NotificationCenter().add_observer(self, name="ChatStreamGotNicknameRequest",
                                                  sender=stream)
        NotificationCenter().add_observer(self, sender=session)
        session.accept(chosen, is_focus=True)

    # --- REFER (RFC 4579 5.5), from a participant's session worker --------------------------

    def refer_received(self, session: Session, data: Any) -> None:
        self._submit(lambda: self._refer(session, data))

    def _refer(self, session: Session, data: Any) -> None:
        transfer_id = data.transfer_id
        try:
            target = ReferToHeader.parse(data.refer_to).uri
        except ValueError:
            target = None
        if not isinstance(target, SIPURI):
            self._transfer(session, "reject_transfer", transfer_id=transfer_id, code=400,
                           reason="Bad Refer-To")
            return
        method = str(target.parameters.get("method") or "INVITE").upper()
        parameters = {k: v for k, v in target.parameters.items() if k.lower() != "method"}
        plain = SIPURI(user=target.user, host=target.host, port=target.port,
                       secure=target.secure, parameters=parameters)
        referral = _Referral(session, transfer_id, plain)
        if method == "BYE":
            if not self.roster.find(str(plain)):
                self._transfer(session, "reject_transfer", transfer_id=transfer_id, code=404,
                               reason="Not A Participant")
                return
            if self._transfer(session, "accept_transfer", transfer_id=transfer_id):
                self._remove(referral)
        elif method == "INVITE":
            if self._transfer(session, "accept_transfer", transfer_id=transfer_id):
                self._dial(referral)
        else:
            self._transfer(session, "reject_transfer", transfer_id=transfer_id, code=501,
                           reason="Not Implemented")

    def _dial(self, referral: _Referral) -> None:
        if self.state != "started":
            self._report(referral, 480, "Temporarily Unavailable")
            return
        # off the worker: the lookup of the route may take seconds
        threading.Thread(target=self._call, args=(referral,), daemon=True,
                         name="sipsimple-room-dial").start()

    def _call(self, referral: _Referral) -> None:
        from sipsimple.session.transfer import routes_for
        from sipsimple.streams import AudioStream

        session: Session | None = None
        try:
            routes = routes_for(self.account, referral.uri)
            if not routes:
                raise ValueError("no route")
            session = Session(self.account)
            session.focus_room = self
            NotificationCenter().add_observer(self, sender=session)
            with self._lock:
                self._adding[session] = referral
                self._keys[session] = uuid.uuid4().hex[:12]
            audio = AudioStream(self.account)
            audio.mixer = self.bridge.mixer  # the room's worker: one mix holds every leg
            session.connect(ToHeader(referral.uri), routes, [audio], is_focus=True)
        except Exception as exc:
            log.info("%r: cannot call %s: %s", self, referral.uri, exc)
            with self._lock:
                if session is not None:
                    self._adding.pop(session, None)
                    self._keys.pop(session, None)
            reason = f"cannot call: {exc}"[:80]
            self._submit(lambda: self._added(referral, 500, reason))

    def _added(self, referral: _Referral, code: int, reason: str | None) -> None:
        self._report(referral, code, reason)
        if 200 <= code < 300:
            self._post("ConferenceRoomDidAddParticipant", uri=referral.uri)
        else:
            self._post("ConferenceRoomDidNotAddParticipant", uri=referral.uri, code=code,
                       reason=reason)

    def _remove(self, referral: _Referral) -> None:
        sessions = [s for p in self.roster.find(str(referral.uri))
                    if (s := self._session_of(p.key)) is not None]
        if not sessions:
            self._report(referral, 404, "Not A Participant")
            return
        for session in sessions:
            self._removing.setdefault(session, []).append(referral)
            session.end()

    def _report(self, referral: _Referral, code: int, reason: str | None) -> None:
        """The outcome (or a 1xx) of a REFER as a sipfrag NOTIFY to its referrer."""
        if referral.session is None or referral.transfer_id is None:
            return
        self._transfer(referral.session, "transfer_progress", transfer_id=referral.transfer_id,
                       code=code, reason=(reason or "")[:80] or None)

    def _transfer(self, session: Session, method: str, **params: Any) -> bool:
        if session._sid is None:
            return False
        return self._signalling(method, session_id=session._sid, **params)

    # --- session events ------------------------------------------------------------------

    def handle_notification(self, notification: Notification) -> None:
        name, sender, data = notification.name, notification.sender, notification.data
        if name == "ServiceDidRestart":
            if getattr(data, "service", None) == "signalling":
                self._submit(self._claim_again)
        elif name.startswith("signalling.subscription_"):
            self._subscription_event(name, data)
        elif name in _SESSION_NOTIFICATIONS:
            self._submit(lambda: self._session_event(name, sender, data))
        elif name == "ChatStreamGotMessage":
            self._submit(lambda: self._chat(sender, data.message))
        elif name == "ChatStreamGotNicknameRequest":
            self._submit(lambda: self._nickname(sender, data.transaction_id, data.nickname))
        elif name == "ChatStreamGotComposingIndication":
            self._submit(lambda: self._chat(sender, composing(
                data.state, data.refresh, data.last_active, data.content_type,
                [r for r in data.recipients or () if r != data.sender])))

    def _session_event(self, name: str, session: Session, data: Any) -> None:
        referral = self._adding.get(session)
        if name == "SIPSessionGotProvisionalResponse":
            if referral is not None and 100 < data.code < 200:
                self._report(referral, data.code, data.reason)
        elif name == "SIPSessionDidStart":
            self._joined(session)
            if referral is not None:
                del self._adding[session]
                self._added(referral, 200, "OK")
        elif name == "SIPSessionDidChangeHoldState":
            key = self._keys.get(session)
            if key is not None and key in self.roster:
                self._changed(key, audio=_audio_status(session, self.bridge))
        elif name in ("SIPSessionDidEnd", "SIPSessionDidFail"):
            NotificationCenter().discard_observer(self, sender=session)
            if referral is not None:
                del self._adding[session]
                code = getattr(data, "code", None) or 0
                if name == "SIPSessionDidEnd" or code < 300:
                    code = 500  # it ended before it started: no code of the target's
                reason = getattr(data, "reason", None) or getattr(data, "failure_reason", None)
                self._added(referral, code, reason)
            self._left(session)
            for removal in self._removing.pop(session, []):
                self._report(removal, 200, "OK")
            self._check_emptied()

    def _joined(self, session: Session) -> None:
        key = self._keys.get(session)
        if key is None or self.state != "started":
            session.end()
            return
        identity = session.remote_identity
        uri = _address_of(identity)
        participant = Participant(
            key=key, uri=uri, endpoint=session._remote_contact or uri,
            display_name=getattr(identity, "display_name", None) or None,
            joining_method="dialed-out" if session in self._adding else "dialed-in",
            nickname=self._nicknames.get(key),
            audio=None, chat=_stream(session, "chat") is not None,
        )
        audio = _stream(session, "audio")
        if audio is not None:
            try:
                self.bridge.add(audio)
            except (AudioError, ValueError) as exc:
                log.warning("%r: %s cannot be mixed: %s", self, uri, exc)
            participant = Participant(**{**participant.__dict__,
                                         "audio": _audio_status(session, self.bridge)})
        chat = _stream(session, "chat")
        if chat is not None:
            for chat_name in _CHAT_NOTIFICATIONS[:2]:
                NotificationCenter().add_observer(self, name=chat_name, sender=chat)
        self._publish(self.roster.join(participant))
        log.info("%r: %s joined", self, uri)
        self._post("ConferenceRoomParticipantDidJoin", participant=participant)

    def _left(self, session: Session) -> None:
        with self._lock:
            key = self._keys.pop(session, None)
        if key is not None:
            self._nicknames.pop(key, None)
        audio = _stream(session, "audio")
        if audio is not None:
            self.bridge.remove(audio, unlink=False)  # its end takes its links along
        for chat in [*session.streams, *(session.proposed_streams or ())]:
            if getattr(chat, "type", None) == "chat":
                for chat_name in _CHAT_NOTIFICATIONS:
                    NotificationCenter().discard_observer(self, name=chat_name, sender=chat)
        if key is None or key not in self.roster:
            return
        participant = self.roster.get(key)
        assert participant is not None
        self.roster.leave(key)
        others = self.roster.find(participant.uri)
        self._publish(participant.uri, left=participant.endpoint if others else None)
        log.info("%r: %s left", self, participant.uri)
        self._post("ConferenceRoomParticipantDidLeave", participant=participant)

    def _check_emptied(self) -> None:
        with self._lock:
            if self.state == "ended" and not self._keys and not self._adding:
                self._emptied.set()

    def _changed(self, key: str, publish: bool = True, **changes: Any) -> None:
        """A participant changed; `publish`: in what the conference state shows."""
        participant = self.roster.get(key)
        if participant is None or all(getattr(participant, k) == v for k, v in changes.items()):
            return
        uri = self.roster.update(key, **changes)
        if publish:
            self._publish(uri)
        self._post("ConferenceRoomParticipantDidChange", participant=self.roster.get(key))

    # --- chat (RFC 7701 style relay) ---------------------------------------------------------

    def _chat(self, stream: Any, message: Any) -> None:
        streams = {key: chat for session, key in list(self._keys.items())
                   if key in self.roster and (chat := _stream(session, "chat")) is not None}
        sender_key = next((key for key, chat in streams.items() if chat is stream), None)
        sender = self.roster.get(sender_key) if sender_key is not None else None
        if sender_key is None or sender is None:
            return
        try:
            members = {key: _chat_identity(self.roster.get(key)) for key in streams}
            relayed = relay(message, sender_key, _chat_identity(sender),
                            CPIMIdentity(self.uri, self.display_name), members)
        except (BuilderError, ValueError) as exc:
            log.warning("%r: a message from %s cannot be relayed: %s", self, sender.uri, exc)
            return
        for identity in relayed.unknown:
            log.info("%r: private message from %s to %s, who is not in the room", self,
                     sender.uri, identity.uri)
        for key, outgoing in relayed.messages:
            try:
                deliver(streams[key], outgoing)
            except Exception as exc:  # one participant's failing stream stops no other
                log.warning("%r: relaying to %s failed: %s", self, key, exc)

    def _nickname(self, stream: Any, transaction_id: str, nickname: str) -> None:
        """RFC 7701: one nickname per participant, unique in the room."""
        key = next((k for session, k in list(self._keys.items())
                    if any(s is stream for s in [*session.streams,
                                                 *(session.proposed_streams or ())])), None)
        if key is None:
            code, reason = 403, "Not A Participant"
        else:
            code, reason = nickname_answer(nickname, key, self._nicknames)
        if code == 200 and key is not None:
            self._nicknames[key] = nickname
            if key in self.roster:
                self._changed(key, publish=False, nickname=nickname)  # not in RFC 4575
        try:
            stream.answer_nickname(transaction_id, code, reason)
        except Exception as exc:  # the stream ended meanwhile
            log.info("%r: answering a NICKNAME: %s", self, exc)

    def _session_of(self, key: str) -> Session | None:
        with self._lock:
            return next((s for s, k in self._keys.items() if k == key), None)

    # --- the conference event package (RFC 4575) -------------------------------------------

    def _subscription_event(self, name: str, data: Any) -> None:
        """On the bus thread: keep only this room's subscriptions."""
        sid = getattr(data, "subscription_id", None)
        if not isinstance(sid, str):
            return
        if name == "signalling.subscription_incoming":
            try:
                if getattr(data, "client", None) != get_bus().client_id:
                    return
            except Exception:
                return
            target = _sip_uri_or_none(getattr(data, "request_uri", None))
            if target is None or not any(
                    target.user == uri.user and target.host.lower() == uri.host.lower()
                    for uri in self._claims):
                return
            event = str(getattr(data, "event", "") or "").split(";")[0].strip().lower()
            self._submit(lambda: self._subscribed(sid, event))
        else:
            self._submit(lambda: self.subscriptions.ended(sid))

    def _subscribed(self, sid: str, event: str) -> None:
        self.subscriptions.incoming(sid, event, self.state == "started")

    def _publish(self, uri: str, left: str | None = None) -> None:
        self.subscriptions.publish(uri, left)

    # --- helpers --------------------------------------------------------------------------

    def _submit(self, task: Any) -> None:
        worker = self._worker
        if worker is None:
            raise RuntimeError(f"{self!r} is not started")
        worker.submit(task)

    def _signalling(self, method: str, **params: Any) -> bool:
        try:
            get_bus().call("signalling", method, timeout=BUS_TIMEOUT, **params)
        except BusError as exc:
            # not-found: the subscription ended at the service meanwhile, its event on
            # its way (nothing is lost: no warning)
            gone = isinstance(exc, ServiceError) and exc.code == "not-found"
            log.log(logging.INFO if gone else logging.WARNING,
                    "%r: signalling %s failed: %s", self, method, exc)
            return False
        return True

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))


def _stream(session: Session | None, kind: str) -> Any:
    if session is None:
        return None
    return next((s for s in session.streams or () if getattr(s, "type", None) == kind), None)


def _chat_identity(participant: Participant | None) -> CPIMIdentity:
    assert participant is not None
    return CPIMIdentity(parse_uri(participant.uri), participant.display_name)


def _audio_status(session: Session, bridge: ConferenceBridge) -> str | None:
    """The participant's audio as RFC 4575 media status, from the focus's side."""
    audio = _stream(session, "audio")
    if audio is None:
        return None
    if audio.on_hold:
        return "inactive"
    return "recvonly" if bridge.is_muted(audio) else "sendrecv"


def _address_of(identity: Any) -> str:
    # the participant's address of record: no port or parameters (a dial-out's To may
    # name the port it was reached at)
    uri = getattr(identity, "uri", None)
    if isinstance(uri, SIPURI):
        return str(SIPURI(user=uri.user, host=uri.host, secure=uri.secure))
    return str(uri or identity)


def _sip_uri(value: Any) -> SIPURI:
    if isinstance(value, SIPURI):
        return value
    uri = _sip_uri_or_none(str(value))
    if uri is None:
        raise ValueError(f"{value!r} is not a SIP URI")
    return uri


def _sip_uri_or_none(text: str | None) -> SIPURI | None:
    if not text:
        return None
    text = text.strip()
    try:
        uri = AddressHeader.parse(text).uri if text.startswith(("<", '"')) else parse_uri(text)
    except ValueError:
        return None
    return uri if isinstance(uri, SIPURI) else None
