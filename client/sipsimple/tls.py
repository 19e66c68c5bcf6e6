"""The TLS settings (``tls.*``) in the services that speak TLS, and what became of them.

The signalling service (SIP over TLS) and the msrp service (msrps) read
``tls.certificate`` (one PEM file holding the certificate and its private key,
as in the original SDK), ``tls.ca_list`` and ``tls.verify_server`` from the
stored configuration themselves; an application on another storage pushes them
(`configure`), as it does the other settings the services use. A service whose
TLS files do not load (a CA file that is not one, a certificate without its
key) goes on without TLS and says why; the application then posts
``SIPApplicationFailedToStartTLS`` with that reason (`TLSSettingsError`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.storage import is_stored_configuration

__all__ = ["TLS_SERVICES", "TLSComponent", "TLSSettingsError", "apply_tls_settings",
           "tls_settings"]

log = logging.getLogger(__name__)

TLS_SERVICES = ("signalling", "msrp")
_EVENTS = tuple(f"{service}.tls_changed" for service in TLS_SERVICES)


class TLSSettingsError(Exception):
    """The TLS settings could not be loaded: `service` runs without TLS because of `reason`."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(reason)
        self.service = service
        self.reason = reason


def tls_settings() -> dict[str, Any]:
    """The ``tls.*`` settings as the services' `configure` takes them (None: not set)."""
    from sipsimple.configuration.settings import SIPSimpleSettings

    tls = SIPSimpleSettings().tls
    return {
        "tls_certificate": tls.certificate.normalized if tls.certificate else None,
        "tls_ca_file": tls.ca_list.normalized if tls.ca_list else None,
        "tls_verify_server": bool(tls.verify_server),
    }


def apply_tls_settings(push: bool) -> dict[str, str | None]:
    """Push the settings (when `push`) or ask what the services made of theirs.

    Returns, per service, why its TLS is off (its files did not load), or
    None; a service that cannot be reached raises `sipsimple.bus.client.BusError`.
    """
    bus = get_bus()
    params = tls_settings() if push else None
    problems: dict[str, str | None] = {}
    for service in TLS_SERVICES:
        if params is not None:  # signalling's reply is get_transports', msrp's its TLS state
            problem = bus.call(service, "configure", **params).get("tls_error")
        else:
            method = "get_transports" if service == "signalling" else "status"
            problem = bus.call(service, method).get("tls_error")
        problems[service] = str(problem) if problem else None
    return problems


class TLSComponent:
    """SIPApplication's part: the settings in the services at start and after each change.

    `report` gets a `TLSSettingsError` each time a service's TLS goes off
    (SIPApplication posts SIPApplicationFailedToStartTLS with it): at start,
    after the application changed ``tls.*``, and when a service says so
    (``<service>.tls_changed``: the stored file changed by another process).
    A reason is told once, however many services and answers say it.
    """

    def __init__(self, report: Callable[[TLSSettingsError], None]) -> None:
        self.report = report
        self._lock = threading.Lock()
        self._off: dict[str, str | None] = dict.fromkeys(TLS_SERVICES)

    def start(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        center = NotificationCenter()
        for name in _EVENTS:
            center.add_observer(self, name=name)
        self.check(push=self._push_all())
        center.add_observer(self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings())
        center.add_observer(self, name="ServiceDidRestart")

    def stop(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        center = NotificationCenter()
        center.discard_observer(self, name="CFGSettingsObjectDidChange",
                                sender=SIPSimpleSettings())
        center.discard_observer(self, name="ServiceDidRestart")
        for name in _EVENTS:
            center.discard_observer(self, name=name)

    @staticmethod
    def _push_all() -> bool:
        """Whether the application pushes the settings: the services do not read its storage."""
        from sipsimple.application import SIPApplication

        return not is_stored_configuration(SIPApplication.storage)

    def check(self, push: bool) -> None:
        """Push (or ask), then report what is newly off; runs off the bus thread."""
        try:
            problems = apply_tls_settings(push)
        except BusError as exc:
            log.warning("could not hand the TLS settings to the services: %s", exc)
            return
        for service, problem in problems.items():
            self._update(service, problem)

    def _update(self, service: str, problem: str | None) -> None:
        with self._lock:
            before = self._off.get(service)
            self._off[service] = problem
            # the same files fail alike in both services: one notification
            told = problem == before or problem in (
                reason for other, reason in self._off.items() if other != service)
        if problem is not None and not told:
            log.warning("%s service: TLS is off: %s", service, problem)
            self.report(TLSSettingsError(service, problem))

    def handle_notification(self, notification: Notification) -> None:
        from sipsimple.application import push_settings

        data = notification.data
        if notification.name in _EVENTS:
            self._update(notification.name.partition(".")[0], getattr(data, "tls_error", None))
        elif notification.name == "CFGSettingsObjectDidChange":
            if any(key.startswith("tls.") for key in data.modified):
                # The application's own change is applied and checked at once, even
                # where the services read the stored file (they would, within a second).
                push_settings("tls", lambda: self.check(push=True))
        elif notification.name == "ServiceDidRestart" and data.service in TLS_SERVICES:
            # A new instance read the stored file itself, or starts from its defaults.
            push_settings("tls", lambda: self.check(push=self._push_all()))
