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

This module is the API; the parts live in their own modules: `audio_ports`
(mixers, ports, bridges, players, recorders), `media_calls` (the calls to the
workers, `AudioError`) and `media_events` (their events to the objects). Here:
`AudioComponent`, the settings pushed to the service, and stream placement.
"""

from __future__ import annotations

import logging
from typing import Any

from sipsimple import media_workers
from sipsimple.audio_ports import (
    AudioBridge,
    AudioDevice,
    AudioMixer,
    IAudioPort,
    TonePlayer,
    WavePlayer,
    WaveRecorder,
    media_directories,
)
from sipsimple.bus.client import ServiceUnavailable, get_bus
from sipsimple.media_calls import AudioError, media_call
from sipsimple.media_calls import media_calls as media_calls
from sipsimple.media_calls import not_found as not_found
from sipsimple.media_calls import reconcile as reconcile
from sipsimple.media_events import media_events as media_events
from sipsimple.notification import Notification, NotificationCenter

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
