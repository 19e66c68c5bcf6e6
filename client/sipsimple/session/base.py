"""The state every Session holds, and what all its parts use: bus calls,
notifications, and the streams' life cycle through barriers.

`Session` (session.py) is built in layers so that each module stays readable:
`SessionBase` here, `Renegotiation` (renegotiation.py: re-INVITEs either way,
hold) on top of it, and `Session` with the document's methods, the INVITE
exchange and the end. All of it runs on the session's worker (one of the
SessionManager's); see session.py for the threading rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sipsimple.bus.client import BusError, ServiceError, get_bus
from sipsimple.bus.schema import ErrorCode
from sipsimple.core import FromHeader, Route, ToHeader
from sipsimple.core.sdp import (
    FrozenSDPSession,
)
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.threading import Worker

from .barrier import Deadline, StreamBarrier

if TYPE_CHECKING:
    from sipsimple.account import Account

    from .session import Session

__all__ = ["BUS_TIMEOUT", "END_TIMEOUT", "STREAM_TIMEOUT", "SessionBase"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
STREAM_TIMEOUT = 15.0  # for MediaStreamDidInitialize / MediaStreamDidStart
END_TIMEOUT = 5.0  # for the service to confirm a BYE/CANCEL before we call it ended

_STREAM_NOTIFICATIONS = (
    "MediaStreamDidInitialize", "MediaStreamDidStart", "MediaStreamDidFail",
)


class SessionBase:
    """The attributes of the document's Session and the helpers all its layers use."""

    def __init__(self, account: Account) -> None:
        self.account = account
        self.state: str | None = None
        self.direction: str | None = None
        self.transport: str | None = None
        self.start_time: datetime | None = None
        self.stop_time: datetime | None = None
        self.remote_user_agent: str | None = None
        self.local_identity: FromHeader | ToHeader | None = None
        self.remote_identity: FromHeader | ToHeader | None = None
        self.streams: list[Any] = []
        self.proposed_streams: list[Any] | None = None
        self.conference: Any = None  # the ConferenceHandler comes with conferences
        self.subject: str | None = None
        self.replaced_session: Session | None = None
        self.transfer_handler: Any = None
        self.transfer_info: Any = None
        self.remote_focus = False
        self._remote_contact: str | None = None  # the focus URI when remote_focus
        # the ConferenceRoom this session is a participant's leg of (we are the focus):
        # REFERs in it are the room's (RFC 4579 5.5), not call transfers
        self.focus_room: Any = None

        self._lock = threading.RLock()
        self._worker: Worker | None = None  # the SessionManager's worker running this session
        self._sid: str | None = None  # the signalling service's session id
        self.call_id: str | None = None
        self._local_sdp: FrozenSDPSession | None = None
        self._remote_sdp: FrozenSDPSession | None = None
        self._offer: FrozenSDPSession | None = None  # what we offered, awaiting the answer
        self._remote_offer: FrozenSDPSession | None = None  # what they offered, to answer
        self._indexes: dict[Any, int] = {}  # stream -> m-line index
        self._barrier: StreamBarrier | None = None
        self._observed: set[Any] = set()
        self._routes: list[Route] = []
        self._route_index = 0
        self._invite_args: dict[str, Any] = {}
        self._got_response = False
        self._ending = False  # end()/reject() was called: failures are "user_request"
        self._end_timer: Deadline | None = None
        self._hold_wanted = False  # what the application asked for
        self._hold_sent = False  # what our last completed offer said
        self._proposal: dict[str, Any] | None = None  # our pending re-offer
        self._pending_removals: list[Any] = []
        self._address_check = False  # the network changed: look whether the media must move
        self._media_address: str | None = None  # where the media moved to (docs/nat.md)
        self._is_focus = False
        self._failure_reason: str | None = None  # why we are ending a session that never started
        self._ending_code: int | None = None
        self._source = "127.0.0.1"  # where an incoming INVITE came from
        self._proposed_indexes: dict[Any, int] = {}
        self._dialog: tuple[str, str, str] | None = None  # call-id, local tag, remote tag

    def __repr__(self) -> str:
        return f"<Session {self.direction or 'new'} {self.state} {self.remote_identity}>"

    @property
    def local_focus(self) -> bool:
        """Whether we called or answered as a conference focus (``isfocus``, RFC 4579)."""
        return self._is_focus

    # --- helpers ----------------------------------------------------------------

    @property
    def _manager(self) -> Any:
        from .manager import SessionManager

        return SessionManager()

    def _submit(self, task: Callable[[], object]) -> None:
        self._manager.submit(task, self)

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))

    def _bus(self, method: str, **params: Any) -> bool:
        """A signalling call for this session; False (and a log line) if it failed."""
        if params.get("session_id", "") is None:
            return False
        try:
            get_bus().call("signalling", method, timeout=BUS_TIMEOUT, **params)
        except ServiceError as exc:
            # ending what the service no longer has (a new instance after a crash) is no fault
            quiet = method == "end" and exc.code == ErrorCode.NOT_FOUND
            (log.info if quiet else log.warning)("%r: signalling %s failed: %s", self, method,
                                                 exc)
            return False
        except BusError as exc:
            log.warning("%r: signalling %s failed: %s", self, method, exc)
            return False
        return True

    def _session_address(self) -> str:
        """The address of our descriptions' c= (and of new streams' sockets): the
        first description's, or where an address change moved the media since."""
        if self._media_address is not None:
            return self._media_address
        assert self._local_sdp is not None
        return str(self._local_sdp.address)

    def _set_state(self, state: str) -> None:
        with self._lock:
            self.state = state

    def _user_agent(self) -> str:
        from sipsimple.configuration.settings import SIPSimpleSettings

        return str(SIPSimpleSettings().user_agent)

    # --- streams ----------------------------------------------------------------

    def _observe(self, stream: Any) -> None:
        if stream not in self._observed:
            self._observed.add(stream)
            center = NotificationCenter()
            for name in _STREAM_NOTIFICATIONS:
                center.add_observer(self, name=name, sender=stream)

    def _forget(self, stream: Any) -> None:
        if stream in self._observed:
            self._observed.discard(stream)
            center = NotificationCenter()
            for name in _STREAM_NOTIFICATIONS:
                center.discard_observer(self, name=name, sender=stream)

    def handle_notification(self, notification: Notification) -> None:
        # stream notifications arrive on whatever thread the stream posts from
        name, stream = notification.name, notification.sender
        reason = getattr(notification.data, "reason", None)
        self._submit(lambda: self._stream_event(stream, name, reason))

    def _stream_event(self, stream: Any, name: str, reason: str | None) -> None:
        if self._barrier is not None and self._barrier.report(stream, name, reason):
            return
        if name == "MediaStreamDidFail" and stream in self.streams:
            log.info("%r: %r failed: %s", self, stream, reason)
            self._pending_removals.append(stream)
            self._next_operation()

    def _wait(self, streams: list[Any], success: str, call: Callable[[Any], None],
              then: Callable[[list[Any], dict[Any, str]], None]) -> None:
        """Call `call` on every stream, then `then(succeeded, failed)` once all reported."""
        barrier = StreamBarrier(streams, success, self._barrier_done(then), self._submit,
                                STREAM_TIMEOUT)
        self._barrier = barrier
        for stream in streams:
            self._observe(stream)
        for stream in streams:
            try:
                call(stream)
            except Exception as exc:
                log.exception("%r: %r raised", self, stream)
                barrier.fail(stream, f"{type(exc).__name__}: {exc}")
        barrier.start()

    def _barrier_done(
        self, then: Callable[[list[Any], dict[Any, str]], None]
    ) -> Callable[[list[Any], dict[Any, str]], None]:
        def done(succeeded: list[Any], failed: dict[Any, str]) -> None:
            self._barrier = None
            then(succeeded, failed)
        return done

    def _initialize(self, streams: list[Any], direction: str,
                    then: Callable[[list[Any], dict[Any, str]], None]) -> None:
        self._wait(streams, "MediaStreamDidInitialize",
                   lambda s: s.initialize(self, direction), then)

    def _start_streams(self, streams: list[Any],
                       then: Callable[[list[Any], dict[Any, str]], None]) -> None:
        local, remote = self._local_sdp, self._remote_sdp
        self._wait(streams, "MediaStreamDidStart",
                   lambda s: s.start(local, remote, self._indexes[s]), then)

    def _end_streams(self, streams: Iterable[Any]) -> None:
        for stream in list(streams):
            self._forget(stream)
            self._indexes.pop(stream, None)
            try:
                stream.deactivate()
                stream.end()
            except Exception:
                log.exception("%r: ending %r raised", self, stream)

    # --- provided by the layers above ------------------------------------------

    def end(self) -> None:
        raise NotImplementedError

    def _next_operation(self) -> None:
        raise NotImplementedError

    def _current_local_address(self) -> str:
        raise NotImplementedError
