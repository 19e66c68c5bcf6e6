"""AudioStream: RTP audio of a session, run by the media service.

The stream decides the SDP (through `negotiation`) and hands what was agreed
(`NegotiatedMedia`) to the media service, which owns the socket, the codecs,
SRTP, DTMF and the audio itself. As an `IAudioPort` of the voice mixer it
can be bridged with other ports; its own `bridge` holds the voice device,
the stream while it is active (started and not on hold) and its recorder.

Threads: the Session calls in on its worker; media events arrive on the bus
thread. Notifications are posted from whichever of the two saw the change.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sipsimple.audio import (
    AudioBridge,
    AudioDevice,
    AudioError,
    AudioMixer,
    IAudioPort,
    WaveRecorder,
    create_placed_stream,
    media_call,
    media_events,
    not_found,
)
from sipsimple.core.sdp import FrozenSDPSession, SDPAttribute, SDPMediaStream, SDPNegotiationError
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams.interface import IMediaStream, InvalidStreamError, UnknownStreamError
from sipsimple.streams.registry import MediaStreamRegistrar
from sipsimple.streams.rtp.codecs import canonical_codec_name
from sipsimple.streams.rtp.ice import (
    ICECandidate,
    ICECheck,
    LocalICE,
    RemoteICE,
    ice_attributes,
    ice_enabled,
    ice_servers,
    remote_ice,
)
from sipsimple.streams.rtp.negotiation import (
    RTP_TRANSPORTS,
    AudioConfig,
    NegotiatedMedia,
    answer_audio_offer,
    build_audio_offer,
    check_audio_offer,
    negotiate_answer,
    srtp_policy,
)

__all__ = ["DTMF_DIGITS", "AudioStream", "AudioStreamError"]

log = logging.getLogger(__name__)

DTMF_DIGITS = frozenset("0123456789ABCD*#")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]+")
# what the service may send (NOT the remote's say): a local hold stops our RTP
_NO_SENDING = {"sendrecv": "recvonly", "sendonly": "inactive"}


class AudioStreamError(RuntimeError):
    """An operation the stream cannot do in its state (e.g. recording before it started)."""


def audio_config(account: Any) -> AudioConfig:
    """The offer/answer configuration of `account`: its codec list, else the global one."""
    from sipsimple.configuration.settings import SIPSimpleSettings

    codecs = getattr(account.rtp, "audio_codec_list", None) or \
        SIPSimpleSettings().rtp.audio_codec_list
    # The settings allow codecs the media service does not run: they are skipped.
    names = tuple(n for n in (canonical_codec_name(str(c)) for c in codecs) if n is not None)
    encryption = account.rtp.encryption
    policy = srtp_policy(bool(encryption.enabled), str(encryption.key_negotiation))
    if not names:
        raise SDPNegotiationError("no supported audio codec is configured",
                                  warning="Incompatible media format")
    return AudioConfig(codecs=names, srtp=policy)


def recordings_directory() -> Path:
    """Where recordings go when no file name is given: the `audio.recordings_directory`
    setting, else `recordings` in the state directory."""
    from sipsimple.bus.endpoints import state_dir
    from sipsimple.configuration import ConfigurationError
    from sipsimple.configuration.settings import SIPSimpleSettings

    try:
        configured = SIPSimpleSettings().audio.recordings_directory
    except ConfigurationError:  # no configuration running: the default
        configured = None
    directory = Path(configured.normalized) if configured else state_dir() / "recordings"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def default_recording_name(local: str | None, remote: str | None, when: datetime) -> str:
    """`<timestamp>-<local>-<remote>.wav`, with only file-name-safe characters."""
    parts = [when.strftime("%Y%m%d-%H%M%S")]
    for who in (local, remote):
        if who:
            parts.append(_UNSAFE.sub("_", who).strip("_.")[:64] or "unknown")
    return "-".join(parts) + ".wav"


def _identity(header: Any) -> str | None:
    uri = getattr(header, "uri", None)
    if uri is None:
        return None
    user = getattr(uri, "user", None)
    host = getattr(uri, "host", None)
    return f"{user}@{host}" if user else str(host)


class AudioStream(IMediaStream, IAudioPort, metaclass=MediaStreamRegistrar):
    type = "audio"
    priority = 1
    hold_supported = True

    def __init__(self, account: Any) -> None:
        from sipsimple.application import SIPApplication

        self.account = account
        self.direction: str | None = None
        self._mixer: AudioMixer = SIPApplication.voice_audio_mixer or AudioMixer("voice")
        self.mixer_chosen = False  # the facade places the stream on a media worker
        self.bridge = AudioBridge(self.mixer)
        self.device = AudioDevice(self.mixer)
        self.bridge.add(self.device)

        self.on_hold_by_local = False
        self.on_hold_by_remote = False
        self.sample_rate: int | None = None
        self.codec: str | None = None
        self.srtp_active = False
        self.ice_active = False  # True while the pair ICE selected carries the audio
        self.local_rtp_candidate_type: str | None = None
        self.remote_rtp_candidate_type: str | None = None
        self.local_rtp_address: str | None = None
        self.local_rtp_port: int | None = None
        self.remote_rtp_address_sdp: str | None = None
        self.remote_rtp_port_sdp: int | None = None
        self.remote_rtp_address_received: str | None = None
        self.remote_rtp_port_received: int | None = None
        self.muted = False

        self._lock = threading.RLock()
        self._stream_id: str | None = None
        self._rtcp_port: int | None = None
        self._state = "new"  # new, initializing, initialized, started, ended
        self._deactivated = False
        self._remote_offer: FrozenSDPSession | None = None  # an offer to answer
        self._remote_index: int | None = None
        self._remote_sdp: FrozenSDPSession | None = None  # the peer's description in force
        self._pending: str | None = None  # "offer" or "answer": our last m-line
        self._answered: NegotiatedMedia | None = None  # what our last answer agreed
        self._negotiated: NegotiatedMedia | None = None
        self._recorder: WaveRecorder | None = None
        self._statistics: dict[str, Any] = {}
        # ICE (docs/nat.md): what we gathered, the peer's credentials in force, our
        # role, whether MediaStreamDidStart waits for the checks, the selected pair
        self._ice_local: LocalICE | None = None
        self._ice_remote: RemoteICE | None = None
        self._ice_controlling = False
        self._ice_waiting = False
        self._ice_over = False  # the checks for the credentials in force ended, either way
        self._ice_chosen: dict[str, Any] | None = None
        self._ice_restarting = False  # new credentials: no a=remote-candidates until done
        # moved to another address (rebind): the restart we offer, and who waits for it
        self._moved = False
        self._rebound: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<AudioStream {self._stream_id or 'new'} {self._state}>"

    # --- IAudioPort ---------------------------------------------------------------

    @property
    def mixer(self) -> AudioMixer:
        return self._mixer

    @mixer.setter
    def mixer(self, mixer: AudioMixer) -> None:
        """Set before the session starts, the stream stays on this mixer's media worker
        (e.g. the streams of a local conference on one); else the facade places it."""
        self._mixer = mixer
        self.mixer_chosen = True

    def _media(self, method: str, **params: Any) -> Any:
        """A call about this stream, to the media worker it is on (known here even
        when the facade's table of objects has forgotten it after a restart)."""
        return media_call(method, worker=self._mixer.worker, **params)

    @property
    def port_id(self) -> str | None:
        return self._stream_id if self._state in ("initialized", "started") else None

    @property
    def recording_filename(self) -> str | None:
        recorder = self._recorder
        return recorder.filename if recorder is not None else None

    @property
    def statistics(self) -> dict[str, Any]:
        """The service's counters for this stream (packets, loss, jitter, drops, ...)."""
        if self._stream_id is not None and self._state == "started":
            try:
                stats = self._media("stream_stats", stream_id=self._stream_id)
            except AudioError:
                return dict(self._statistics)
            if isinstance(stats, dict):
                self._statistics = dict(stats)
        return dict(self._statistics)

    # --- IMediaStream ---------------------------------------------------------------

    @classmethod
    def new_from_sdp(cls, account: Any, remote_sdp: FrozenSDPSession,
                     stream_index: int) -> AudioStream:
        media = remote_sdp.media[stream_index]
        if media.media != "audio":
            raise UnknownStreamError(f"m-line {stream_index} is {media.media!r}")
        if media.transport.upper() not in RTP_TRANSPORTS:
            raise UnknownStreamError(f"audio over {media.transport!r} is not RTP audio")
        try:
            check_audio_offer(remote_sdp, stream_index, audio_config(account))
        except SDPNegotiationError as exc:
            raise InvalidStreamError(str(exc)) from None
        stream = cls(account)
        stream._remote_offer, stream._remote_index = remote_sdp, stream_index
        return stream

    def initialize(self, session: Any, direction: str) -> None:
        with self._lock:
            if self._state != "new":
                raise AudioStreamError(f"{self!r} was initialized already")
            self._state = "initializing"
        self.session, self.direction = session, direction
        address = self._local_address(session)
        try:
            audio_config(self.account)  # a codec list with nothing we run fails here
            mixer, reply = create_placed_stream(self, session, address)
        except (AudioError, SDPNegotiationError) as exc:
            self._state = "ended"
            self._post("MediaStreamDidFail", reason=str(exc))
            return
        if mixer != self.bridge.mixer:  # on another media worker: its mixer and device
            self._mixer, self.bridge = mixer, AudioBridge(mixer)
            self.device = AudioDevice(mixer)
            self.bridge.add(self.device)
        with self._lock:
            self._stream_id = str(reply["stream_id"])
            self.local_rtp_address = str(reply.get("address") or address)
            self.local_rtp_port = int(reply["rtp_port"])
            self._rtcp_port = int(reply.get("rtcp_port") or self.local_rtp_port + 1)
        media_events.register(self._stream_id, self)
        if ice_enabled(self.account):
            # candidates first (STUN and TURN answers, DNS): MediaStreamDidInitialize
            # comes with media.ice_gathered, as the original SDK's did with its transport
            threading.Thread(target=self._gather, name="sipsimple-ice-gather",
                             daemon=True).start()
            return
        self._initialized()

    def _initialized(self) -> None:
        with self._lock:
            if self._state != "initializing":
                return
            self._state = "initialized"
        self._post("MediaStreamDidInitialize")

    def _gather(self) -> None:
        try:
            stun, turn, relay_only = ice_servers(self.account)
            self._media("ice_gather", stream_id=self._stream_id, stun_servers=stun,
                        turn_server=turn, relay_only=relay_only)
        except Exception as exc:  # no ICE then, but the call goes on
            log.warning("%r: ICE candidates not gathered: %s", self, exc)
            self._initialized()

    @staticmethod
    def _local_address(session: Any) -> str:
        hook = getattr(session, "local_media_address", None)
        if callable(hook):
            return str(hook())
        return "127.0.0.1"

    def get_local_media(self, for_offer: bool) -> SDPMediaStream:
        if self.local_rtp_address is None or self.local_rtp_port is None:
            raise AudioStreamError(f"{self!r} is not initialized")
        config = audio_config(self.account)
        ice = self._ice_local
        if for_offer:
            address, port, rtcp_port = self._default_candidate(ice)
            media = build_audio_offer(
                config, address, port, rtcp_port=rtcp_port,
                direction=self._wanted_direction(), previous=self._negotiated,
            )
            self._pending, self._answered = "offer", None
            if ice is not None:
                media.attributes.extend(ice_attributes(ice, self._remote_candidates()))
            return media
        offer, index = self._offer_to_answer()
        remote = remote_ice(offer, index) if ice is not None else None
        if ice is not None and remote is not None and not remote.mismatch and (
            self._ice_remote is not None and not remote.same_credentials(self._ice_remote)
        ):
            ice = self._ice_restart()  # RFC 8445 9: the peer restarts, so do we
        answer_ice = ice if remote is not None and not remote.mismatch else None
        address, port, rtcp_port = self._default_candidate(ice)
        media, negotiated = answer_audio_offer(
            offer, index, config, address, port, rtcp_port=rtcp_port,
            direction=self._wanted_direction(), previous=self._negotiated,
        )
        self._pending, self._answered = "answer", negotiated
        if answer_ice is not None and remote is not None:
            media.attributes.extend(ice_attributes(answer_ice))
            # The answerer checks from the moment its answer is out (RFC 8445 6.1.3, 6.3):
            # the TURN permissions for the offerer's candidates are in place before its
            # checks come, and a round trip of SIP (ACK) is not waited for.
            self._ice_controlling = remote.lite
            self._ice_start(remote, negotiated.rtcp_mux)
        elif remote is not None:
            media.attributes.append(SDPAttribute("ice-mismatch"))  # RFC 8839 5.8
        return media

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

    def _offer_to_answer(self) -> tuple[Any, int]:
        if self._remote_offer is not None and self._remote_index is not None:
            return self._remote_offer, self._remote_index
        if self._remote_sdp is not None and self._remote_index is not None:
            # a re-offer that left our m-line as it was: answered as that m-line was
            return self._remote_sdp, self._remote_index
        raise AudioStreamError(f"{self!r}: no remote offer to answer")

    def _wanted_direction(self) -> str:
        if self.on_hold_by_local:
            return "inactive" if self.on_hold_by_remote else "sendonly"
        return "sendrecv"

    def start(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
              stream_index: int) -> None:
        if self._state != "initialized" or self._stream_id is None:
            self._post("MediaStreamDidFail", reason=f"cannot start in state {self._state}")
            return
        try:
            negotiated, offered = self._negotiate(local_sdp, remote_sdp, stream_index)
        except SDPNegotiationError as exc:
            self._post("MediaStreamDidFail", reason=f"SDP negotiation failed: {exc}")
            return
        try:
            self._media("start_stream", stream_id=self._stream_id,
                        media=self._service_media(negotiated))
        except AudioError as exc:
            self._post("MediaStreamDidFail", reason=str(exc))
            return
        with self._lock:
            self._apply(negotiated, remote_sdp, stream_index, offered)
            self._state = "started"
        if self._ice_begin(negotiated, remote_sdp, stream_index, offered):
            self._set_active()
            return  # MediaStreamDidStart when the checks are over, as the original SDK
        self._set_active()
        self._post("MediaStreamDidStart")

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

    def _negotiate(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
                   index: int) -> tuple[NegotiatedMedia, bool | None]:
        """What applies now, and whether the remote description was an offer (None: unknown)."""
        pending, answered = self._pending, self._answered
        self._pending = self._answered = None
        if pending == "answer" and answered is not None:
            return answered, True
        if pending == "offer":
            negotiated = negotiate_answer(local_sdp.media[index], remote_sdp, index,
                                          audio_config(self.account))
            return negotiated, False
        if self._negotiated is not None:  # nothing of ours was renegotiated
            return self._negotiated, None
        raise SDPNegotiationError("no offer/answer of this stream to apply")

    def _apply(self, negotiated: NegotiatedMedia, remote_sdp: FrozenSDPSession, index: int,
               remote_offered: bool | None) -> None:
        direction = remote_sdp.media_direction(index)
        # An answer's inactive to our hold is its reply, not a hold of its own.
        if remote_offered or (remote_offered is False and not self.on_hold_by_local):
            self.on_hold_by_remote = direction in ("sendonly", "inactive")
        self._negotiated = negotiated
        self._remote_sdp, self._remote_index = remote_sdp, index
        self._remote_offer = None
        self.codec = negotiated.codec
        self.sample_rate = negotiated.sample_rate
        self.srtp_active = negotiated.srtp_active
        self.remote_rtp_address_sdp = negotiated.remote_address
        self.remote_rtp_port_sdp = negotiated.remote_port

    def _service_media(self, negotiated: NegotiatedMedia) -> dict[str, Any]:
        if self.on_hold_by_local:
            direction = _NO_SENDING.get(negotiated.direction, negotiated.direction)
            negotiated = dataclasses.replace(negotiated, direction=direction)
        return dataclasses.asdict(negotiated)

    def validate_update(self, remote_sdp: FrozenSDPSession, stream_index: int) -> bool:
        try:
            check_audio_offer(remote_sdp, stream_index, audio_config(self.account))
        except SDPNegotiationError as exc:
            log.info("%r: re-offer refused: %s", self, exc)
            return False
        self._remote_offer, self._remote_index = remote_sdp, stream_index
        return True

    def update(self, local_sdp: FrozenSDPSession, remote_sdp: FrozenSDPSession,
               stream_index: int) -> None:
        if self._state != "started" or self._stream_id is None:
            return
        try:
            negotiated, offered = self._negotiate(local_sdp, remote_sdp, stream_index)
        except SDPNegotiationError as exc:
            log.warning("%r: renegotiation failed: %s", self, exc)
            self._post("MediaStreamDidFail", reason=f"SDP renegotiation failed: {exc}")
            return
        held_before = self.on_hold_by_remote
        previous = self._negotiated
        with self._lock:
            self._apply(negotiated, remote_sdp, stream_index, offered)
        # A new offer/answer of this stream lets the service learn the peer's
        # address again (a NAT's new mapping); nothing else may move it.
        relearn = offered is not None
        if negotiated != previous or relearn:  # else another stream's change: nothing to do
            try:
                self._media("update_stream", stream_id=self._stream_id,
                            media=self._service_media(negotiated), relearn=relearn)
            except AudioError as exc:
                self._post("MediaStreamDidFail", reason=str(exc))
                return
        moved = self._moved and offered is False  # the answer to our offer after a move
        if moved:
            self._moved = False
        if moved and self._ice_local is not None:
            # our restart: checks from the new candidates
            self._ice_remote = None
            remote = remote_ice(remote_sdp, stream_index)
            if remote is None or remote.mismatch:
                self._ice_plain()
            else:
                self._ice_controlling = True  # we offered (RFC 8445 6.1.1)
                self._ice_start(remote, negotiated.rtcp_mux)
        elif self._ice_remote is not None and offered is not None:
            remote = remote_ice(remote_sdp, stream_index)
            if remote is not None and not remote.mismatch:
                # new candidates, or the peer's restart (our answer restarted too)
                self._ice_start(remote, negotiated.rtcp_mux)
        self._set_active()
        if self.on_hold_by_remote != held_before:
            self._post("AudioStreamDidChangeHoldState", originator="remote",
                       on_hold=self.on_hold_by_remote)
        if negotiated != previous or moved:  # moved: our own address changed
            self._post("AudioStreamDidChangeRTPParameters")

    def hold(self) -> None:
        if self.on_hold_by_local:
            return
        self.on_hold_by_local = True
        self._set_active()
        self._push_direction()
        self._post("AudioStreamDidChangeHoldState", originator="local", on_hold=True)

    def unhold(self) -> None:
        if not self.on_hold_by_local:
            return
        self.on_hold_by_local = False
        self._push_direction()
        self._set_active()
        self._post("AudioStreamDidChangeHoldState", originator="local", on_hold=False)

    def _push_direction(self) -> None:
        """Stop (or resume) sending now; the re-INVITE's outcome updates the rest."""
        negotiated = self._negotiated
        if self._state != "started" or negotiated is None or self._stream_id is None:
            return
        try:
            self._media("update_stream", stream_id=self._stream_id,
                        media=self._service_media(negotiated))
        except AudioError as exc:
            log.warning("%r: %s", self, exc)

    def deactivate(self) -> None:
        self._deactivated = True

    def end(self) -> None:
        with self._lock:
            if self._state in ("ended", "new"):
                self._state = "ended"
                return
            stream_id = self._stream_id
            self._state = "ended"
        self._post("MediaStreamWillEnd")
        self._stop_recorder()
        # not unlinked one by one: end_stream takes the stream's links with it
        self.bridge.forget(self)
        if stream_id is not None:
            media_events.unregister(stream_id)
            try:
                stats = self._media("end_stream", stream_id=stream_id)
                if isinstance(stats, dict):
                    self._statistics = dict(stats.get("stats", stats))
            except AudioError as exc:
                log.info("%r: %s", self, exc)
        self._post("MediaStreamDidEnd")

    # --- the stream's own API -----------------------------------------------------

    def send_dtmf(self, digit: str) -> None:
        if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
            raise ValueError(f"not a DTMF digit: {digit!r} (0-9, A-D, * or #)")
        if self._state != "started" or self._stream_id is None:
            raise AudioStreamError("DTMF can only be sent on a started stream")
        self._media("send_dtmf", stream_id=self._stream_id, digit=digit.upper())

    def set_muted(self, muted: bool) -> None:
        """Send silence instead of the audio of the stream's bridge (the microphone)."""
        self.muted = bool(muted)
        if self._stream_id is not None and self._state in ("initialized", "started"):
            self._media("set_mute", stream_id=self._stream_id, muted=self.muted)

    def start_recording(self, filename: str | None = None) -> None:
        if self._state != "started":
            raise AudioStreamError("recording needs a started stream")
        if self._recorder is not None:
            raise AudioStreamError(f"already recording to {self._recorder.filename}")
        if filename is None:
            session = self.session
            name = default_recording_name(
                _identity(getattr(session, "local_identity", None)),
                _identity(getattr(session, "remote_identity", None)), datetime.now())
            filename = str(recordings_directory() / name)
        filename = str(Path(filename).expanduser().absolute())
        recorder = WaveRecorder(self.mixer, filename)
        self._post("AudioStreamWillStartRecordingAudio", filename=filename)
        try:
            recorder.start()
        except AudioError as exc:
            raise AudioStreamError(f"could not record to {filename}: {exc}") from exc
        self._recorder = recorder
        self._set_active()
        self._post("AudioStreamDidStartRecordingAudio", filename=filename)

    def stop_recording(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        self._post("AudioStreamWillStopRecordingAudio", filename=recorder.filename)
        self._stop_recorder()
        self._post("AudioStreamDidStopRecordingAudio", filename=recorder.filename)

    def _stop_recorder(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        if recorder in self.bridge:
            self.bridge.remove(recorder)
        recorder.stop()

    # --- the bridge -------------------------------------------------------------------

    def _set_active(self) -> None:
        """The stream and its recorder are in the bridge while started and not on hold.

        Nothing is recorded on hold: the recorder leaves the bridge too.
        """
        with self._lock:
            active = self._state == "started" and not self.on_hold
            try:
                for port in (self, self._recorder):
                    if port is None:
                        continue
                    if active and port not in self.bridge:
                        self.bridge.add(port)
                    elif not active and port in self.bridge:
                        self.bridge.remove(port)
            except AudioError as exc:
                log.warning("%r: %s", self, exc)

    # --- media events (bus thread) ------------------------------------------------------

    def _media_event(self, name: str, data: NotificationData) -> None:
        what = name.partition(".")[2]
        if what.startswith("ice_"):
            self._ice_event(what, data)
        elif what == "stream_rtp_changed":
            address, port = getattr(data, "address", None), getattr(data, "port", None)
            self.remote_rtp_address_received = address if isinstance(address, str) else None
            valid = isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536
            self.remote_rtp_port_received = port if valid else None
        elif what == "stream_dtmf":
            digit = getattr(data, "digit", None)
            if isinstance(digit, str) and digit in DTMF_DIGITS:
                self._post("AudioStreamGotDTMF", digit=digit)
        elif what == "stream_timeout":
            self._post("AudioStreamDidTimeout", timeout=getattr(data, "seconds", None))
        elif what == "stream_stats":
            self._statistics = {k: v for k, v in data if k not in (
                "stream_id", "client", "service", "sender_id", "timestamp")}
        elif what == "stream_failed" and not self._deactivated and self._state in (
            "initialized", "started"
        ):
            self._post("MediaStreamDidFail", reason=str(getattr(data, "reason", "failed")))

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

    def _media_exists(self) -> bool:
        """Whether the service still has this stream (False only when it says so)."""
        if self._stream_id is None or self._state not in ("initialized", "started"):
            return True
        try:
            self._media("stream_stats", stream_id=self._stream_id)
        except AudioError as exc:
            return not not_found(exc)
        return True

    def _media_lost(self, reason: str) -> None:
        if not self._deactivated and self._state in ("initialized", "started"):
            self._post("MediaStreamDidFail", reason=reason)

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))
