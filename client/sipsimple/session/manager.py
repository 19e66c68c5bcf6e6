"""SessionManager: the singleton that owns the sessions' workers and routes events to them.

Every session runs on one of `WORKERS` workers, always the same one, so that
its state needs no lock while a session waiting on a service (a blocking
media or signalling call) does not hold up the sessions of the other
workers. A bus event goes from the bus thread straight to the worker of its
session (one hand-off): the route of a session id is known from the
incoming event, or from `session_bound` once the INVITE's reply named it;
events that arrive before that reply wait in a small backlog and are handed
over, in order, when the session is bound.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.bus.schema import EVENTS
from sipsimple.core import SIPURI, FromHeader, ToHeader, parse_uri
from sipsimple.core.sdp import FrozenSDPSession, SDPNegotiationError, parse_offer
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.streams.interface import InvalidStreamError, UnknownStreamError
from sipsimple.streams.registry import MediaStreamRegistry
from sipsimple.threading import Singleton, Worker

from .session import BUS_TIMEOUT, Session
from .states import ACTIVE

__all__ = ["SessionManager"]

log = logging.getLogger(__name__)

# the reason phrases of the codes this module refuses calls with
_PHRASES = {400: "Bad Request", 404: "Not Found", 488: "Not Acceptable Here"}
STOP_TIMEOUT = 3.0  # bound on ending every session in stop(); the accounts need time after
WORKERS = 4  # threads the sessions are spread over (each session stays on one)
BACKLOG_LIMIT = 64  # session ids whose early events are kept until the session is bound
# what the manager reads, by name: not every notification of the process
OBSERVED = (
    *sorted(name for name in EVENTS["signalling"]
            if name.startswith(("signalling.session_", "signalling.transfer_"))),
    "signalling.incoming_refused", "signalling.subscription_incoming", "ServiceDidDisconnect",
    "ServiceDidRestart", "NetworkConditionsDidChange",
)


class SessionManager(metaclass=Singleton):
    """Handles incoming sessions and ends all sessions on stop (started by SIPApplication)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._workers: list[Worker] = []
        self._turn = itertools.count()
        self._sessions: list[Session] = []
        self._by_sid: dict[str, Session] = {}
        self._routes: dict[str, Worker] = {}  # session id -> the worker of its session
        self._backlog: dict[str, list[Any]] = {}  # early events of ids not bound yet
        self._foci: dict[tuple[str | None, str], Any] = {}  # (user, host) -> ConferenceRoom

    @property
    def sessions(self) -> list[Session]:
        """The active sessions: every one not in the None or terminated state."""
        with self._lock:
            return [s for s in self._sessions if s.state in ACTIVE]

    @property
    def started(self) -> bool:
        return bool(self._workers)

    def start(self) -> None:
        with self._lock:
            if self._workers:
                return
            self._workers = [Worker(f"sipsimple-sessions-{i}") for i in range(WORKERS)]
        center = NotificationCenter()
        for name in OBSERVED:
            center.add_observer(self, name=name)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """End every session and wait (bounded by `timeout`) for them to terminate."""
        with self._lock:
            workers = list(self._workers)
            if not workers:
                return
            sessions = list(self._sessions)
        deadline = time.monotonic() + timeout
        for session in sessions:
            try:
                session.end()
            except Exception:
                log.exception("ending %r", session)
        while time.monotonic() < deadline and any(s.state in ACTIVE for s in sessions):
            time.sleep(0.02)

        for session in sessions:  # whatever did not end in time ends here, without SIP
            self.submit(lambda s=session: s.service_lost("the SessionManager stopped"), session)
        center = NotificationCenter()
        for name in OBSERVED:
            center.discard_observer(self, name=name)
        with self._lock:
            self._workers = []
        for worker in workers:
            worker.stop(max(0.5, deadline - time.monotonic()))
        with self._lock:
            self._sessions.clear()
            self._by_sid.clear()
            self._routes.clear()
            self._backlog.clear()

    # --- what sessions call -----------------------------------------------------

    def submit(self, task: Any, session: Session | None = None) -> None:
        """Run `task` on the worker of `session` (any worker without one)."""
        with self._lock:
            worker = self._worker_of(session)
        if worker is None:
            self.check_running()
        else:
            worker.submit(task)

    def _worker_of(self, session: Session | None) -> Worker | None:
        """The session's worker, given on first use (called under the lock)."""
        if not self._workers:
            return None
        worker = session._worker if session is not None else None
        if worker is None or worker not in self._workers:  # new, or from before a restart
            worker = self._workers[next(self._turn) % len(self._workers)]
            if session is not None:
                session._worker = worker
        return worker

    def check_running(self) -> None:
        if not self._workers:
            raise RuntimeError("the SessionManager is not running (start the SIPApplication)")

    def session_created(self, session: Session) -> None:
        with self._lock:
            self._sessions.append(session)

    def session_bound(self, session: Session, sid: str) -> None:
        """`sid` is the session's: its events go to the session's worker from now on,
        after those that came before (held in the backlog)."""
        with self._lock:
            self._by_sid[sid] = session
            worker = self._worker_of(session)
            if worker is None:
                return
            self._routes[sid] = worker
            for task in self._backlog.pop(sid, ()):
                worker.submit(task)

    def session_unbound(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)
            self._routes.pop(sid, None)

    def session_finished(self, session: Session) -> None:
        with self._lock:
            if session in self._sessions:
                self._sessions.remove(session)
            for sid in [k for k, v in self._by_sid.items() if v is session]:
                del self._by_sid[sid]
                self._routes.pop(sid, None)

    def streams_for_offer(
        self, account: Any, offer: FrozenSDPSession, indexes: Iterable[int]
    ) -> list[tuple[Any, int]]:
        """A stream for each offered m-line a registered class takes, by class priority."""
        streams: list[tuple[Any, int]] = []
        for index in indexes:
            if offer.media[index].port == 0:
                continue
            for cls in MediaStreamRegistry:
                try:
                    stream = cls.new_from_sdp(account, offer, index)  # type: ignore[attr-defined]
                except UnknownStreamError:
                    continue
                except InvalidStreamError as exc:
                    log.info("m-line %d refused by %s: %s", index, cls.__name__, exc)
                    break
                except Exception:
                    log.exception("%s.new_from_sdp raised", cls.__name__)
                    continue
                if stream is not None:
                    streams.append((stream, index))
                    break
        return streams

    # --- events -----------------------------------------------------------------

    def handle_notification(self, notification: Notification) -> None:
        name = notification.name
        if name.startswith(("signalling.session_", "signalling.transfer_")):
            if name != "signalling.session_incoming" and not hasattr(
                    Session, "_ev_" + name.partition(".")[2]):
                return  # no Session reads it: not worth a hand-off to the worker
            data = notification.data
            try:
                mine = getattr(data, "client", None) == get_bus().client_id
            except Exception:
                return
            if mine:
                self._submit_event(name, data)
        elif name == "signalling.incoming_refused":
            data = notification.data
            self._refused(data, getattr(data, "code", 0), getattr(data, "reason", None),
                          "signalling")
        elif name == "signalling.subscription_incoming":
            self._unserved_subscription(notification.data)
        elif name == "NetworkConditionsDidChange":
            # each session looks whether its media must move (an ICE restart, docs/nat.md)
            for session in self.sessions:
                with contextlib.suppress(RuntimeError):  # stopped meanwhile
                    self.submit(session.network_changed, session)
        elif name in ("ServiceDidDisconnect", "ServiceDidRestart") and (
            getattr(notification.data, "service", None) == "signalling"
        ):
            self._submit_lost(name)

    def _submit_event(self, name: str, data: NotificationData) -> None:
        """On the bus thread: hand the event to the worker of its session."""
        sid = getattr(data, "session_id", None)
        if not isinstance(sid, str):
            return
        with self._lock:
            if not self._workers:
                return
            if name == "signalling.session_incoming":
                chosen = self._worker_of(None)
                assert chosen is not None
                self._routes[sid] = chosen
                chosen.submit(lambda: self._incoming(data, chosen))
                return
            worker = self._routes.get(sid)
            task = lambda: self._dispatch(name, data)  # noqa: E731
            if worker is not None:
                worker.submit(task)
                return
            # ours, but the INVITE's reply naming it has not come back yet (or its
            # session is gone: the backlog's bound drops those)
            self._backlog.setdefault(sid, []).append(task)
            while len(self._backlog) > BACKLOG_LIMIT:
                del self._backlog[next(iter(self._backlog))]

    def _submit_lost(self, name: str) -> None:
        reason = ("the signalling service restarted" if name == "ServiceDidRestart"
                  else "the signalling service went away")
        with self._lock:
            sessions = list(self._sessions)
            self._by_sid.clear()
            self._routes.clear()
            self._backlog.clear()
        for session in sessions:
            with contextlib.suppress(RuntimeError):  # stopped meanwhile
                self.submit(lambda s=session: s.service_lost(reason), session)

    def _dispatch(self, name: str, data: NotificationData) -> None:
        with self._lock:
            session = self._by_sid.get(data.session_id)
        if session is not None:
            session.handle_bus_event(name, data)

    # --- conference rooms (we are the focus) ------------------------------------

    def add_focus(self, uri: SIPURI, room: Any) -> None:
        """INVITEs to `uri` (user and host) go to `room`, not to SIPSessionNewIncoming."""
        with self._lock:
            key = (uri.user, uri.host.lower())
            if self._foci.get(key, room) is not room:
                raise ValueError(f"{uri} is another room's already")
            self._foci[key] = room

    def remove_focus(self, uri: SIPURI, room: Any) -> None:
        with self._lock:
            key = (uri.user, uri.host.lower())
            if self._foci.get(key) is room:
                del self._foci[key]

    def _unserved_subscription(self, data: NotificationData) -> None:
        """On the bus thread: a SUBSCRIBE to one of our accounts that no room serves.

        The facade serves no event package but a room's ``conference``, so the
        rest get 489 Bad Event at once (RFC 6665 8.2.1) rather than no answer
        until the subscriber's transaction times out.
        """
        sid = getattr(data, "subscription_id", None)
        try:
            mine = getattr(data, "client", None) == get_bus().client_id
        except Exception:
            return
        if not mine or not isinstance(sid, str) or self._find_focus(data) is not None:
            return
        log.info("SUBSCRIBE for %r to %s: no package served here, 489",
                 getattr(data, "event", None), getattr(data, "request_uri", None))
        try:
            get_bus().call_async("signalling", "reject_subscription",
                                 {"subscription_id": sid, "code": 489, "reason": "Bad Event"},
                                 BUS_TIMEOUT)
        except BusError as exc:
            log.info("rejecting subscription %s: %s", sid, exc)

    def _find_focus(self, data: NotificationData) -> Any:
        with self._lock:
            if not self._foci:
                return None
            for text in (data.to, data.request_uri):
                uri = _sip_uri(text)
                if uri is not None:
                    room = self._foci.get((uri.user, uri.host.lower()))
                    if room is not None:
                        return room
        return None

    def _incoming(self, data: NotificationData, worker: Worker) -> None:
        sid = data.session_id
        room = self._find_focus(data)
        account = room.account if room is not None else self._find_account(data)
        if account is None:
            self._reject(sid, 404, "Not Found", refused=data)
            return
        offer: FrozenSDPSession | None = None
        streams: list[tuple[Any, int]] = []
        if data.body:
            try:
                offer = parse_offer(data.body)
            except SDPNegotiationError as exc:
                self._reject(sid, exc.status, None, exc.warning, refused=data)
                return
            streams = self.streams_for_offer(account, offer, range(len(offer.media)))
            if not streams:
                self._reject(sid, 488, None, "no acceptable stream in the offer", refused=data)
                return
        session = Session(account)
        session._worker = worker  # where the session's later events are routed already
        session.focus_room = room
        session.init_incoming(data, [s for s, _ in streams], offer, dict(streams))
        replaced = getattr(data, "replaced_session_id", None)
        with self._lock:
            if replaced is not None:
                session.replaced_session = self._by_sid.get(replaced)
            self._sessions.append(session)
            self._by_sid[sid] = session
        if room is not None:  # a participant joining: the room answers, not the application
            room.session_incoming(session, [s for s, _ in streams])
            return
        NotificationCenter().post_notification(
            "SIPSessionNewIncoming", session,
            NotificationData(timestamp=datetime.now(), streams=[s for s, _ in streams]))

    def _find_account(self, data: NotificationData) -> Any:
        from sipsimple.account import AccountManager

        manager = AccountManager()
        for text in (data.to, data.request_uri):
            uri = _sip_uri(text)
            if uri is None:
                continue
            for account in manager.iter_accounts():
                if not account.enabled:
                    continue
                if account.user == uri.user and account.domain.lower() == uri.host.lower():
                    return account
        # a call to a user no account has, given to one that claimed any user at this address
        claimed = _sip_uri(getattr(data, "account", None))
        if claimed is None:
            return None
        for account in manager.iter_accounts():
            if account.enabled and account.user == claimed.user and (
                    account.domain.lower() == claimed.host.lower()):
                return account
        return None

    def _reject(self, sid: str, code: int, reason: str | None, warning: str | None = None,
                *, refused: NotificationData | None = None) -> None:
        with self._lock:
            self._routes.pop(sid, None)  # no session: its last events are dropped
        text = (warning or "").replace('"', "'").replace("\\", "/")
        headers = [["Warning", f'399 sipsimple "{text}"']] if warning else None
        try:
            get_bus().call("signalling", "reject", timeout=BUS_TIMEOUT, session_id=sid,
                           code=code, reason=reason, headers=headers)
        except BusError as exc:
            log.warning("rejecting incoming session %s: %s", sid, exc)
        if refused is not None:
            self._refused(refused, code, reason or _PHRASES.get(code), "client",
                          warning or "no account for this user")

    @staticmethod
    def _refused(data: NotificationData, code: int, reason: str | None, refused_by: str,
                 detail: str | None = None) -> None:
        """SIPSessionIncomingRefused: a call refused before any Session existed for it."""
        remote, local = _identity(FromHeader, getattr(data, "from", None)), _identity(
            ToHeader, getattr(data, "to", None))
        NotificationCenter().post_notification(
            "SIPSessionIncomingRefused", SessionManager(),
            NotificationData(
                timestamp=datetime.now(), code=code, reason=reason,
                remote_identity=remote, local_identity=local,
                request_uri=getattr(data, "request_uri", None), refused_by=refused_by,
                detail=detail or (f"no account here takes calls for {local}"
                                  if code == 480 else None)))


def _identity(kind: type[FromHeader] | type[ToHeader], text: Any) -> Any:
    """The From or To of a refused INVITE without its tag, as a Session has them (or None)."""
    if not isinstance(text, str):
        return None
    try:
        return kind.parse(text).with_tag(None)
    except ValueError:
        return None


def _sip_uri(text: str | None) -> SIPURI | None:
    if not text:
        return None
    from sipsimple.core import AddressHeader

    try:
        uri = AddressHeader.parse(text).uri if "<" in text else parse_uri(text)
    except ValueError:
        return None
    return uri if isinstance(uri, SIPURI) else None
