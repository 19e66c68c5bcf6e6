"""Routes the msrp service's events to the stream whose session each one names.

Every ``msrp.*`` event is posted with the BusClient as sender; a stream
registers under its service session id and gets `_msrp_event(name, data)` on
the bus thread. A restart of the service loses every session: the streams
get `_msrp_lost(reason)`.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from sipsimple.bus.schema import EVENTS
from sipsimple.notification import Notification, NotificationCenter

__all__ = ["msrp_events"]

log = logging.getLogger(__name__)


class _MSRPEvents:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._observing = False

    def register(self, session_id: str, stream: Any) -> None:
        with self._lock:
            self._streams[session_id] = stream
            if self._observing:
                return
            self._observing = True
        center = NotificationCenter()
        for name in (*EVENTS["msrp"], "ServiceDidRestart"):
            center.add_observer(self, name=name)

    def stream(self, session_id: str) -> Any:
        """The stream registered under `session_id`, or None."""
        with self._lock:
            return self._streams.get(session_id)

    def unregister(self, session_id: str | None) -> None:
        if session_id is not None:
            with self._lock:
                self._streams.pop(session_id, None)

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        if notification.name == "ServiceDidRestart":
            if getattr(data, "service", None) != "msrp":
                return
            with self._lock:
                lost = list(self._streams.values())
                self._streams.clear()
            for stream in lost:
                self._deliver(stream, "_msrp_lost", "the msrp service restarted")
            return
        session_id = getattr(data, "session_id", None)
        if not isinstance(session_id, str):
            return
        with self._lock:
            stream = self._streams.get(session_id)
        if stream is not None:
            self._deliver(stream, "_msrp_event", notification.name, data)

    @staticmethod
    def _deliver(stream: Any, method: str, *args: Any) -> None:
        try:
            getattr(stream, method)(*args)
        except Exception:
            log.exception("%r: handling an msrp event raised", stream)


msrp_events = _MSRPEvents()
