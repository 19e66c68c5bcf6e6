"""Renegotiation of a Session: our re-offers (add and remove streams, hold,
removal of failed streams) and the peer's (proposals, updates, hold).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from sipsimple.bus.client import BusError, ServiceError, get_bus
from sipsimple.core.sdp import (
    FrozenSDPSession,
    SDPNegotiationError,
    parse_answer,
    parse_offer,
    validate_reoffer,
)
from sipsimple.notification import NotificationData

from .barrier import call_later
from .base import BUS_TIMEOUT, STREAM_TIMEOUT, SessionBase
from .sdp import answer_for, local_session, offer_for, place_streams

__all__ = ["Renegotiation"]

log = logging.getLogger(__name__)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Renegotiation(SessionBase):
    """Offers after the session started, both ways, one at a time."""

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
        elif self._address_check:
            self._address_check = False
            self._move_media()

    # --- our address changed: the media moves, ICE restarts (docs/nat.md) --------

    def network_changed(self) -> None:
        """NetworkConditionsDidChange, on the session's worker: checked when idle."""
        self._address_check = True
        self._next_operation()

    def _move_media(self) -> None:
        """Streams bound to an address the kernel no longer picks towards the peer move to
        the one it picks now, gather again there, and a re-INVITE offers them (new
        c=/m=, and with ICE new credentials and candidates: an ICE restart)."""
        if self._local_sdp is None:
            return
        address = self._current_local_address()
        if _loopback(address) and not _loopback(self._session_address()):
            return  # no route at all for now: nowhere better to go (a later change will tell)
        moving = [s for s in self.streams if callable(getattr(s, "rebind", None))
                  and getattr(s, "local_rtp_address", None) not in (None, address)]
        if not moving:
            return
        log.info("%r: the local address is now %s: moving %d stream(s) there", self, address,
                 len(moving))
        self._set_state("sending_proposal")
        # c= of our descriptions from now on (o= stays: RFC 3264 8), and where new
        # streams bind: the moved streams are there whatever the peer answers
        self._media_address = address
        proposal: dict[str, Any] = {"kind": "restart", "address": address,
                                    "waiting": set(moving)}
        self._proposal = proposal
        def ready(stream: Any) -> None:  # on whatever thread the stream calls it
            with contextlib.suppress(RuntimeError):  # the sessions stopped meanwhile
                self._submit(lambda: self._rebound(proposal, stream))

        for stream in list(moving):
            try:
                stream.rebind(address, lambda s=stream: ready(s))
            except Exception as exc:
                log.warning("%r: %r could not move to %s: %s", self, stream, address, exc)
                proposal["waiting"].discard(stream)
                moving.remove(stream)
        if not moving:
            self._proposal_done()
            return
        proposal["timer"] = call_later(STREAM_TIMEOUT, lambda: self._submit(
            lambda: self._rebound(proposal, None, expired=True)))

    def _rebound(self, proposal: dict[str, Any], stream: Any, expired: bool = False) -> None:
        """A stream moved (and gathered again); the restart's offer goes once all did, or
        after STREAM_TIMEOUT without those that did not report."""
        if self._proposal is not proposal or self.state != "sending_proposal":
            return
        proposal["waiting"].discard(stream)
        if proposal["waiting"] and not expired:
            return
        proposal["timer"].cancel()
        self._reoffer("restart", {s: self._indexes[s] for s in self.streams},
                      address=proposal["address"])

    def _reoffer(self, kind: str, indexes: dict[Any, int], **extra: Any) -> None:
        assert self._local_sdp is not None
        local = local_session(self._session_address(), self._user_agent())
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
        elif kind == "restart":
            self._update_streams(self.streams)  # the checks start on the new candidates
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
        elif kind == "restart":
            self._reoffer(kind, current, address=proposal["address"])
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
        elif kind == "restart":
            # the media stays on the new address, offered nowhere: what the peer does
            # with it is its own affair (its latch may follow); nothing more to try
            log.warning("%r: the re-INVITE moving our media was refused: %s %s", self,
                        data.code, data.reason)
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
        local = local_session(self._session_address(), self._user_agent())
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
        local = local_session(self._session_address(), self._user_agent())
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
        local = local_session(self._session_address(), self._user_agent())
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

