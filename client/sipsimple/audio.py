"""The audio API of the Middleware: mixers, bridges, devices, players and recorders.

Every object here is a proxy for a port of the media service's conference
mixers ("voice" and "alert"); audio never crosses the bus. A port hears the
ports connected to it (`connect_ports(source, sink)`, one way); an
`AudioBridge` connects each of its ports to every other one, both ways, so
that, e.g., a stream and the device in one bridge hear each other and a
recorder added to it records both.

Ports that exist in the service only while started (players, recorders, a
stream between `initialize` and `end`) tell their bridges when they appear,
so a bridge may hold a port before it is started.

`AudioComponent` is what `SIPApplication` starts: the two mixers, their
devices and bridges, and the settings pushed to the service (devices,
`rtp.port_range`, `rtp.timeout`), again after the service restarts.

The media service runs as several workers (`sipsimple.media_workers`): a mixer
is one worker's (`AudioMixer.worker`; the application's are the first's), a
call goes to the worker holding the object it names, and a new stream is
placed on a worker when it is initialized (`place_stream`). A worker that
restarts takes only its own objects down.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sipsimple import media_workers
from sipsimple.bus.client import BusError, ServiceError, ServiceUnavailable, get_bus
from sipsimple.bus.schema import EVENTS
from sipsimple.notification import Notification, NotificationCenter, NotificationData

__all__ = [
    "AudioBridge",
    "AudioComponent",
    "AudioDevice",
    "AudioError",
    "AudioMixer",
    "IAudioPort",
    "TonePlayer",
    "WavePlayer",
    "WaveRecorder",
    "configure_media_service",
]

log = logging.getLogger(__name__)

MEDIA_TIMEOUT = 5.0  # seconds for one media service call
MIXERS = ("voice", "alert")


class AudioError(RuntimeError):
    """A media service call failed (the service is down, or refused the request)."""


def media_call(method: str, worker: str | None = None, **params: Any) -> Any:
    """One call to a media worker: `worker`, else the one holding the object the
    call names (the first for none). Every failure is an AudioError.

    A create names its object (`_new_id`): one that gets no answer in time is
    ended by that id (`_cancel`), so that a worker that carries it out late
    (busy, or restarted meanwhile) holds nothing that no facade object knows of.
    """
    target = worker or media_workers.worker_of(params)
    made = _new_id(method, params)
    if made is not None:
        media_workers.creating(made, target)
    try:
        try:
            result = get_bus().call(target, method, timeout=MEDIA_TIMEOUT, **params)
        except BusError as exc:
            if isinstance(exc, ServiceUnavailable):
                media_workers.unanswered(target)
                if made is not None:
                    _cancel(target, method, made)
            if method in ("end_stream", "destroy_port"):  # gone for the facade either way
                _track(target, method, params, None)
            raise AudioError(f"media service: {method} failed: {exc}") from exc
        _track(target, method, params, result)
    finally:
        if made is not None:
            media_workers.created(made)
    return result


CANCEL_TIMEOUT = 30.0  # for the end of a create that got no answer to reach its worker
_CANCELS = {"create_stream": ("end_stream", "stream_id"),
            "create_port": ("destroy_port", "port_id")}


def _new_id(method: str, params: dict[str, Any]) -> str | None:
    """The id of the object a create makes, chosen here (set in `params`)."""
    if method not in _CANCELS:
        return None
    name = _CANCELS[method][1]
    if not isinstance(params.get(name), str):
        params[name] = uuid.uuid4().hex if method == "create_stream" else \
            f"{params.get('kind')}-{uuid.uuid4().hex[:16]}"
    value: str = params[name]
    return value


def _cancel(worker: str, method: str, object_id: str) -> None:
    """End `object_id`, whose create got no answer: made, it is ended; not made yet,
    the worker refuses its create when it comes (services/media/object_ids.py)."""
    end, name = _CANCELS[method]
    log.info("media: %s of %s on %s got no answer: ending it", method, object_id, worker)
    try:
        get_bus().call_async(worker, end, {name: object_id}, timeout=CANCEL_TIMEOUT)
    except BusError as exc:  # the bus client stopped: the worker releases what was ours
        log.info("media: cannot end %s on %s: %s", object_id, worker, exc)


def _track(worker: str, method: str, params: dict[str, Any], result: Any) -> None:
    """Remember which worker (and its instance) holds the objects made, forget the
    ones ended."""
    if method in ("create_stream", "create_port") and isinstance(result, dict):
        object_id = result.get("stream_id") or result.get("port_id")
        instance = result.get("instance")
        if isinstance(object_id, str):
            media_workers.remember(object_id, worker, stream=method == "create_stream",
                                   instance=instance if isinstance(instance, str) else None)
    elif method in ("end_stream", "destroy_port"):
        media_workers.forget(params.get("stream_id") or params.get("port_id"))


def reconcile(worker: str) -> list[str]:
    """End the objects `worker` holds for this client that no facade object holds or
    is creating (a safety net after a restart: there should be none). Returns
    their ids."""
    try:
        owned = media_call("owned", worker=worker)
    except AudioError as exc:
        log.info("media: cannot list what %s holds: %s", worker, exc)
        return []
    known = media_workers.known_on(worker)  # read after the answer: see media_workers
    orphans = [(end, name, object_id)
               for kind, end, name in (("streams", "end_stream", "stream_id"),
                                       ("ports", "destroy_port", "port_id"))
               for object_id in owned.get(kind, ()) if object_id not in known]
    for end, name, object_id in orphans:
        log.warning("media: %s holds %s that no object of this client knows of: ending it",
                    worker, object_id)
        try:
            media_call(end, worker=worker, **{name: object_id})
        except AudioError as exc:
            if not not_found(exc):
                log.warning("media: %s", exc)
    return [object_id for _, _, object_id in orphans]


def media_calls(calls: Sequence[tuple[str, dict[str, Any]]],
                worker: str | None = None) -> list[Any]:
    """Calls to one media worker pipelined (one round trip, one wait behind the
    clock's ticks): each call's result, or the AudioError it got, in order."""
    if not calls:
        return []
    target = worker or media_workers.worker_of(calls[0][1])
    try:
        outcomes = get_bus().call_many(target, calls, timeout=MEDIA_TIMEOUT)
    except BusError as exc:
        if isinstance(exc, ServiceUnavailable):
            media_workers.unanswered(target)
        raise AudioError(f"media service: {calls[0][0]} failed: {exc}") from exc
    results: list[Any] = []
    for (method, _), outcome in zip(calls, outcomes, strict=True):
        if isinstance(outcome, ServiceError):
            error = AudioError(f"media service: {method} failed: {outcome}")
            error.__cause__ = outcome
            outcome = error
        results.append(outcome)
    return results


def not_found(exc: AudioError) -> bool:
    """Whether the service said the object the call named does not exist."""
    cause = exc.__cause__
    return isinstance(cause, ServiceError) and cause.code == "not-found"


# --- events ------------------------------------------------------------------


class _MediaEvents:
    """Routes the media workers' events to the facade object each one names.

    The bus posts every `media.*` event with the BusClient as sender; objects
    register under their stream_id or port_id and get `_media_event(name,
    data)`. A restart of a worker loses every object it held: they get
    `_media_lost(reason)`; the other workers' objects are untouched.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._observing = False

    def register(self, object_id: str, obj: Any) -> None:
        with self._lock:
            self._objects[object_id] = obj
            if self._observing:
                return
            self._observing = True
        center = NotificationCenter()
        for name in (*EVENTS["media"], "ServiceDidRestart", "ServiceDidConnect"):
            center.add_observer(self, name=name)

    def unregister(self, object_id: str | None) -> None:
        if object_id is None:
            return
        with self._lock:
            self._objects.pop(object_id, None)

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        service = getattr(data, "service", None)
        if notification.name == "ServiceDidConnect":
            # A restart before the client's first heartbeat looks like a first
            # connect: objects made before it are checked (not on the bus thread).
            if isinstance(service, str) and media_workers.is_media_worker(service) \
                    and len(self._objects):
                threading.Thread(target=self._verify, args=(service,),
                                 name="sipsimple-media-check", daemon=True).start()
            return
        if notification.name == "ServiceDidRestart":
            if not isinstance(service, str) or not media_workers.is_media_worker(service):
                return
            # Lost: what the instances before made; what the new one made since the
            # restart (before this heartbeat told of it) is alive.
            instance = getattr(data, "instance", None)
            gone = media_workers.forget_worker(
                service, instance if isinstance(instance, str) else None)
            with self._lock:
                lost = [obj for obj in (self._objects.pop(i, None) for i in gone)
                        if obj is not None]
            for obj in lost:
                self._deliver(obj, "_media_lost", _lost_reason(service))
            threading.Thread(target=reconcile, args=(service,),
                             name="sipsimple-media-check", daemon=True).start()
            return
        object_id = getattr(data, "stream_id", None) or getattr(data, "port_id", None)
        if not isinstance(object_id, str):
            return
        with self._lock:
            obj = self._objects.get(object_id)
        if obj is not None:
            self._deliver(obj, "_media_event", notification.name, data)

    def _verify(self, worker: str) -> None:
        on_worker = set(media_workers.objects_on(worker))
        with self._lock:
            objects = [(i, obj) for i, obj in self._objects.items() if i in on_worker]
        for object_id, obj in objects:
            exists = getattr(obj, "_media_exists", None)
            if exists is not None and not exists():
                self.unregister(object_id)
                media_workers.forget(object_id)
                self._deliver(obj, "_media_lost", _lost_reason(worker))
        reconcile(worker)

    @staticmethod
    def _deliver(obj: Any, method: str, *args: Any) -> None:
        try:
            getattr(obj, method)(*args)
        except Exception:
            log.exception("%r: handling a media event raised", obj)


media_events = _MediaEvents()


def _lost_reason(worker: str) -> str:
    if worker == media_workers.FIRST:
        return "the media service restarted"
    return f"the media service restarted (worker {worker})"


def _post(name: str, sender: object, **data: Any) -> None:
    data.setdefault("timestamp", datetime.now())
    NotificationCenter().post_notification(name, sender, NotificationData(**data))


# --- mixers and ports --------------------------------------------------------


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


# --- the application's audio component ------------------------------------------------


def _device(value: Any) -> str:
    # The settings say None for the null device; to the service None is the default.
    return "null" if value is None else str(value)


def configure_media_service(worker: str | None = None) -> None:
    """Push the settings the media service uses (devices, file directories, RTP
    ports and timeout) to `worker`, or to every worker. The devices go to the
    first worker only: it alone opens the sound card.

    Every call is made even if one fails; the first failure is raised.
    """
    from sipsimple.application import SIPApplication
    from sipsimple.configuration.settings import SIPSimpleSettings
    from sipsimple.storage import is_stored_configuration

    settings = SIPSimpleSettings()
    audio, port_range = settings.audio, settings.rtp.port_range
    calls: list[tuple[str, dict[str, Any]]] = [
        ("set_devices", {"input_device": _device(audio.input_device),
                         "output_device": _device(audio.output_device),
                         "alert_device": _device(audio.alert_device)}),
    ]
    targets = media_workers.workers(get_bus()) if worker is None else (worker,)
    # Players and recorders may use the directories the settings name (the
    # service refuses others); the RTP settings only when the application's
    # storage is not the stored configuration, which the service reads itself.
    configure: dict[str, Any] = {"directories": media_directories()}
    if not is_stored_configuration(SIPApplication.storage):
        configure.update(port_range=[int(port_range.start), int(port_range.end)],
                         rtp_timeout=int(settings.rtp.timeout))
    calls.append(("configure", configure))
    failure: AudioError | None = None
    for target in targets:
        for method, params in calls:
            if method == "set_devices" and target != media_workers.FIRST:
                continue
            try:
                result = media_call(method, worker=target, **params)
            except AudioError as exc:
                failure = failure or exc
                continue
            if method == "set_devices" and isinstance(result, dict):
                media_workers.set_devices_in_use(result)
    if failure is not None:
        raise failure


class AudioComponent:
    """The SIPApplication's audio objects, and the settings kept in step with the service."""

    def __init__(self) -> None:
        self.voice_mixer = AudioMixer("voice")
        self.alert_mixer = AudioMixer("alert")
        self.voice_device = AudioDevice(self.voice_mixer)
        self.alert_device = AudioDevice(self.alert_mixer)
        self.voice_bridge = AudioBridge(self.voice_mixer)
        self.alert_bridge = AudioBridge(self.alert_mixer)
        self.voice_bridge.add(self.voice_device)
        self.alert_bridge.add(self.alert_device)

    def start(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        try:
            configure_media_service()
        except AudioError as exc:  # audio is not everything: sessions without it still work
            log.warning("could not configure the media service: %s", exc)
        center = NotificationCenter()
        center.add_observer(self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings())
        # a restart seen before the first heartbeat looks like a first connect
        center.add_observer(self, name="ServiceDidRestart")
        center.add_observer(self, name="ServiceDidConnect")
        center.add_observer(self, name="media.devices_changed")

    def stop(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        center = NotificationCenter()
        center.discard_observer(self, name="CFGSettingsObjectDidChange",
                                sender=SIPSimpleSettings())
        center.discard_observer(self, name="ServiceDidRestart")
        center.discard_observer(self, name="ServiceDidConnect")
        center.discard_observer(self, name="media.devices_changed")

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        service = getattr(data, "service", None)
        if notification.name == "media.devices_changed":
            if service == media_workers.FIRST:
                media_workers.set_devices_in_use(dict(data))
            return
        from sipsimple.application import push_settings

        if notification.name == "CFGSettingsObjectDidChange":
            if any(k.startswith(("audio.", "rtp.")) for k in data.modified):
                push_settings("media", configure_media_service)
        elif isinstance(service, str) and media_workers.is_media_worker(service):
            # a restarted worker starts from its defaults: it alone is told again
            push_settings(service, lambda: configure_media_service(service))


# --- placing streams on workers --------------------------------------------------------


def place_stream(stream: IAudioPort, session: Any) -> tuple[AudioMixer, bool]:
    """The mixer a new stream of `session` goes to (`sipsimple.media_workers` has the
    rule), and whether it was chosen by load. A mixer the application gave the
    stream (`stream.mixer = AudioMixer("voice", worker)` before its session starts:
    the streams of a local conference, say), or something in the stream's bridge
    besides its device, keeps it where it is."""
    mixer = stream.mixer
    bridge: AudioBridge | None = getattr(stream, "bridge", None)
    if getattr(stream, "mixer_chosen", False) or mixer != AudioMixer(mixer.mixer_id) or any(
            port is not stream and not isinstance(port, AudioDevice) for port in bridge or ()):
        return mixer, False
    worker = media_workers.session_worker(session)
    by_load = worker is None and not media_workers.sound_card_in_use()
    if worker is None:
        worker = media_workers.least_loaded(get_bus()) if by_load else media_workers.FIRST
    return (mixer if worker == mixer.worker else AudioMixer(mixer.mixer_id, worker)), by_load


def create_placed_stream(stream: IAudioPort, session: Any,
                         address: str) -> tuple[AudioMixer, dict[str, Any]]:
    """`create_stream` on the worker `place_stream` picks: (its mixer, the reply). A
    worker picked by load that does not answer is left for another, once."""
    placed, by_load = place_stream(stream, session)
    try:
        reply = media_call("create_stream", worker=placed.worker, address=address,
                           mixer_id=placed.mixer_id)
    except AudioError as exc:
        if not (by_load and isinstance(exc.__cause__, ServiceUnavailable)):
            raise
        other = media_workers.least_loaded(get_bus(), exclude=(placed.worker,))
        if other == placed.worker:
            raise
        placed = AudioMixer(placed.mixer_id, other)
        reply = media_call("create_stream", worker=other, address=address,
                           mixer_id=placed.mixer_id)
    media_workers.placed(session, placed.worker)
    return placed, reply
