"""The state every AudioStream holds, and what all its parts use: the media
service calls, the bridge, notifications.

`AudioStream` (audio.py) is built in layers so that each module stays readable:
`AudioStreamBase` here, `AudioStreamICE` (audio_ice.py: gathering, checks,
moves) on top of it, and `AudioStream` with the IMediaStream methods, the
stream's own API and its media events. See audio.py for the threading rules.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sipsimple.audio import (
    AudioBridge,
    AudioDevice,
    AudioError,
    AudioMixer,
    IAudioPort,
    WaveRecorder,
    media_call,
)
from sipsimple.core.sdp import FrozenSDPSession
from sipsimple.notification import NotificationCenter, NotificationData
from sipsimple.streams.interface import IMediaStream
from sipsimple.streams.rtp.ice import LocalICE, RemoteICE
from sipsimple.streams.rtp.negotiation import NegotiatedMedia

__all__ = ["AudioStreamBase", "AudioStreamError"]

log = logging.getLogger(__name__)


class AudioStreamError(RuntimeError):
    """An operation the stream cannot do in its state (e.g. recording before it started)."""


class AudioStreamBase(IMediaStream, IAudioPort):
    """The attributes of the document's AudioStream and the helpers all its layers use."""

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

    # --- the life cycle ---------------------------------------------------------------

    def _initialized(self) -> None:
        with self._lock:
            if self._state != "initializing":
                return
            self._state = "initialized"
        self._post("MediaStreamDidInitialize")

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

    # --- notifications ----------------------------------------------------------------

    def _post(self, name: str, **data: Any) -> None:
        data.setdefault("timestamp", datetime.now())
        NotificationCenter().post_notification(name, self, NotificationData(**data))
