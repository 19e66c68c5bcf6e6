"""The media workers' events, routed to the facade object each one names."""

from __future__ import annotations

import logging
import threading

from sipsimple import media_workers
from sipsimple.bus.schema import EVENTS
from sipsimple.event_routes import EventRoutes
from sipsimple.media_calls import reconcile
from sipsimple.notification import Notification

__all__ = ["media_events"]

log = logging.getLogger(__name__)


class _MediaEvents(EventRoutes):
    """Routes the media workers' events to the facade object each one names.

    The bus posts every `media.*` event with the BusClient as sender; objects
    register under their stream_id or port_id and get `_media_event(name,
    data)`. A restart of a worker loses every object it held: they get
    `_media_lost(reason)`; the other workers' objects are untouched.
    """

    def __init__(self) -> None:
        super().__init__((*EVENTS["media"], "ServiceDidRestart", "ServiceDidConnect"), log,
                         "a media event")

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
        obj = self.get(object_id)
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


media_events = _MediaEvents()


def _lost_reason(worker: str) -> str:
    if worker == media_workers.FIRST:
        return "the media service restarted"
    return f"the media service restarted (worker {worker})"
