"""Routes the msrp service's events to the stream whose session each one names.

Every ``msrp.*`` event is posted with the BusClient as sender; a stream
registers under its service session id and gets `_msrp_event(name, data)` on
the bus thread. A restart of the service loses every session: the streams
get `_msrp_lost(reason)`.
"""

from __future__ import annotations

import logging

from sipsimple.bus.schema import EVENTS
from sipsimple.event_routes import EventRoutes
from sipsimple.notification import Notification

__all__ = ["msrp_events"]

log = logging.getLogger(__name__)


class _MSRPEvents(EventRoutes):
    def __init__(self) -> None:
        super().__init__((*EVENTS["msrp"], "ServiceDidRestart"), log, "an msrp event")

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        if notification.name == "ServiceDidRestart":
            if getattr(data, "service", None) != "msrp":
                return
            with self._lock:
                lost = list(self._objects.values())
                self._objects.clear()
            for stream in lost:
                self._deliver(stream, "_msrp_lost", "the msrp service restarted")
            return
        session_id = getattr(data, "session_id", None)
        if not isinstance(session_id, str):
            return
        stream = self.get(session_id)
        if stream is not None:
            self._deliver(stream, "_msrp_event", notification.name, data)


msrp_events = _MSRPEvents()
