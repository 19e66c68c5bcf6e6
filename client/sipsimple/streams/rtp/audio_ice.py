"""ICE of an AudioStream (docs/nat.md): the media service gathers candidates and
runs the checks; the stream puts them in its SDP, starts the checks with the
peer's, follows their events, restarts, and moves to new sockets (`rebind`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sipsimple.audio import AudioError
from sipsimple.core.sdp import FrozenSDPSession
from sipsimple.notification import NotificationData
from sipsimple.streams.rtp.audio_base import AudioStreamBase, AudioStreamError
from sipsimple.streams.rtp.ice import (
    ICECandidate,
    ICECheck,
    LocalICE,
    RemoteICE,
    ice_servers,
    remote_ice,
)
from sipsimple.streams.rtp.negotiation import NegotiatedMedia

__all__ = ["AudioStreamICE"]

log = logging.getLogger(__name__)


class AudioStreamICE(AudioStreamBase):
    """The ICE part of AudioStream: what it gathered, the checks, restarts and moves."""

    def _gather(self) -> None:
        try:
            stun, turn, relay_only = ice_servers(self.account)
            self._media("ice_gather", stream_id=self._stream_id, stun_servers=stun,
                        turn_server=turn, relay_only=relay_only)
        except Exception as exc:  # no ICE then, but the call goes on
            log.warning("%r: ICE candidates not gathered: %s", self, exc)
            self._initialized()

    def _default_candidate(self, ice: LocalICE | None) -> tuple[str, int, int | None]:
        """The address for c=/m= and a=rtcp: the socket's without ICE, else the default
        candidate, or the local candidate of the selected pair (RFC 8445 5.1.4, 8.1.2)."""
        assert self.local_rtp_address is not None and self.local_rtp_port is not None
        if ice is None:
            return self.local_rtp_address, self.local_rtp_port, self._rtcp_port
        chosen = self._ice_chosen
        if chosen is not None and self.ice_active and chosen["local"]["type"] != "PRFLX":
            local = chosen["local"]
            rtcp = chosen.get("rtcp_local")
            return str(local["address"]), int(local["port"]), (
                int(rtcp["port"]) if rtcp else int(local["port"]) + 1)
        return ice.address, ice.port, ice.rtcp_port

    def _remote_candidates(self) -> str | None:
        """a=remote-candidates for a later offer of the controlling agent (RFC 8839 4.4.1.2)."""
        chosen = self._ice_chosen
        if chosen is None or not self.ice_active or not self._ice_controlling or (
            self._ice_restarting
        ):
            return None
        parts = [f"1 {chosen['remote']['address']} {chosen['remote']['port']}"]
        rtcp = chosen.get("rtcp_remote")
        if rtcp:
            parts.append(f"2 {rtcp['address']} {rtcp['port']}")
        return " ".join(parts)

    def _ice_restart(self) -> LocalICE | None:
        try:
            reply = self._media("ice_restart", stream_id=self._stream_id)
            self._ice_local = LocalICE.from_data(reply)
            self._ice_restarting = True
        except (AudioError, KeyError, TypeError, ValueError) as exc:
            log.warning("%r: ICE restart failed: %s", self, exc)
        return self._ice_local

    def rebind(self, address: str, done: Callable[[], None]) -> None:
        """Move the media to new sockets on `address` (the host's address changed).

        With ICE the media service gathers again there (new credentials and
        candidates: the restart the session offers next); `done` is called once
        that is over (at once without ICE), on whatever thread. Raises
        AudioStreamError when the stream cannot move (it stays where it was).
        """
        if self._state != "started" or self._stream_id is None:
            raise AudioStreamError(f"{self!r} cannot move in state {self._state}")
        with self._lock:
            # before the call: with ICE, media.ice_gathered may come before its reply
            self._rebound = done
        try:
            reply = self._media("rebind_stream", stream_id=self._stream_id, address=address)
        except AudioError as exc:
            self._rebound = None
            raise AudioStreamError(str(exc)) from None
        with self._lock:
            self.local_rtp_address = str(reply.get("address") or address)
            self.local_rtp_port = int(reply["rtp_port"])
            self._rtcp_port = int(reply.get("rtcp_port") or self.local_rtp_port + 1)
            self._moved = True
            if reply.get("ice"):
                # the old pair is gone with the old sockets: nothing carries the audio
                # until the restart's checks select a pair on the new ones
                self._ice_restarting = True
                self.ice_active = False
                self._ice_chosen = None
                self.local_rtp_candidate_type = self.remote_rtp_candidate_type = None
                return
            rebound, self._rebound = self._rebound, None
        if rebound is not None:
            rebound()

    def _ice_plain(self) -> None:
        """The peer does no ICE (or mismatched): plain symmetric RTP to its SDP address."""
        try:
            self._media("ice_plain", stream_id=self._stream_id)
        except AudioError as exc:
            log.warning("%r: %s", self, exc)

    def _ice_begin(self, negotiated: NegotiatedMedia, remote_sdp: FrozenSDPSession, index: int,
                   remote_offered: bool | None) -> bool:
        """Start the checks if both sides do ICE (True), else plain RTP (False)."""
        if self._ice_local is None or self._stream_id is None:
            return False
        remote = remote_ice(remote_sdp, index)
        if remote is None or remote.mismatch:
            self._ice_plain()
            return False
        # the offerer controls (RFC 8445 6.1.1); facing an ice-lite peer we always do
        self._ice_controlling = remote_offered is False or remote.lite
        if not self._ice_start(remote, negotiated.rtcp_mux):
            return False
        with self._lock:
            if self._ice_over:
                return False  # the checks started with our answer have ended already
            self._ice_waiting = True
        return True

    def _ice_start(self, remote: RemoteICE, rtcp_mux: bool) -> bool:
        if not remote.same_credentials(self._ice_remote):
            with self._lock:
                self._ice_over = False
        try:
            self._media("ice_start", stream_id=self._stream_id, controlling=self._ice_controlling,
                        ufrag=remote.ufrag, pwd=remote.pwd, candidates=list(remote.candidates),
                        rtcp_mux=rtcp_mux)
        except AudioError as exc:
            log.warning("%r: ICE not started: %s", self, exc)
            return False
        self._ice_remote = remote
        return True

    def _ice_event(self, what: str, data: NotificationData) -> None:
        if what == "ice_gathered":
            if getattr(data, "error", None) is None:
                try:
                    self._ice_local = LocalICE.from_data(dict(data))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("%r: unusable ICE candidates: %s", self, exc)
            else:
                log.warning("%r: no ICE candidates: %s", self, data.error)
                if self._rebound is not None:
                    self._ice_local = None  # moved, and nothing gathered: no ICE any more
            with self._lock:
                rebound, self._rebound = self._rebound, None
            if rebound is not None:
                rebound()
                return
            self._initialized()
        elif not self._ice_current(getattr(data, "ufrag", None)):
            log.debug("%r: media.%s of a replaced ICE link dropped", self, what)
        elif what == "ice_state":
            self._post("AudioStreamICENegotiationStateDidChange",
                       prev_state=getattr(data, "prev_state", None),
                       state=getattr(data, "state", None))
        elif what == "ice_succeeded":
            try:
                chosen = {str(c["component"]): c for c in data.chosen}
                rtp = chosen["RTP"]
                self._ice_chosen = {
                    "local": rtp["local"], "remote": rtp["remote"],
                    "rtcp_local": chosen.get("RTCP", {}).get("local"),
                    "rtcp_remote": chosen.get("RTCP", {}).get("remote"),
                }
                details = {
                    "duration": float(data.duration),
                    "local_candidates": [ICECandidate.from_data(c) for c in data.local_candidates],
                    "remote_candidates": [
                        ICECandidate.from_data(c) for c in data.remote_candidates],
                    "valid_pairs": [ICECheck.from_data(p) for p in data.valid_pairs],
                    "valid_list": [ICECheck.from_data(p) for p in data.valid_list],
                }
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                log.warning("%r: malformed media.ice_succeeded: %s", self, exc)
                return
            self.ice_active = True
            self._ice_restarting = False
            self.local_rtp_candidate_type = str(rtp["local"]["type"]).lower()
            self.remote_rtp_candidate_type = str(rtp["remote"]["type"]).lower()
            self._post("AudioStreamICENegotiationDidSucceed", **details)
            self._ice_done()
        elif what == "ice_failed":
            self.ice_active = self._ice_restarting = False
            self.local_rtp_candidate_type = self.remote_rtp_candidate_type = None
            self._ice_chosen = None
            self._post("AudioStreamICENegotiationDidFail",
                       reason=str(getattr(data, "reason", "failed")))
            self._ice_done()

    def _ice_current(self, ufrag: object) -> bool:
        """Whether a checks' event is of the link we use: the last words of one a move or
        restart replaced come on the event socket, and may come after the reply."""
        with self._lock:
            local = self._ice_local.ufrag if self._ice_local is not None else None
            if self._rebound is not None:  # moving: until it gathered, only the old is known
                return ufrag != local
            return local is None or ufrag == local

    def _ice_done(self) -> None:
        """The checks ended (either way: plain RTP after a failure): the stream started."""
        with self._lock:
            self._ice_over = True
            waiting, self._ice_waiting = self._ice_waiting, False
        if waiting and self._state == "started":
            self._post("MediaStreamDidStart")
