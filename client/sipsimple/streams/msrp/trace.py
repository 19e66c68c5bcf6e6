"""MSRPTransportTrace and MSRPLibraryLog: the msrp service's trace, as the seed names it.

`MSRPTrace` (a SIPApplication component) keeps the service's trace in step
with the ``logs.trace_msrp`` setting (``set_trace`` for this client; again
after the service restarts) and turns its events into notifications:

- ``MSRPTransportTrace`` on behalf of the stream whose session it is (the
  sender; None when no stream of this process has it, e.g. a relay's AUTH
  before `initialize` returned): ``timestamp``, ``direction`` (incoming,
  outgoing), ``data`` (what one read or write carried, as text, cut at
  16 KiB), ``session_id``;
- ``MSRPLibraryLog``, anonymous: ``timestamp``, ``level`` (a `logging`
  level number), ``message``.

Nothing is posted while the setting is off, and the service publishes
nothing for a client that did not ask.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from sipsimple.bus.client import get_bus
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.streams.msrp.events import msrp_events

__all__ = ["MSRPTrace"]

log = logging.getLogger(__name__)

TRACE_TIMEOUT = 5.0
_EVENTS = ("msrp.transport_traced", "msrp.log")
# a first save says WasCreated, later ones DidChange
_SETTINGS = ("CFGSettingsObjectWasCreated", "CFGSettingsObjectDidChange")


class MSRPTrace:
    def __init__(self) -> None:
        self.enabled = False  # what the service was last told
        self._lock = threading.Lock()  # one push at a time, in order

    def start(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        center = NotificationCenter()
        for name in _SETTINGS:
            center.add_observer(self, name=name, sender=SIPSimpleSettings())
        for name in ("ServiceDidRestart", "ServiceDidConnect", *_EVENTS):
            center.add_observer(self, name=name)
        self._push(changed=False)

    def stop(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        center = NotificationCenter()
        for name in _SETTINGS:
            center.discard_observer(self, name=name, sender=SIPSimpleSettings())
        for name in ("ServiceDidRestart", "ServiceDidConnect", *_EVENTS):
            center.discard_observer(self, name=name)
        if self.enabled:
            self.apply(False)

    def apply(self, enabled: bool | None = None) -> None:
        """Tell the service (blocking: not on the bus thread); None: as the setting says."""
        from sipsimple.configuration.settings import SIPSimpleSettings

        with self._lock:
            if enabled is None:
                enabled = bool(SIPSimpleSettings().logs.trace_msrp)
            get_bus().call("msrp", "set_trace", enabled=enabled, timeout=TRACE_TIMEOUT)
            self.enabled = enabled

    def _push(self, changed: bool) -> None:
        """Tell the service on a thread of its own; unless the setting `changed`, only
        to turn the trace on (a service traces nobody until asked)."""
        from sipsimple.application import push_settings
        from sipsimple.configuration.settings import SIPSimpleSettings

        if changed or SIPSimpleSettings().logs.trace_msrp:
            push_settings("msrp", self.apply)

    def handle_notification(self, notification: Notification) -> None:
        name, data = notification.name, notification.data
        if name == "CFGSettingsObjectWasCreated":
            self._push(changed=False)
        elif name == "CFGSettingsObjectDidChange":
            if "logs.trace_msrp" in getattr(data, "modified", {}):
                self._push(changed=True)
        elif name in ("ServiceDidRestart", "ServiceDidConnect"):
            if getattr(data, "service", None) == "msrp":
                self._push(changed=False)  # a new instance traces nobody
        elif not self.enabled:
            return
        elif name == "msrp.transport_traced":
            if getattr(data, "client", None) != get_bus().client_id:
                return
            session_id = getattr(data, "session_id", None)
            stream = msrp_events.get(session_id) if isinstance(session_id, str) else None
            NotificationCenter().post_notification("MSRPTransportTrace", stream, NotificationData(
                timestamp=datetime.now(), direction=str(getattr(data, "direction", "")),
                data=str(getattr(data, "data", "")), session_id=session_id))
        elif name == "msrp.log":
            level = logging.getLevelName(str(getattr(data, "level", "INFO")))
            NotificationCenter().post_notification("MSRPLibraryLog", None, NotificationData(
                timestamp=datetime.now(), level=level if isinstance(level, int) else logging.INFO,
                message=str(getattr(data, "message", ""))))
