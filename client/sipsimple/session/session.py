"""Session: one SIP session with its streams, as the Middleware API defines it.

SIP is done by the signalling service; the Session decides what the document
places in the middleware: which streams are offered and accepted, the SDP
offer/answer (through `sipsimple.core.sdp`), hold, and the notifications.

Threads. Public methods may be called from any thread: they check the state
table (`states.CALLS`) under the session's lock, move the state, and hand the
rest to the session's worker (one of the SessionManager's, always the same).
Everything else (bus events, stream notifications, timers) also runs on that
worker, one task at a time, so the session's negotiation state needs no lock
of its own. Notifications are
posted from the worker, never while the lock is held.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sipsimple.bus.client import BusError, ServiceError, get_bus
from sipsimple.bus.schema import ErrorCode
from sipsimple.core import FromHeader, Route, ToHeader
from sipsimple.core.reasons import reason_phrase
from sipsimple.core.sdp import (
    FrozenSDPSession,
    SDPNegotiationError,
    parse_answer,
)
from sipsimple.notification import NotificationData

from .barrier import call_later
from .base import BUS_TIMEOUT, END_TIMEOUT
from .renegotiation import Renegotiation
from .sdp import answer_for, local_address_for, local_session, offer_for
from .states import IllegalStateError, check_call

__all__ = ["BUS_TIMEOUT", "Session"]

log = logging.getLogger(__name__)

FAILOVER_CODES = frozenset({0, 408, 503})  # the route failed, not the call: try the next


def _header(headers: Sequence[Sequence[str]] | None, name: str) -> str | None:
    for pair in headers or ():
        if pair[0].lower() == name.lower():
            return pair[1]
    return None


class Session(Renegotiation):
    """A SIP session, incoming or outgoing; see the Middleware API document."""

    @property
    def _transfers(self) -> Any:
        from .transfer import TransferHandler

        if self.transfer_handler is None:
            self.transfer_handler = TransferHandler(self)
        return self.transfer_handler

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
            if self.focus_room is not None:
                self.local_identity = FromHeader(self.focus_room.uri, self.focus_room.display_name)
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
            return self._session_address()
        return self._current_local_address()

    def _current_local_address(self) -> str:
        """The local address the kernel picks now towards the peer (its route, or the
        source of its INVITE): after a change of the host's address, the new one."""
        if self.direction == "outgoing" and self._routes:
            return local_address_for(self._routes[self._route_index].address)
        return local_address_for(self._source)

    def _dialog_ids(self) -> tuple[str, str, str] | None:
        """(Call-ID, local tag, remote tag) of the established dialog, for Replaces."""
        return self._dialog

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
            "from_uri": str(account.uri), "to_uri": str(to.uri), "route": route.to_bus(),
            "body": bytes(self._offer), "headers": headers,
            "credentials": account.credentials.to_bus(),
            "display_name": account.display_name,
        }
        if self._is_focus:
            params["contact_params"] = {"isfocus": None}
        room = self.focus_room
        if room is not None:  # a room dialling out: its URI calls, and is the Contact
            params.update(from_uri=str(room.uri), display_name=room.display_name,
                          contact_user=room.uri.user)
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
        try:
            get_bus().call("signalling", "accept", timeout=BUS_TIMEOUT, **params)
        except ServiceError as exc:
            if exc.code != ErrorCode.NOT_FOUND or self.state != "accepting":
                self._accept_failed(streams, exc)
                return
            # the session ended in the service meanwhile (a CANCEL racing our 200): its
            # end event, published before this reply, tells why; the timer is a fallback
            log.info("%r: the session ended before our 200: %s", self, exc)
            self._end_streams(streams)
            error = exc
            self._end_timer = call_later(END_TIMEOUT, lambda: self._submit(
                lambda: self._accept_failed([], error)))
            return
        except BusError as exc:
            self._accept_failed(streams, exc)
            return
        self._post("SIPSessionWillStart")

    def _accept_failed(self, streams: list[Any], exc: BusError) -> None:
        if self.state != "accepting":
            return
        log.warning("%r: signalling accept failed: %s", self, exc)
        self._end_streams(streams)
        self._fail("local", 0, None, "SIP core error: the 200 could not be sent")

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
        self._remote_contact = getattr(data, "remote_contact", None)
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
        if self.remote_focus and self.conference is None:  # RFC 4579: ready at DidStart
            from .conference import start_conference

            self.conference = start_conference(self, self._remote_contact)
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
        # The BYE's Reason header carries the whole text, made one line (the bus refuses
        # line breaks in it; a stream's error may hold some).
        self._bus("end", session_id=self._sid, reason_code=code,
                  reason_text=" ".join(reason.split()))
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
            # Our abort's code, with its own phrase: data.reason is that of the 200 to our BYE.
            code, reason = data.code, data.reason
            if self._ending_code:
                code, reason = self._ending_code, reason_phrase(self._ending_code)
            self._fail("local" if self._ending else data.originator, code, reason, failure)
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
        if self.conference is not None:
            self.conference.session_ended()
        self._manager.session_finished(self)

    # --- transfers (events routed to the TransferHandler) -----------------------

    def _transfer_event(self, kind: str, data: NotificationData) -> None:
        # the ConferenceHandler's REFERs (participants) first, then transfers
        if self.conference is None or not self.conference.transfer_event(kind, data):
            self._transfers.event(kind, data)

    def _ev_transfer_incoming(self, data: NotificationData) -> None:
        if self.focus_room is not None:
            self.focus_room.refer_received(self, data)
        else:
            self._transfers.incoming(data)

    def _ev_transfer_accepted(self, data: NotificationData) -> None:
        self._transfer_event("accepted", data)

    def _ev_transfer_failed(self, data: NotificationData) -> None:
        self._transfer_event("failed", data)

    def _ev_transfer_progress(self, data: NotificationData) -> None:
        self._transfer_event("progress", data)

    def _ev_transfer_ended(self, data: NotificationData) -> None:
        self._transfer_event("ended", data)

