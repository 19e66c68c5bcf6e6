"""ConferenceHandler: a Session's conference with a focus (RFC 4575, RFC 4579).

When a session is established with a focus (the remote Contact carries
`isfocus`), the Session makes a ConferenceHandler. It subscribes to the
`conference` event package at the focus URI (the dialog's remote target),
merges every conference-info NOTIFY into the conference's state
(`sipsimple.payloads.conference.merge`) and posts
SIPSessionGotConferenceInfo with the merged state. `add_participant(uri)`
and `remove_participant(uri)` send a REFER to the focus in the INVITE
dialog (RFC 4579 5.5 and 5.10): `Refer-To: <uri>` and `<uri;method=BYE>`.
The subscription ends with the session.

Everything runs on the SessionManager's worker, as the Session does:
subscription events reach the handler through the notification center and
are handed over to the worker; REFER events come from the Session.
`check_notify` is the pure part: one NOTIFY body against the current state.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core import SIPURI, AddressHeader, ReferToHeader, Route, parse_uri
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.payloads.conference import (
    Conference,
    ConferenceParseError,
    ResubscribeError,
    StaleVersionError,
    merge,
)
from sipsimple.payloads.xml import MAX_XML_SIZE

if TYPE_CHECKING:
    from .session import Session

__all__ = ["CONTENT_TYPE", "ConferenceHandler", "NotifyOutcome", "check_notify", "start_conference"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
CONTENT_TYPE = "application/conference-info+xml"
# new subscriptions in a row that broke down after their first document: the focus is
# broken, stop asking (else a focus whose updates always skip a version keeps us busy)
MAX_RESUBSCRIBES = 3
_SUBSCRIPTION_EVENTS = ("signalling.subscription_started", "signalling.subscription_notify",
                        "signalling.subscription_ended", "signalling.subscription_failed")


@dataclass(frozen=True)
class NotifyOutcome:
    """What one NOTIFY does: a new state to post, or why it was dropped."""

    state: Conference | None = None  # the merged state, to post
    problem: str | None = None  # why the body was not used (for the log)
    resubscribe: bool = False  # the state is unknown: subscribe again


def check_notify(current: Conference | None, body: bytes | None, content_type: str | None,
                 *, max_size: int = MAX_XML_SIZE) -> NotifyOutcome:
    """The outcome of a conference NOTIFY carrying `body` on state `current`.

    `current` is None for the first document of a subscription. A NOTIFY
    without a body (the subscription's state only) changes nothing.
    """
    if not body:
        return NotifyOutcome()
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind != CONTENT_TYPE:
        return NotifyOutcome(problem=f"content type {content_type!r} is not {CONTENT_TYPE}")
    if len(body) > max_size:  # refused before any parsing, whatever it holds
        return NotifyOutcome(problem=f"body of {len(body)} bytes is over {max_size}")
    try:
        document = Conference.parse(body, max_size=max_size)
    except ConferenceParseError as exc:
        what = "refused (unsafe XML)" if exc.unsafe else "malformed"
        return NotifyOutcome(problem=f"conference-info {what}: {exc}")
    try:
        return NotifyOutcome(state=merge(current, document))
    except StaleVersionError as exc:
        return NotifyOutcome(problem=f"stale conference-info: {exc}")
    except ResubscribeError as exc:
        return NotifyOutcome(problem=f"conference state lost: {exc}", resubscribe=True)


@dataclass
class _Referral:
    kind: str  # "Add" or "Remove"
    participant: SIPURI


class ConferenceHandler:
    """The document's ConferenceHandler; `Session.conference` while in a conference."""

    def __init__(self, session: Session, focus: SIPURI) -> None:
        self.session = session
        self.focus = focus
        self._route: Route | None = None
        self._subscription: str | None = None
        self._state: Conference | None = None  # the last good merged state
        self._fresh = True  # the next document is a new subscription's first
        self._resubscribes = 0
        self._referrals: dict[str, _Referral] = {}
        self._ended = False

    def __repr__(self) -> str:
        return f"<ConferenceHandler {self.focus} of {self.session!r}>"

    @property
    def conference_info(self) -> Conference | None:
        """The conference's current state (the last one posted), or None."""
        return self._state

    # --- the document's methods ------------------------------------------------

    def add_participant(self, participant_uri: Any) -> None:
        """REFER the focus to invite `participant_uri` into the conference."""
        self._refer("Add", _sip_uri(participant_uri))

    def remove_participant(self, participant_uri: Any) -> None:
        """REFER the focus to remove `participant_uri` from the conference (method=BYE)."""
        self._refer("Remove", _sip_uri(participant_uri))

    def _refer(self, kind: str, participant: SIPURI) -> None:
        target = participant
        if kind == "Remove":
            parameters = dict(participant.parameters)
            parameters["method"] = "BYE"
            target = SIPURI(host=participant.host, user=participant.user,
                            port=participant.port, secure=participant.secure,
                            parameters=parameters)
        refer_to = str(ReferToHeader(target))
        session = self.session

        def send() -> None:
            if self._ended:
                session._post(f"SIPConferenceDidNot{kind}Participant", participant=participant,
                              code=0, reason="the session has ended")
                return
            try:
                reply = get_bus().call("signalling", "refer", timeout=BUS_TIMEOUT,
                                       session_id=session._sid, refer_to=refer_to,
                                       referred_by=str(session.account.uri))
            except BusError as exc:
                log.warning("%r: REFER for %s failed: %s", self, participant, exc)
                session._post(f"SIPConferenceDidNot{kind}Participant", participant=participant,
                              code=0, reason=str(exc))
                return
            self._referrals[reply["transfer_id"]] = _Referral(kind, participant)

        session._submit(send)

    # --- REFER events (from the Session, on the worker) -------------------------

    def transfer_event(self, kind: str, data: Any) -> bool:
        """A signalling.transfer_* event; True if it was one of our REFERs."""
        referral = self._referrals.get(getattr(data, "transfer_id", None) or "")
        if referral is None:
            return False
        post, participant = self.session._post, referral.participant
        if kind == "progress":
            code, reason = data.code, data.reason
            if code < 200:
                post(f"SIPConferenceGot{referral.kind}ParticipantProgress",
                     participant=participant, code=code, reason=reason)
            else:
                self._finish(data.transfer_id, referral, code, reason)
        elif kind == "failed":
            self._finish(data.transfer_id, referral, data.code, data.reason)
        elif kind == "ended":
            code = data.code if data.code >= 300 else 0
            reason = data.reason if code else "the focus sent no final status"
            self._finish(data.transfer_id, referral, code, reason)
        return True  # "accepted" (the 202) has no notification of its own

    def _finish(self, transfer_id: str, referral: _Referral, code: int, reason: str) -> None:
        del self._referrals[transfer_id]
        if 200 <= code < 300:
            self.session._post(f"SIPConferenceDid{referral.kind}Participant",
                               participant=referral.participant)
        else:
            self.session._post(f"SIPConferenceDidNot{referral.kind}Participant",
                               participant=referral.participant, code=code, reason=reason)

    # --- the subscription --------------------------------------------------------

    def start(self) -> None:
        """Subscribe to the focus's conference package (called on the worker).

        The SUBSCRIBE goes where any new request to the focus URI goes: the
        account's outbound proxy, else the URI's own address (RFC 3263). The
        lookup runs on a thread of its own, as a transfer target's does.
        """
        center = NotificationCenter()
        for name in _SUBSCRIPTION_EVENTS:
            center.add_observer(self, name=name)
        threading.Thread(target=self._look_up, daemon=True,
                         name="sipsimple-conference").start()

    def _look_up(self) -> None:
        from .transfer import routes_for

        try:
            routes = routes_for(self.session.account, self.focus)
        except Exception as exc:
            log.warning("%r: no route to the focus: %s", self, exc)
            return
        if not routes:
            log.warning("%r: no route to the focus", self)
            return

        def subscribe() -> None:
            self._route = routes[0]
            self._subscribe()

        try:
            self.session._submit(subscribe)
        except RuntimeError as exc:  # the application stopped during the lookup
            log.info("%r: no subscription to the conference: %s", self, exc)

    def _subscribe(self) -> None:
        account = self.session.account
        if self._ended or self._route is None:
            return
        try:
            reply = get_bus().call(
                "signalling", "subscribe", timeout=BUS_TIMEOUT,
                from_uri=str(account.uri), to_uri=str(self.focus), event="conference",
                route=self._route.to_bus(), accept=[CONTENT_TYPE],
                expires=int(account.sip.subscribe_interval),
                credentials=account.credentials.to_bus(),
            )
        except BusError as exc:
            log.warning("%r: SUBSCRIBE to the conference failed: %s", self, exc)
            return
        self._subscription = reply["subscription_id"]
        self._fresh = True

    def _unsubscribe(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is None:
            return
        # not waited for: the session's end must not wait on a service that went away
        # (the service ends a gone client's subscriptions itself)
        try:
            future = get_bus().call_async("signalling", "unsubscribe",
                                          {"subscription_id": subscription}, BUS_TIMEOUT)
        except BusError as exc:
            log.info("%r: unsubscribing failed: %s", self, exc)
            return
        future.add_done_callback(self._unsubscribed)

    def _unsubscribed(self, future: Any) -> None:
        error = future.exception()
        if error is not None:
            log.info("%r: unsubscribing failed: %s", self, error)

    def handle_notification(self, notification: Notification) -> None:
        # bus events come on the bus client's thread: the worker handles them in order
        if notification.name in _SUBSCRIPTION_EVENTS:
            name, data = notification.name, notification.data
            self.session._submit(lambda: self._subscription_event(name, data))

    def _subscription_event(self, name: str, data: Any) -> None:
        if self._ended or getattr(data, "subscription_id", None) != self._subscription:
            return
        if name == "signalling.subscription_notify":
            self._got_notify(data)
        elif name in ("signalling.subscription_ended", "signalling.subscription_failed"):
            log.info("%r: the conference subscription ended: %s %s", self,
                     getattr(data, "code", ""), getattr(data, "reason", None))
            self._subscription = None

    def _got_notify(self, data: Any) -> None:
        outcome = check_notify(None if self._fresh else self._state, data.body,
                               data.content_type)
        if outcome.problem is not None:
            log.warning("%r: conference NOTIFY ignored: %s", self, outcome.problem)
        if outcome.resubscribe:
            self._resubscribe()
            return
        if outcome.state is None:
            return
        if not self._fresh:  # a subscription that got past its first document works
            self._resubscribes = 0
        self._state, self._fresh = outcome.state, False
        self.session._post("SIPSessionGotConferenceInfo", conference_info=outcome.state)

    def _resubscribe(self) -> None:
        """Keep the last good state; a new subscription gets a full document."""
        if self._resubscribes >= MAX_RESUBSCRIBES:
            log.warning("%r: the conference state was lost %d times in a row: giving up "
                        "the subscription", self, self._resubscribes + 1)
            self._unsubscribe()
            return
        self._resubscribes += 1
        self._unsubscribe()
        self._subscribe()

    # --- the end -------------------------------------------------------------------

    def session_ended(self) -> None:
        """The session is over (on the worker): the subscription ends; REFERs fail."""
        if self._ended:
            return
        self._ended = True
        center = NotificationCenter()
        for name in _SUBSCRIPTION_EVENTS:
            center.discard_observer(self, name=name)
        self._unsubscribe()
        for transfer_id, referral in list(self._referrals.items()):
            self._finish(transfer_id, referral, 0, "the session has ended")


def _sip_uri(value: Any) -> SIPURI:
    if isinstance(value, SIPURI):
        return value
    text = str(value).strip()
    uri = AddressHeader.parse(text).uri if text.startswith(("<", '"')) else parse_uri(text)
    if not isinstance(uri, SIPURI):
        raise ValueError(f"{value!r} is not a SIP URI")
    return uri


def start_conference(session: Session, contact: str | None) -> ConferenceHandler | None:
    """The handler of a session just started with a focus, subscribing (on the worker).

    The focus URI is the remote Contact's (RFC 4579 section 3: the conference
    URI), else the remote identity's.
    """
    focus = None
    for value in (contact, getattr(session.remote_identity, "uri", None)):
        try:
            focus = _sip_uri(value) if value is not None else None
        except ValueError:
            continue
        if focus is not None:
            break
    if focus is None:
        log.warning("%r: the focus has no SIP URI to subscribe to", session)
        return None
    handler = ConferenceHandler(session, focus)
    handler.start()
    return handler
