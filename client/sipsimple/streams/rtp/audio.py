"""AudioStream: RTP audio of a session, run by the media service.

The stream decides the SDP (through `negotiation`) and hands what was agreed
(`NegotiatedMedia`) to the media service, which owns the socket, the codecs,
SRTP, DTMF and the audio itself. As an `IAudioPort` of the voice mixer it
can be bridged with other ports; its own `bridge` holds the voice device,
the stream while it is active (started and not on hold) and its recorder.

Threads: the Session calls in on its worker; media events arrive on the bus
thread. Notifications are posted from whichever of the two saw the change.

The class is built in layers: `AudioStreamBase` (audio_base.py: its state, the
media service calls, the bridge), `AudioStreamICE` (audio_ice.py) and
`AudioStream` here.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from sipsimple.audio import (
    AudioBridge,
    AudioDevice,
    AudioError,
    WaveRecorder,
    create_placed_stream,
    media_events,
    not_found,
)
from sipsimple.core.sdp import FrozenSDPSession, SDPAttribute, SDPMediaStream, SDPNegotiationError
from sipsimple.notification import NotificationData
from sipsimple.streams.interface import InvalidStreamError, UnknownStreamError
from sipsimple.streams.registry import MediaStreamRegistrar
from sipsimple.streams.rtp.audio_base import AudioStreamError
from sipsimple.streams.rtp.audio_ice import AudioStreamICE
from sipsimple.streams.rtp.codecs import canonical_codec_name
from sipsimple.streams.rtp.ice import ice_attributes, ice_enabled, remote_ice
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


class AudioStream(AudioStreamICE, metaclass=MediaStreamRegistrar):
    type = "audio"
    priority = 1
    hold_supported = True

    @property
    def recording_filename(self) -> str | None:
        recorder = self._recorder
        return recorder.filename if recorder is not None else None

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
