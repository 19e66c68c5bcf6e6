"""A service's events routed to the facade objects they name.

The bus posts a service's events with the BusClient as sender; a facade object
(a stream, a port) registers under the id the service knows it by and is
held weakly. The notifications are observed from the first registration on.
`media_events` and `msrp_events` are the two routes.
"""

from __future__ import annotations

import logging
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from sipsimple.notification import Notification, NotificationCenter

__all__ = ["EventRoutes"]


class EventRoutes(ABC):
    """Objects by id; `handle_notification` (the subclass's) delivers to them."""

    def __init__(self, names: Iterable[str], log: logging.Logger, what: str) -> None:
        self._names = tuple(names)  # observed from the first registration on
        self._log = log
        self._what = what  # "a media event": in the log line of a delivery that raised
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
        for name in self._names:
            center.add_observer(self, name=name)

    def unregister(self, object_id: str | None) -> None:
        if object_id is None:
            return
        with self._lock:
            self._objects.pop(object_id, None)

    def get(self, object_id: str) -> Any:
        """The object registered under `object_id`, or None."""
        with self._lock:
            return self._objects.get(object_id)

    @abstractmethod
    def handle_notification(self, notification: Notification) -> None:
        """One of the observed notifications: to the object it names, if registered."""

    def _deliver(self, obj: Any, method: str, *args: Any) -> None:
        try:
            getattr(obj, method)(*args)
        except Exception:
            self._log.exception("%r: handling %s raised", obj, self._what)
