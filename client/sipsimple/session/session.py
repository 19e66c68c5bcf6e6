"""Session: one SIP session with its streams, as the Middleware API defines it.

SIP is done by the signalling service; the Session decides what the document
places in the middleware: which streams are offered and accepted, the SDP
offer/answer (through `sipsimple.core.sdp`), hold, and the notifications.

Threads. Public methods may be called from any thread: they check the state
table (`states.CALLS`) under the session's lock, move the state, and hand the
rest to the SessionManager's worker. Everything else (bus events, stream
notifications, timers) also runs on that worker, one task at a time, so the
session's negotiation state needs no lock of its own. Notifications are
posted from the worker, never while the lock is held.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sipsimple.bus.client import BusError, ServiceError, get_bus
from sipsimple.core import FromHeader, Route, ToHeader
from sipsimple.core.sdp import (
    FrozenSDPSession,
    SDPNegotiationError,
    parse_answer,
    parse_offer,
    validate_reoffer,
)
from sipsimple.notification import Notification, NotificationCenter, NotificationData

from .barrier import Deadline, StreamBarrier, call_later
from .sdp import answer_for, local_address_for, local_session, offer_for, place_streams
from .states import IllegalStateError, check_call

if TYPE_CHECKING:
    from sipsimple.account import Account

__all__ = ["Session"]

log = logging.getLogger(__name__)

BUS_TIMEOUT = 5.0
STREAM_TIMEOUT = 15.0  # for MediaStreamDidInitialize / MediaStreamDidStart
END_TIMEOUT = 5.0  # for the service to confirm a BYE/CANCEL before we call it ended
FAILOVER_CODES = frozenset({0, 408, 503})  # the route failed, not the call: try the next

_STREAM_NOTIFICATIONS = (
    "MediaStreamDidInitialize", "MediaStreamDidStart", "MediaStreamDidFail",
)


def _route_data(route: Route) -> dict[str, Any]:
    data: dict[str, Any] = {"host": route.address, "port": route.port,
                            "transport": route.transport}
    if route.tls_name:
        data["tls_name"] = route.tls_name
    return data


def _header(headers: Sequence[Sequence[str]] | None, name: str) -> str | None:
    for pair in headers or ():
        if pair[0].lower() == name.lower():
            return pair[1]
    return None


class Session:
    """A SIP session, incoming or outgoing; see the Middleware API document."""

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

        self._lock = threading.RLock()
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
        self._is_focus = False
        self._failure_reason: str | None = None  # why we are ending a session that never started
        self._ending_code: int | None = None
        self._source = "127.0.0.1"  # where an incoming INVITE came from
        self._proposed_indexes: dict[Any, int] = {}
        self._dialog: tuple[str, str, str] | None = None  # call-id, local tag, remote tag

    def __repr__(self) -> str:
        return f"<Session {self.direction or 'new'} {self.state} {self.remote_identity}>"

    # --- the document's methods ------------------------------------------------

    def connect(
        self, to_header: ToHeader, routes: Iterable[Route], streams: Iterable[Any],
        is_focus: bool = False, subject: str | None = None,
    ) -> None:
        routes, streams = list(routes), list(streams)
        if not routes:
            raise ValueError("connect needs at least one route")
        if not streams:
            raise ValueError("connect needs at least one stream")
        with self._lock:
            check_call("connect", self.state)
            self._manager.check_running()
            self.state = "connecting"
            self.direction = "outgoing"
            self.proposed_streams = list(streams)
            self.subject = subject
            self._is_focus = is_focus
            self._routes = routes
            self.transport = routes[0].transport
            self.local_identity = FromHeader(self.account.uri, self.account.display_name)
            self.remote_identity = to_header
        self._manager.session_created(self)
        self._post("SIPSessionNewOutgoing", streams=list(streams))
        self._submit(lambda: self._initialize(streams, "outgoing", self._send_invite))

    def send_ring_indication(self) -> None:
        with self._lock:
            check_call("send_ring_indication", self.state)
        self._submit(lambda: self._bus("ring", session_id=self._sid))

    def accept(self, streams: Iterable[Any], is_focus: bool = False) -> None:
        streams = list(streams)
        with self._lock:
            check_call("accept", self.state)  # the state first: it decides what is wrong
            if self._remote_offer is not None:
                offered = self.proposed_streams or []
                foreign = [s for s in streams if s not in offered]
                if foreign:
                    raise ValueError(f"not proposed streams: {foreign}")
            if not streams:
                raise ValueError("accept needs at least one stream; use reject() to refuse")
            self.state = check_call("accept", self.state)
            self._is_focus = is_focus
        rejected = [s for s in self.proposed_streams or [] if s not in streams]
        self._submit(lambda: self._accept(streams, rejected))

    def reject(self, code: int = 603, reason: str | None = None) -> None:
        if not 300 <= code <= 699:
            raise ValueError(f"a rejection needs a code from 300 to 699, not {code}")
        with self._lock:
            self.state = check_call("reject", self.state)
            self._ending = True
        self._submit(lambda: self._bus("reject", session_id=self._sid, code=code, reason=reason))

    def accept_proposal(self, streams: Iterable[Any]) -> None:
        streams = list(streams)
        with self._lock:
            check_call("accept_proposal", self.state)
            foreign = [s for s in streams if s not in (self.proposed_streams or [])]
            if foreign:
                raise ValueError(f"not proposed streams: {foreign}")
            if not streams:
                raise ValueError("accept_proposal needs a stream; use reject_proposal()")
            self.state = check_call("accept_proposal", self.state)
        self._submit(lambda: self._accept_proposal(streams))

    def reject_proposal(self, code: int = 488, reason: str | None = None) -> None:
        if not 300 <= code <= 699:
            raise ValueError(f"a rejection needs a code from 300 to 699, not {code}")
        with self._lock:
            self.state = check_call("reject_proposal", self.state)
        self._submit(lambda: self._reject_proposal(code, reason))

    def add_stream(self, stream: Any) -> None:
        with self._lock:
            check_call("add_stream", self.state)
            if stream in self.streams:
                raise ValueError(f"{stream!r} is already in the session")
            self.state = check_call("add_stream", self.state)
            self.proposed_streams = [stream]
        self._submit(lambda: self._add_stream(stream))

    def remove_stream(self, stream: Any) -> None:
        with self._lock:
            check_call("remove_stream", self.state)
            if stream not in self.streams:
                raise ValueError(f"{stream!r} is not in the session")
            self.state = check_call("remove_stream", self.state)
        self._submit(lambda: self._remove_streams([stream]))

    def cancel_proposal(self) -> None:
        with self._lock:
            proposal = self._proposal
            if proposal is not None and proposal["kind"] != "add":
                raise IllegalStateError("only a proposal to add streams can be cancelled")
            self.state = check_call("cancel_proposal", self.state)
        self._submit(self._cancel_proposal)

    def hold(self) -> None:
        with self._lock:
            self._hold_wanted = True
        self._submit(self._next_operation)

    def unhold(self) -> None:
        with self._lock:
            self._hold_wanted = False
        self._submit(self._next_operation)

    def end(self) -> None:
        with self._lock:
            if self.state in (None, "terminating", "terminated"):
                return  # nothing started, or already on its way out
            previous = self.state
            self.state = check_call("end", self.state)
            self._ending = True
        self._submit(lambda: self._end(previous))

    def transfer(self, target_uri: Any, replaced_session: Session | None = None) -> None:
        with self._lock:
            check_call("transfer", self.state)
        self._transfers.transfer(target_uri, replaced_session)

    def accept_transfer(self) -> None:
        with self._lock:
            check_call("accept_transfer", self.state)
        self._transfers.accept()

    def reject_transfer(self, code: int = 486, reason: str | None = None) -> None:
        with self._lock:
            check_call("reject_transfer", self.state)
        self._transfers.reject(code, reason)

    @property
    def on_hold(self) -> bool:
        return any(s.on_hold for s in self.streams)

    @property
    def local_sdp(self) -> FrozenSDPSession | None:
        return self._local_sdp

    @property
    def remote_sdp(self) -> FrozenSDPSession | None:
        return self._remote_sdp

    def local_media_address(self) -> str:
        """The local IP address of the session's descriptions, for streams to bind their media."""
        if self._local_sdp is not None:
            return str(self._local_sdp.address)
        if self.direction == "outgoing" and self._routes:
            return local_address_for(self._routes[self._route_index].address)
        return local_address_for(self._source)

    def _dialog_ids(self) -> tuple[str, str, str] | None:
        """(Call-ID, local tag, remote tag) of the established dialog, for Replaces."""
        return self._dialog

    # --- helpers ----------------------------------------------------------------

    @property
    def _manager(self) -> Any:
        from .manager import SessionManager

        return SessionManager()

    @property
    def _transfers(self) -> Any:
        from .transfer import TransferHandler

        if self.transfer_handler is None:
            self.transfer_handler = TransferHandler(self)
        return self.transfer_handler

    def _submit(self, task: Callable[[], object]) -> None:
        self._manager.submit(task)

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))

    def _bus(self, method: str, **params: Any) -> bool:
        """A signalling call for this session; False (and a log line) if it failed."""
        if params.get("session_id", "") is None:
            return False
        try:
            get_bus().call("signalling", method, timeout=BUS_TIMEOUT, **params)
        except BusError as exc:
            log.warning("%r: signalling %s failed: %s", self, method, exc)
            return False
        return True

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

    # --- outgoing ---------------------------------------------------------------

    def _send_invite(self, streams: list[Any], failed: dict[Any, str]) -> None:
        self._end_streams(failed)
        if self.state != "connecting":
            self._end_streams(streams)
            self._fail("local", 487, "Request Terminated", "user_request")
            return
        if not streams:
            self._fail("local", 0, None, "media streams failed to initialize: "
                       + "; ".join(failed.values()))
            return
        self.proposed_streams = streams
        self._indexes = {s: i for i, s in enumerate(streams)}
        self._invite()

    def _invite(self) -> None:
        route = self._routes[self._route_index]
        self.transport = route.transport
        local = local_session(local_address_for(route.address), self._user_agent())
        self._offer = offer_for(local, self._indexes, None)
        headers = []
        if self.subject:
            headers.append(["Subject", self.subject])
        for name, value in self._extra_headers():
            headers.append([name, value])
        account = self.account
        to = self.remote_identity
        assert to is not None
        params: dict[str, Any] = {
            "from_uri": str(account.uri), "to_uri": str(to.uri), "route": _route_data(route),
            "body": bytes(self._offer), "headers": headers,
            "credentials": account.credentials.to_bus(),
            "display_name": account.display_name,
        }
        if self._is_focus:
            params["contact_params"] = {"isfocus": None}
        self._got_response = False
        try:
            reply = get_bus().call("signalling", "invite", timeout=BUS_TIMEOUT, **params)
        except BusError as exc:
            if self._next_route():
                return
            self._end_streams(self.proposed_streams or [])
            self._fail("local", 0, None, f"SIP core error: {exc}")
            return
        self._sid, self.call_id = reply["session_id"], reply["call_id"]
        self._manager.session_bound(self, self._sid)

    def _extra_headers(self) -> list[tuple[str, str]]:
        """Headers a transfer adds to the INVITE (Referred-By, Replaces)."""
        info = self.transfer_info
        headers: list[tuple[str, str]] = []
        if info is not None:
            if info.referred_by:
                headers.append(("Referred-By", str(info.referred_by)))
            if info.replaces:
                headers.append(("Replaces", info.replaces))
        return headers

    def _next_route(self) -> bool:
        """Try the next route after a route failure; False when none is left."""
        if self._ending or self._route_index + 1 >= len(self._routes):
            return False
        self._route_index += 1
        log.info("%r: trying the next route %s", self, self._routes[self._route_index])
        if self._sid is not None:
            self._manager.session_unbound(self._sid)
            self._sid = None
        self._invite()
        return True

    # --- incoming ---------------------------------------------------------------

    def init_incoming(self, data: NotificationData, streams: list[Any],
                      offer: FrozenSDPSession | None, indexes: dict[Any, int]) -> None:
        """Called by the SessionManager for a new INVITE, before SIPSessionNewIncoming."""
        self.state = "incoming"
        self.direction = "incoming"
        self._sid = data.session_id
        self.call_id = data.call_id
        self.transport = (data.source or {}).get("transport")
        self.remote_user_agent = _header(data.headers, "User-Agent")
        self.subject = _header(data.headers, "Subject")
        try:
            if data.to:
                self.local_identity = ToHeader.parse(data.to).with_tag(None)
            remote = getattr(data, "from", None)
            if remote:
                self.remote_identity = FromHeader.parse(remote).with_tag(None)
        except ValueError:
            log.warning("%r: unparsable From/To", self)
        self._remote_offer = offer
        self._indexes = dict(indexes)
        self.proposed_streams = list(streams)
        self._source = (data.source or {}).get("host") or "127.0.0.1"

    def _accept(self, streams: list[Any], rejected: list[Any]) -> None:
        for stream in rejected:
            self._indexes.pop(stream, None)
        self._initialize(streams, "incoming", self._send_accept)

    def _send_accept(self, streams: list[Any], failed: dict[Any, str]) -> None:
        self._end_streams(failed)
        if self.state != "accepting":
            self._end_streams(streams)
            return  # end() took over
        if not streams:
            self._ending = True
            self._bus("reject", session_id=self._sid, code=488,
                      reason="Not Acceptable Here")
            self._failure_reason = "media streams failed to initialize"
            return
        self.proposed_streams = streams
        local = local_session(local_address_for(self._source), self._user_agent())
        if self._remote_offer is not None:
            indexes = {s: self._indexes[s] for s in streams}
            body = answer_for(self._remote_offer, local, indexes, None)
            self._local_sdp, self._remote_sdp = body, self._remote_offer
        else:  # an INVITE without an offer: ours goes in the 200, the answer in the ACK
            self._indexes = {s: i for i, s in enumerate(streams)}
            indexes = self._indexes
            body = self._offer = offer_for(local, indexes, None)
        self._indexes = dict(indexes)
        params: dict[str, Any] = {"session_id": self._sid, "body": bytes(body),
                                  "credentials": self.account.credentials.to_bus()}
        if self._is_focus:
            params["contact_params"] = {"isfocus": None}
        if not self._bus("accept", **params) and self.state == "accepting":
            self._end_streams(streams)
            self._fail("local", 0, None, "SIP core error: the 200 could not be sent")
            return
        self._post("SIPSessionWillStart")

    # --- bus events (from the SessionManager, on the worker) -------------------

    def handle_bus_event(self, name: str, data: NotificationData) -> None:
        handler = getattr(self, "_ev_" + name.partition(".")[2], None)
        if handler is not None:
            handler(data)

    def _ev_session_provisional(self, data: NotificationData) -> None:
        if self.state not in ("connecting", "terminating") or self.direction != "outgoing":
            return
        self._got_response = True
        self._post("SIPSessionGotProvisionalResponse", code=data.code, reason=data.reason)
        if data.code == 180:
            self._post("SIPSessionGotRingIndication")

    def _ev_session_established(self, data: NotificationData) -> None:
        self.remote_user_agent = data.remote_user_agent or self.remote_user_agent
        self.remote_focus = "isfocus" in (getattr(data, "remote_contact_params", None) or {})
        local_tag, remote_tag = getattr(data, "local_tag", None), getattr(data, "remote_tag", None)
        if local_tag and remote_tag and self.call_id:
            self._dialog = (self.call_id, local_tag, remote_tag)
        if data.transport:
            self.transport = data.transport
        if self.state == "connecting":
            try:
                assert self._offer is not None
                answer = parse_answer(self._offer, data.remote_body)
            except SDPNegotiationError as exc:
                self._abort(f"invalid SDP answer: {exc}", 488)
                return
            self._local_sdp, self._remote_sdp = self._offer, answer
            self._offer = None
            self._post("SIPSessionWillStart")
            self._start_negotiated(self.proposed_streams or [])
        elif self.state == "accepting":
            if self._remote_sdp is None:  # our offer went in the 200: the ACK answers
                try:
                    assert self._offer is not None
                    answer = parse_answer(self._offer, data.remote_body)
                except SDPNegotiationError as exc:
                    self._abort(f"invalid SDP answer in the ACK: {exc}", 488)
                    return
                self._local_sdp, self._remote_sdp = self._offer, answer
                self._offer = None
            self._start_negotiated(self.proposed_streams or [])

    def _start_negotiated(self, streams: list[Any]) -> None:
        assert self._remote_sdp is not None
        answered = [s for s in streams if self._remote_sdp.media[self._indexes[s]].port != 0]
        refused = [s for s in streams if s not in answered]
        self._end_streams(refused)
        self._start_streams(answered, self._did_start)

    def _did_start(self, streams: list[Any], failed: dict[Any, str]) -> None:
        self._end_streams(failed)
        if self.state not in ("connecting", "accepting"):
            self._end_streams(streams)
            return
        if not streams:
            self._abort("media streams failed to start: " + "; ".join(failed.values()), 500)
            return
        with self._lock:
            self.state = "connected"
            self.streams = list(streams)
            self.proposed_streams = None
            self.start_time = datetime.now()
        self._post("SIPSessionDidStart", streams=list(streams))
        if self.replaced_session is not None:  # RFC 3891: the new session replaces it
            self.replaced_session.end()
        self._next_operation()

    def _abort(self, reason: str, code: int) -> None:
        """The INVITE succeeded at SIP level but the session cannot start: BYE, then DidFail."""
        self._end_streams([*self.streams, *(self.proposed_streams or [])])
        self._failure_reason = reason
        self._ending_code = code
        self._set_state("terminating")
        self._bus("end", session_id=self._sid, reason_code=code, reason_text=reason[:100])
        self._arm_end_timer()

    def _ev_session_failed(self, data: NotificationData) -> None:
        if self.state in ("connecting", "terminating") and self.direction == "outgoing" and (
            data.originator == "local" and data.code in FAILOVER_CODES
            and not self._got_response and self._next_route()
        ):
            return
        if self.state == "terminated":
            return
        self._end_streams([*self.streams, *(self.proposed_streams or [])])
        if self._ending:
            failure = self._failure_reason or "user_request"
            self._fail("local", data.code, data.reason, failure)
        else:
            failure = data.reason or f"failed with {data.code}"
            self._fail(data.originator, data.code, data.reason, failure)

    def _ev_session_ended(self, data: NotificationData) -> None:
        if self.state == "terminated":
            return
        failure = self._failure_reason
        if self.start_time is None:
            # established at SIP level, never started: a failed session, not an ended one
            self._end_streams([*self.streams, *(self.proposed_streams or [])])
            if failure is None:
                failure = data.reason_header or data.reason or "session ended before it started"
                if "ack" in failure.lower():
                    failure = "missing ACK"
            code = self._ending_code or data.code
            self._fail("local" if self._ending else data.originator, code, data.reason, failure)
            return
        originator = "local" if self._ending else data.originator
        if not self._ending:
            self._post("SIPSessionWillEnd")
        self._terminate(originator, failure or "user_request")

    def _ev_session_transaction(self, data: NotificationData) -> None:
        info: dict[str, Any] = {"originator": data.originator, "method": data.method,
                                "code": data.code, "reason": data.reason}
        if data.method == "INVITE":
            info["ack_received"] = "unknown" if data.ack_received is None else data.ack_received
        self._post("SIPSessionDidProcessTransaction", **info)

    def _ev_session_request(self, data: NotificationData) -> None:
        # INFO and OPTIONS are acknowledged; what the document has no notification for
        # is refused rather than left to time out.
        code = 200 if data.method in ("INFO", "OPTIONS") else 501
        self._bus("session_respond", session_id=self._sid, server_key=data.server_key,
                  code=code)

    # --- ending -----------------------------------------------------------------

    def _end(self, previous: str | None) -> None:
        if self._barrier is not None and previous in ("connecting", "accepting"):
            self._barrier.cancel()
            self._barrier = None
        if previous in ("connecting", "incoming", "accepting") and self.start_time is None:
            self._end_streams(self.proposed_streams or [])
            if self._sid is None:  # no INVITE yet (streams still initializing)
                self._fail("local", 487, "Request Terminated", "user_request")
                return
            self._bus("end", session_id=self._sid)
            self._arm_end_timer()
            return
        self._post("SIPSessionWillEnd")
        for stream in self.streams:
            try:
                stream.deactivate()
            except Exception:
                log.exception("%r: deactivating %r raised", self, stream)
        if not self._bus("end", session_id=self._sid):
            self._terminate("local", "user_request")
            return
        self._arm_end_timer()

    def _arm_end_timer(self) -> None:
        """Do not wait for the service forever (it may have died meanwhile)."""
        def expire() -> None:
            if self.state != "terminated":
                log.warning("%r: no confirmation of the end from the signalling service", self)
                self.service_lost("the signalling service did not confirm the end")

        # the shared deadline thread: a Timer's thread start cost ~0.5 ms of each end
        self._end_timer = call_later(END_TIMEOUT, lambda: self._submit(expire))

    def service_lost(self, reason: str) -> None:
        """The signalling service went away (or stopped answering): end the session here."""
        if self.state in (None, "terminated"):
            return
        self._end_streams([*self.streams, *(self.proposed_streams or [])])
        if self.start_time is None:
            self._fail("local", 0, None, reason)
        else:
            self._post("SIPSessionWillEnd")
            self._terminate("local", reason)

    def _fail(self, originator: str, code: int, reason: str | None, failure: str) -> None:
        with self._lock:
            self.state = "terminated"
            self.stop_time = datetime.now()
            self.proposed_streams = None
        self._cleanup()
        self._post("SIPSessionDidFail", originator=originator, code=code, reason=reason,
                   failure_reason=failure)

    def _terminate(self, originator: str, end_reason: str) -> None:
        # a proposal in progress ends with the session: its new streams too
        proposed = [s for s in self.proposed_streams or [] if s not in self.streams]
        self._end_streams([*self.streams, *proposed])
        with self._lock:
            self.state = "terminated"
            self.stop_time = datetime.now()
            self.proposed_streams = None
        self._cleanup()
        self._post("SIPSessionDidEnd", originator=originator, end_reason=end_reason)

    def _cleanup(self) -> None:
        if self._end_timer is not None:
            self._end_timer.cancel()
        if self._barrier is not None:
            self._barrier.cancel()
            self._barrier = None
        for stream in list(self._observed):
            self._forget(stream)
        if self.transfer_handler is not None:
            self.transfer_handler.session_ended()
        self._manager.session_finished(self)

    # --- renegotiation: our offers ----------------------------------------------

    def _busy(self) -> bool:
        return self.state != "connected" or self._proposal is not None

    def _next_operation(self) -> None:
        """Start what is queued (removal of failed streams, hold changes) when idle."""
        if self._busy():
            return
        removals = [s for s in self._pending_removals if s in self.streams]
        self._pending_removals.clear()
        if removals:
            if len(removals) == len(self.streams):
                self.end()
                return
            self._set_state("sending_proposal")
            self._remove_streams(removals)
        elif self._hold_wanted != self._hold_sent and any(
            s.hold_supported for s in self.streams
        ):
            self._set_state("sending_proposal")
            self._change_hold(self._hold_wanted)

    def _reoffer(self, kind: str, indexes: dict[Any, int], **extra: Any) -> None:
        assert self._local_sdp is not None
        local = local_session(self._local_sdp.address, self._user_agent())
        offer = offer_for(local, indexes, self._local_sdp)
        self._proposal = {"kind": kind, "offer": offer, "indexes": indexes, **extra}
        self._send_reoffer(self._proposal)

    def _send_reoffer(self, proposal: dict[str, Any]) -> None:
        try:
            get_bus().call("signalling", "reinvite", timeout=BUS_TIMEOUT, session_id=self._sid,
                           body=bytes(proposal["offer"]))
        except ServiceError as exc:
            if exc.code == "failed":
                # the dialog is busy (the ACK of a re-INVITE we accepted is on its way,
                # or the peer's re-INVITE waits for us): sent once it is idle again
                proposal["deferred"] = True
                return
            log.warning("%r: signalling reinvite failed: %s", self, exc)
            self._proposal_failed("SIP core error: the re-INVITE could not be sent")
        except BusError as exc:
            log.warning("%r: signalling reinvite failed: %s", self, exc)
            self._proposal_failed("SIP core error: the re-INVITE could not be sent")

    def _change_hold(self, hold: bool) -> None:
        for stream in self.streams:
            if stream.hold_supported:
                try:
                    stream.hold() if hold else stream.unhold()
                except Exception:
                    log.exception("%r: hold/unhold of %r raised", self, stream)
        self._reoffer("hold", {s: self._indexes[s] for s in self.streams}, hold=hold)

    def _add_stream(self, stream: Any) -> None:
        self._post("SIPSessionGotProposal", originator="local", streams=[stream])
        self._initialize([stream], "outgoing", self._send_add)

    def _send_add(self, streams: list[Any], failed: dict[Any, str]) -> None:
        self._end_streams(failed)
        if self.state not in ("sending_proposal", "cancelling_proposal"):
            self._end_streams(streams)
            return
        if not streams:
            self._post("SIPSessionHadProposalFailure",
                       failure_reason="; ".join(failed.values()), streams=list(failed))
            self._proposal_done()
            return
        if self.state == "cancelling_proposal":  # cancelled before the re-INVITE went out
            self._end_streams(streams)
            self._post("SIPSessionGotRejectProposal", originator="local", code=487,
                       reason="Request Terminated", streams=streams)
            self._proposal_done()
            return
        indexes = place_streams(self._local_sdp, {s: self._indexes[s] for s in self.streams},
                                streams)
        self._reoffer("add", indexes, streams=streams)

    def _remove_streams(self, streams: list[Any]) -> None:
        for stream in streams:
            try:
                stream.deactivate()
            except Exception:
                log.exception("%r: deactivating %r raised", self, stream)
        keep = {s: self._indexes[s] for s in self.streams if s not in streams}
        self._reoffer("remove", keep, streams=streams)

    def _cancel_proposal(self) -> None:
        if self._proposal is None:
            return  # the offer is not out yet: _send_add sees the state
        if self._proposal.get("deferred"):  # never sent: nothing to CANCEL
            self._ev_session_reinvite_rejected(NotificationData(
                code=487, reason="Request Terminated", headers=[]))
            return
        self._bus("cancel_reinvite", session_id=self._sid)

    def _ev_session_answer(self, data: NotificationData) -> None:
        proposal = self._proposal
        if proposal is None:
            if self._offer is not None and self.state == "connected":
                self._answer_to_requested_offer(data.body)
            return
        try:
            answer = parse_answer(proposal["offer"], data.body)
        except SDPNegotiationError as exc:
            self._proposal_failed(f"invalid SDP answer: {exc}")
            return
        self._local_sdp, self._remote_sdp = proposal["offer"], answer
        # an answer may hold us too (inactive to our sendonly, or to any offer)
        held_before = {s: s.on_hold_by_remote for s in self.streams}
        kind = proposal["kind"]
        if kind == "add":
            new = proposal["streams"]
            self._indexes.update({s: proposal["indexes"][s] for s in new})
            accepted = [s for s in new if answer.media[self._indexes[s]].port != 0]
            refused = [s for s in new if s not in accepted]
            self._update_streams([s for s in self.streams])
            self._post_remote_hold_change(held_before)
            if refused:
                self._end_streams(refused)
            if not accepted:
                self._post("SIPSessionGotRejectProposal", originator="local", code=200,
                           reason="streams refused in the answer", streams=refused)
                self._proposal_done()
                return
            self._start_streams(accepted, self._added_started)
            return
        if kind == "remove":
            removed = proposal["streams"]
            self._drop(removed)
            self._update_streams(self.streams)
        elif kind == "hold":
            self._hold_sent = proposal["hold"]
            self._update_streams(self.streams)
            self._post_hold("local")
        self._post_remote_hold_change(held_before)
        self._proposal_done()

    def _post_remote_hold_change(self, before: dict[Any, bool]) -> None:
        if any(s.on_hold_by_remote != before[s] for s in self.streams if s in before):
            self._post_hold("remote")

    def _added_started(self, streams: list[Any], failed: dict[Any, str]) -> None:
        """New streams of an accepted proposal (ours or theirs) reported their start."""
        proposal = self._proposal or {}
        proposed = proposal.get("streams", [])
        originator = "remote" if proposal.get("kind") == "remote_add" else "local"
        self._end_streams(failed)
        if streams:
            self.streams.extend(streams)
            self._post("SIPSessionGotAcceptProposal", originator=originator, streams=streams,
                       proposed_streams=proposed)
            self._post("SIPSessionDidRenegotiateStreams", action="add", streams=streams)
        if failed:
            self._post("SIPSessionHadProposalFailure",
                       failure_reason="; ".join(failed.values()), streams=list(failed))
        self._proposal_done()

    def _ev_session_reinvite_retry(self, data: NotificationData) -> None:
        # our re-INVITE got 491: the service sends it again after `delay`; until then
        # the peer's re-INVITE may come in, and is answered (RFC 3261 14.1)
        if self._proposal is not None:
            self._proposal["glare"] = "waiting"

    def _ev_session_state(self, data: NotificationData) -> None:
        proposal = self._proposal
        if data.new != "connected" or proposal is None:
            return
        if proposal.get("glare") == "dropped":
            self._resend_proposal(proposal)
        elif proposal.pop("deferred", False):
            self._send_reoffer(proposal)

    def _resend_proposal(self, proposal: dict[str, Any]) -> None:
        """Offer our proposal again, built on what the peer's re-INVITE changed meanwhile."""
        kind = proposal["kind"]
        current = {s: self._indexes[s] for s in self.streams}
        if kind == "add":
            indexes = place_streams(self._local_sdp, current, proposal["streams"])
            self._reoffer(kind, indexes, streams=proposal["streams"])
        elif kind == "remove":
            keep = {s: i for s, i in current.items() if s not in proposal["streams"]}
            self._reoffer(kind, keep, streams=proposal["streams"])
        else:
            self._reoffer(kind, current, hold=proposal["hold"])

    def _ev_session_reinvite_rejected(self, data: NotificationData) -> None:
        proposal = self._proposal
        if proposal is None:
            return
        if proposal.get("glare") == "dropping" and data.code == 487:
            proposal["glare"] = "dropped"  # the stale copy we dropped; sent again when idle
            return
        kind = proposal["kind"]
        if kind == "add":
            self._end_streams(proposal["streams"])
            self._post("SIPSessionGotRejectProposal", originator="local", code=data.code,
                       reason=data.reason, streams=proposal["streams"])
        elif kind == "remove":
            # the document: the stream is removed whatever the peer says
            self._drop(proposal["streams"])
        elif kind == "hold":
            self._hold_sent = proposal["hold"]
            self._post_hold("local")
        if data.code in (408, 481):  # RFC 5057: the dialog is gone
            self._proposal = None
            self._set_state("connected")
            self.end()
            return
        self._proposal_done()

    def _drop(self, streams: list[Any]) -> None:
        gone = [s for s in streams if s in self.streams]
        for stream in gone:
            self.streams.remove(stream)
        self._end_streams(gone)
        if gone:
            self._post("SIPSessionDidRenegotiateStreams", action="remove", streams=gone)

    def _proposal_failed(self, reason: str) -> None:
        proposal = self._proposal or {}
        streams = proposal.get("streams", [])
        if proposal.get("kind") == "add":
            self._end_streams(streams)
        self._post("SIPSessionHadProposalFailure", failure_reason=reason, streams=streams)
        self._proposal_done()

    def _proposal_done(self) -> None:
        self._proposal = None
        with self._lock:
            if self.state in ("sending_proposal", "cancelling_proposal", "accepting_proposal",
                              "rejecting_proposal", "received_proposal"):
                self.state = "connected"
                self.proposed_streams = None
        self._next_operation()

    def _update_streams(self, streams: Iterable[Any]) -> None:
        for stream in list(streams):
            try:
                stream.update(self._local_sdp, self._remote_sdp, self._indexes[stream])
            except Exception:
                log.exception("%r: updating %r raised", self, stream)

    def _post_hold(self, originator: str) -> None:
        holdable = [s for s in self.streams if s.hold_supported]
        if originator == "local":
            held = [s for s in holdable if s.on_hold_by_local]
        else:
            held = [s for s in holdable if s.on_hold_by_remote]
        self._post("SIPSessionDidChangeHoldState", originator=originator, on_hold=bool(held),
                   partial=bool(held) and len(held) < len(holdable))

    # --- renegotiation: their offers --------------------------------------------

    def _ev_session_offer(self, data: NotificationData) -> None:
        proposal = self._proposal
        glare = proposal is not None and proposal.get("glare") == "waiting"
        if (self.state != "connected" and not glare) or self._remote_sdp is None:
            self._bus("reject_reinvite", session_id=self._sid, code=491)
            return
        try:
            offer = parse_offer(data.body)
            changes = validate_reoffer(self._remote_sdp, offer)
        except SDPNegotiationError as exc:
            self._bus("reject_reinvite", session_id=self._sid, code=exc.status,
                      warning=exc.warning)
            return
        if changes.added and changes.removed:
            self._bus("reject_reinvite", session_id=self._sid, code=488,
                      warning="streams cannot be added and removed at once")
            return
        if changes.added and glare:  # one proposal at a time: ours goes first
            self._bus("reject_reinvite", session_id=self._sid, code=491)
            return
        if glare and proposal is not None:
            # the copy of our re-INVITE waiting in the service would offer what this
            # answer changes with the same o= version: drop it, offer again afterwards
            proposal["glare"] = "dropping"
            self._bus("cancel_reinvite", session_id=self._sid)
        if changes.added:
            proposed = self._manager.streams_for_offer(self.account, offer, changes.added)
            if not proposed:
                self._bus("reject_reinvite", session_id=self._sid, code=488,
                          warning="no acceptable stream in the offer")
                return
            with self._lock:
                self.state = "received_proposal"
                self.proposed_streams = [s for s, _ in proposed]
            self._remote_offer = offer
            self._proposed_indexes = dict(proposed)
            self._post("SIPSessionGotProposal", originator="remote",
                       streams=list(self.proposed_streams))
            return
        self._answer_reoffer(offer, changes)

    def _answer_reoffer(self, offer: FrozenSDPSession, changes: Any) -> None:
        by_index = {i: s for s, i in self._indexes.items() if s in self.streams}
        removed = [by_index[i] for i in changes.removed if i in by_index]
        modified = [by_index[i] for i in changes.modified if i in by_index]
        for stream in modified:
            if not stream.validate_update(offer, self._indexes[stream]):
                self._bus("reject_reinvite", session_id=self._sid, code=488,
                          warning="stream update not acceptable")
                return
        for stream in removed:
            stream.deactivate()
        keep = {s: i for s, i in self._indexes.items() if s in self.streams and s not in removed}
        assert self._local_sdp is not None
        local = local_session(self._local_sdp.address, self._user_agent())
        held_before = {s: s.on_hold_by_remote for s in self.streams}
        answer = answer_for(offer, local, keep, self._local_sdp)
        if not self._bus("accept_reinvite", session_id=self._sid, body=bytes(answer)):
            return
        self._local_sdp, self._remote_sdp = answer, offer
        self._drop(removed)
        self._update_streams(self.streams)
        if any(s.on_hold_by_remote != held_before.get(s) for s in self.streams):
            self._post_hold("remote")

    def _accept_proposal(self, streams: list[Any]) -> None:
        self._initialize(streams, "incoming", self._send_proposal_answer)

    def _send_proposal_answer(self, streams: list[Any], failed: dict[Any, str]) -> None:
        self._end_streams(failed)
        proposed = list(self.proposed_streams or [])
        if not streams:
            self._bus("reject_reinvite", session_id=self._sid, code=488,
                      warning="streams failed to initialize")
            self._post("SIPSessionHadProposalFailure",
                       failure_reason="; ".join(failed.values()), streams=proposed)
            self._proposal_done()
            return
        offer = self._remote_offer
        assert offer is not None and self._local_sdp is not None
        indexes = {s: i for s, i in self._indexes.items() if s in self.streams}
        indexes.update({s: self._proposed_indexes[s] for s in streams})
        local = local_session(self._local_sdp.address, self._user_agent())
        answer = answer_for(offer, local, indexes, self._local_sdp)
        if not self._bus("accept_reinvite", session_id=self._sid, body=bytes(answer)):
            self._end_streams(streams)
            self._post("SIPSessionHadProposalFailure",
                       failure_reason="SIP core error: the answer could not be sent",
                       streams=proposed)
            self._proposal_done()
            return
        self._local_sdp, self._remote_sdp = answer, offer
        self._indexes.update({s: self._proposed_indexes[s] for s in streams})
        self._update_streams(self.streams)
        self._proposal = {"kind": "remote_add", "streams": proposed}
        self._start_streams(streams, self._added_started)

    def _reject_proposal(self, code: int, reason: str | None) -> None:
        proposed = list(self.proposed_streams or [])
        self._bus("reject_reinvite", session_id=self._sid, code=code, reason=reason)
        self._post("SIPSessionGotRejectProposal", originator="remote", code=code,
                   reason=reason, streams=proposed)
        self._proposal_done()

    def _ev_session_reinvite_cancelled(self, data: NotificationData) -> None:
        # the peer withdrew its proposal before we answered it
        if self.state in ("received_proposal", "accepting_proposal"):
            if self._barrier is not None:
                self._barrier.cancel()
                self._barrier = None
            proposed = list(self.proposed_streams or [])
            self._end_streams([s for s in proposed if s not in self.streams])
            self._post("SIPSessionGotRejectProposal", originator="remote", code=487,
                       reason="Request Terminated", streams=proposed)
            self._proposal_done()

    def _ev_session_offer_requested(self, data: NotificationData) -> None:
        # a body-less re-INVITE: our current description is the offer, the ACK answers
        if self.state != "connected" or self._local_sdp is None:
            self._bus("reject_reinvite", session_id=self._sid, code=491)
            return
        local = local_session(self._local_sdp.address, self._user_agent())
        indexes = {s: self._indexes[s] for s in self.streams}
        self._offer = offer_for(local, indexes, self._local_sdp)
        self._bus("accept_reinvite", session_id=self._sid, body=bytes(self._offer))

    def _answer_to_requested_offer(self, body: bytes) -> None:
        try:
            assert self._offer is not None
            answer = parse_answer(self._offer, body)
        except SDPNegotiationError as exc:
            log.warning("%r: invalid answer in the ACK: %s", self, exc)
            return
        self._local_sdp, self._remote_sdp, self._offer = self._offer, answer, None
        held_before = {s: s.on_hold_by_remote for s in self.streams}
        self._update_streams(self.streams)
        self._post_remote_hold_change(held_before)

    # --- transfers (events routed to the TransferHandler) -----------------------

    def _ev_transfer_incoming(self, data: NotificationData) -> None:
        self._transfers.incoming(data)

    def _ev_transfer_accepted(self, data: NotificationData) -> None:
        self._transfers.event("accepted", data)

    def _ev_transfer_failed(self, data: NotificationData) -> None:
        self._transfers.event("failed", data)

    def _ev_transfer_progress(self, data: NotificationData) -> None:
        self._transfers.event("progress", data)

    def _ev_transfer_ended(self, data: NotificationData) -> None:
        self._transfers.event("ended", data)

