"""The audio objects of the facade: mixers, ports, bridges, players and recorders.

Each is a proxy for a port of the media service's conference mixers; see
`sipsimple.audio` (which exports them all) for the whole picture.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

from sipsimple import media_workers
from sipsimple.media_calls import AudioError, media_call, media_calls, not_found
from sipsimple.media_events import media_events
from sipsimple.notification import NotificationCenter, NotificationData

__all__ = [
    "MIXERS",
    "AudioBridge",
    "AudioDevice",
    "AudioMixer",
    "IAudioPort",
    "TonePlayer",
    "WavePlayer",
    "WaveRecorder",
    "media_directories",
]

log = logging.getLogger(__name__)

MIXERS = ("voice", "alert")


def _post(name: str, sender: object, **data: Any) -> None:
    data.setdefault("timestamp", datetime.now())
    NotificationCenter().post_notification(name, sender, NotificationData(**data))


class AudioMixer:
    """One of a media worker's conference mixers ("voice" or "alert").

    The application's mixers (and the sound devices) are the first worker's; a
    stream placed on another worker gets that worker's voice mixer.
    """

    def __init__(self, mixer_id: str = "voice", worker: str = media_workers.FIRST) -> None:
        if mixer_id not in MIXERS:
            raise ValueError(f"no mixer {mixer_id!r}; the mixers are {', '.join(MIXERS)}")
        if not media_workers.is_media_worker(worker):
            raise ValueError(f"no media worker {worker!r}")
        self.mixer_id = mixer_id
        self.worker = worker

    def __repr__(self) -> str:
        if self.worker == media_workers.FIRST:
            return f"<AudioMixer {self.mixer_id}>"
        return f"<AudioMixer {self.mixer_id} on {self.worker}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AudioMixer) and other.mixer_id == self.mixer_id and \
            other.worker == self.worker

    def __hash__(self) -> int:
        return hash(("AudioMixer", self.mixer_id, self.worker))

    def connect(self, source: IAudioPort, sink: IAudioPort) -> None:
        """Audio of `source` goes to `sink` (one way)."""
        self._check(source, sink)
        media_call("connect_ports", worker=self.worker, source=source.port_id,
                   sink=sink.port_id)

    def disconnect(self, source: IAudioPort, sink: IAudioPort) -> None:
        self._check(source, sink)
        media_call("disconnect_ports", worker=self.worker, source=source.port_id,
                   sink=sink.port_id)

    def _check(self, *ports: IAudioPort) -> None:
        for port in ports:
            if port.mixer != self:
                raise ValueError(f"{port!r} belongs to {port.mixer!r}, not to {self!r}")
            if port.port_id is None:
                raise ValueError(f"{port!r} is not started")

    @staticmethod
    def list_devices() -> dict[str, Any]:
        """{"input": [names], "output": [names], "default": {...}} from the media service."""
        result: dict[str, Any] = media_call("list_devices", worker=media_workers.FIRST)
        return result

    @property
    def real_input_device(self) -> str:
        """The input device in use ("null" when none, and always for the alert mixer)."""
        if self.mixer_id == "alert":
            return "null"
        return str((self.list_devices().get("current") or {}).get("input", "null"))

    @property
    def real_output_device(self) -> str:
        """The output device in use ("null" when none, e.g. after a device disappeared)."""
        kind = "alert" if self.mixer_id == "alert" else "output"
        return str((self.list_devices().get("current") or {}).get(kind, "null"))

    @property
    def input_devices(self) -> list[str]:
        return list(self.list_devices().get("input", []))

    @property
    def output_devices(self) -> list[str]:
        return list(self.list_devices().get("output", []))


class IAudioPort(ABC):
    """Something of a mixer that produces and/or consumes audio."""

    mixer: AudioMixer

    @property
    @abstractmethod
    def port_id(self) -> str | None:
        """The service's id of the port; None while it does not exist there."""

    def _bridges(self) -> weakref.WeakSet[AudioBridge]:
        bridges: weakref.WeakSet[AudioBridge] | None = self.__dict__.get("_port_bridges")
        if bridges is None:
            bridges = self.__dict__["_port_bridges"] = weakref.WeakSet()
        return bridges

    def _port_appeared(self) -> None:
        """Call once the port exists in the service: its bridges connect it."""
        for bridge in list(self._bridges()):
            bridge._connect_port(self)


class AudioDevice(IAudioPort):
    """The sound device of a mixer (the null device when none is configured or present)."""

    def __init__(self, mixer: AudioMixer) -> None:
        self.mixer = mixer

    def __repr__(self) -> str:
        return f"<AudioDevice {self.mixer.mixer_id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AudioDevice) and other.mixer == self.mixer

    def __hash__(self) -> int:
        return hash(("AudioDevice", self.mixer.mixer_id, self.mixer.worker))

    @property
    def port_id(self) -> str:
        return f"{self.mixer.mixer_id}-device"


class AudioBridge:
    """A set of ports of one mixer, each hearing all the others."""

    def __init__(self, mixer: AudioMixer) -> None:
        self.mixer = mixer
        self._ports: list[IAudioPort] = []
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<AudioBridge {self.mixer.mixer_id} {self._ports}>"

    def __contains__(self, port: object) -> bool:
        return port in self._ports

    def __iter__(self) -> Iterator[IAudioPort]:
        return iter(list(self._ports))

    def __len__(self) -> int:
        return len(self._ports)

    def add(self, port: IAudioPort) -> None:
        if port.mixer != self.mixer:
            raise ValueError(f"{port!r} belongs to {port.mixer!r}, not to {self.mixer!r}")
        with self._lock:
            if port in self._ports:
                raise ValueError(f"{port!r} is already in the bridge")
            self._ports.append(port)
            port._bridges().add(self)
            self._connect_port(port)

    def remove(self, port: IAudioPort) -> None:
        with self._lock:
            if port not in self._ports:
                raise ValueError(f"{port!r} is not in the bridge")
            self._ports.remove(port)
            port._bridges().discard(self)
            if port.port_id is None:
                return
            self._link("disconnect_ports", port,
                       [other for other in self._ports if other.port_id is not None])

    def forget(self, port: IAudioPort) -> None:
        """Take `port` out without unlinking it in the service: for a port about to
        end there, which takes its links with it (one round trip less)."""
        with self._lock:
            if port in self._ports:
                self._ports.remove(port)
                port._bridges().discard(self)

    def _connect_port(self, port: IAudioPort) -> None:
        with self._lock:
            if port not in self._ports or port.port_id is None:
                return
            self._link("connect_ports", port,
                       [other for other in self._ports
                        if other is not port and other.port_id is not None])

    @staticmethod
    def _link(method: str, port: IAudioPort, others: list[IAudioPort]) -> None:
        """`method` both ways between `port` and each of `others`, pipelined."""
        calls = [(method, {"source": source.port_id, "sink": sink.port_id})
                 for other in others for source, sink in ((port, other), (other, port))]
        for outcome in media_calls(calls, worker=port.mixer.worker):
            # a port that just went away (a player at its end) is no error
            if isinstance(outcome, AudioError) and not not_found(outcome):
                raise outcome


class _ServicePort(IAudioPort):
    """A port the service creates on start() and destroys on stop()."""

    kind: ClassVar[str]

    def __init__(self, mixer: AudioMixer) -> None:
        self.mixer = mixer
        self._port_id: str | None = None
        self._lock = threading.RLock()

    @property
    def port_id(self) -> str | None:
        return self._port_id

    @property
    def is_active(self) -> bool:
        return self._port_id is not None

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError

    def start(self) -> None:
        with self._lock:
            if self._port_id is not None:
                return
            reply = media_call("create_port", worker=self.mixer.worker, kind=self.kind,
                               params=self._params(), mixer_id=self.mixer.mixer_id)
            self._port_id = str(reply["port_id"])
            media_events.register(self._port_id, self)
        self._port_appeared()
        self._started()

    def stop(self) -> None:
        with self._lock:
            port_id, self._port_id = self._port_id, None
            if port_id is None:
                return
            media_events.unregister(port_id)
        try:
            media_call("destroy_port", worker=self.mixer.worker, port_id=port_id)
        except AudioError as exc:
            if not not_found(exc):  # gone by itself (a finished player) is fine
                log.warning("%r: %s", self, exc)
        self._stopped()

    def _started(self) -> None:
        pass

    def _stopped(self) -> None:
        pass

    def _media_event(self, name: str, data: NotificationData) -> None:
        if name == "media.port_done":
            self._done()

    def _done(self) -> None:
        self.stop()

    def _media_lost(self, reason: str) -> None:
        with self._lock:
            self._port_id = None
        self._stopped()


class WavePlayer(_ServicePort):
    """Plays a WAV file into the mixer (and so into what its bridges connect).

    `loop_count` 0 plays forever, n plays n times. Posts WavePlayerDidStart
    and WavePlayerDidEnd.
    """

    kind = "player"

    def __init__(self, mixer: AudioMixer, filename: str, volume: int = 100,
                 loop_count: int = 1) -> None:
        if loop_count < 0:
            raise ValueError("loop_count must be 0 (forever) or more")
        if not 0 <= volume <= 100:
            raise ValueError("volume is 0 to 100")
        super().__init__(mixer)
        self.filename = str(filename)
        self.volume = volume
        self.loop_count = loop_count
        self._plays = 0

    def __repr__(self) -> str:
        return f"<WavePlayer {self.filename!r}>"

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"filename": _absolute(self.filename),
                                  "loop": self.loop_count == 0}
        if self.volume != 100:
            params["volume"] = self.volume
        return params

    def start(self) -> None:
        self._plays = 0
        super().start()

    def _started(self) -> None:
        if self._plays == 0:
            _post("WavePlayerDidStart", self)

    def _done(self) -> None:
        self._plays += 1
        if self.loop_count and self._plays < self.loop_count:
            with self._lock:
                port_id, self._port_id = self._port_id, None
            media_events.unregister(port_id)
            try:
                super().start()  # again, into the same bridges
                return
            except AudioError as exc:
                log.warning("%r: %s", self, exc)
        self.stop()

    def _stopped(self) -> None:
        _post("WavePlayerDidEnd", self)


class TonePlayer(_ServicePort):
    """Plays a tone (the sum of `frequencies`, in Hz) for `duration` seconds, or until stopped."""

    kind = "tone"

    def __init__(self, mixer: AudioMixer, frequencies: list[float] | tuple[float, ...],
                 duration: float | None = None, volume: int = 50) -> None:
        frequencies = [float(f) for f in frequencies]
        if not frequencies or any(not 0 < f < 24000 for f in frequencies):
            raise ValueError("frequencies are one or more values between 0 and 24000 Hz")
        if duration is not None and duration <= 0:
            raise ValueError("duration must be positive (or None: until stopped)")
        if not 0 <= volume <= 100:
            raise ValueError("volume is 0 to 100")
        super().__init__(mixer)
        self.frequencies = frequencies
        self.duration = duration
        self.volume = volume

    def __repr__(self) -> str:
        return f"<TonePlayer {self.frequencies} Hz>"

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"frequencies": self.frequencies}
        if self.duration is not None:
            params["duration"] = self.duration
        params["volume"] = self.volume
        return params


class WaveRecorder(_ServicePort):
    """Records what the ports connected to it produce into a WAV file."""

    kind = "recorder"

    def __init__(self, mixer: AudioMixer, filename: str) -> None:
        super().__init__(mixer)
        self.filename = str(filename)

    def __repr__(self) -> str:
        return f"<WaveRecorder {self.filename!r}>"

    def _params(self) -> dict[str, Any]:
        return {"filename": _absolute(self.filename)}


def _absolute(filename: str) -> str:
    # The service runs elsewhere (its own working directory): it gets the path
    # this process means, and checks it against the directories it may use.
    return os.path.abspath(os.path.expanduser(filename))


def media_directories() -> list[str]:
    """The directories sent to the media service for players and recorders: the
    recordings directory, the file transfer directory, and this process's
    SIPSIMPLE_MEDIA_DIRECTORIES."""
    from sipsimple.configuration.settings import SIPSimpleSettings
    from sipsimple.streams.rtp.audio import recordings_directory

    directories = [str(recordings_directory())]
    transfers = SIPSimpleSettings().file_transfer.directory
    if transfers:
        directories.append(_absolute(str(transfers.normalized)))
    for part in os.environ.get("SIPSIMPLE_MEDIA_DIRECTORIES", "").split(os.pathsep):
        if part.strip():
            directories.append(_absolute(part))
    return directories
