"""SIPApplication: starts and stops the middleware's components in order.

Only the configuration load and the check that the services answer happen in
`start()` itself, so that their errors reach the caller (who may call `start()`
again); the components start on a background thread, announced by
``SIPApplicationWillStart`` and ``SIPApplicationDidStart``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from sipsimple import supervision
from sipsimple.bus.client import BusClient, BusError, get_bus, reset_bus
from sipsimple.bus.schema import SERVICES
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.storage import ISIPSimpleStorage
from sipsimple.threading import Singleton

__all__ = ["ApplicationAttribute", "SIPApplication", "SIPApplicationError"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0  # bound on stopping components; DidEnd is posted regardless


class SIPApplicationError(RuntimeError):
    pass


class ApplicationAttribute:
    """One value per attribute, whichever class or subclass it is read or set on."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        return self.value

    def __set__(self, instance: object, value: Any) -> None:
        self.value = value


class SIPApplication(metaclass=Singleton):
    state = ApplicationAttribute(None)  # None, starting, started, stopping, stopped
    running = ApplicationAttribute(False)
    storage = ApplicationAttribute(None)
    local_nat_type = ApplicationAttribute("unknown")
    bus = ApplicationAttribute(None)

    # The audio objects belong to the media issue; they stay None until then.
    alert_audio_mixer = ApplicationAttribute(None)
    alert_audio_bridge = ApplicationAttribute(None)
    alert_audio_device = ApplicationAttribute(None)
    voice_audio_mixer = ApplicationAttribute(None)
    voice_audio_bridge = ApplicationAttribute(None)
    voice_audio_device = ApplicationAttribute(None)

    _lock: ClassVar[threading.RLock] = threading.RLock()
    _stopped_components: ClassVar[list[Callable[[], None]]] = []

    def start(self, storage: ISIPSimpleStorage) -> None:
        with self._lock:
            if self.state not in (None, "stopped"):
                raise SIPApplicationError(f"SIPApplication cannot start while {self.state}")
            if not isinstance(storage, ISIPSimpleStorage):
                raise TypeError(
                    f"storage must implement ISIPSimpleStorage, not {type(storage).__name__}"
                )
            self._load_configuration(storage)  # errors propagate; start() may be called again
            self._ensure_services()  # ServicesError names the services that did not come up
            self.storage = storage
            self.state = "starting"
            self.running = True
            self.bus = get_bus()
        threading.Thread(target=self._run_start, name="sipsimple-start", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            if self.state in (None, "stopping", "stopped"):
                return
            self.running = False
            previous, self.state = self.state, "stopping"
        self._post("SIPApplicationWillEnd")
        threading.Thread(
            target=self._run_stop, args=(previous,), name="sipsimple-stop", daemon=True
        ).start()

    # --- start ---------------------------------------------------------------

    def _load_configuration(self, storage: ISIPSimpleStorage) -> None:
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.settings import SIPSimpleSettings

        manager = ConfigurationManager()
        manager.start(storage)
        SIPSimpleSettings()  # loads and validates the global settings now

    def _ensure_services(self) -> None:
        probe = BusClient()
        probe.start()
        try:
            missing = [s for s in SERVICES if not self._answers(probe, s)]
        finally:
            probe.stop(goodbye=False)
        if missing:
            log.info("starting services (not answering: %s)", ", ".join(missing))
            supervision.start()

    @staticmethod
    def _answers(client: BusClient, service: str) -> bool:
        try:
            client.ping(service, timeout=0.5)
        except BusError:
            return False
        return True

    def _run_start(self) -> None:
        self._post("SIPApplicationWillStart")
        # Components start in dependency order; each later issue adds its own
        # step here (engine/signalling accounts, AccountManager, SessionManager,
        # audio bridges) with its stop counterpart pushed on the stack.
        for name, start_component in self._components():
            if not self.running:
                return
            try:
                self._stopped_components.append(start_component())
            except Exception:
                log.exception("component %s failed to start", name)
        with self._lock:
            if self.state == "starting":
                self.state = "started"
        self._post("SIPApplicationDidStart")

    def _components(self) -> list[tuple[str, Callable[[], Callable[[], None]]]]:
        return [("dns", self._start_dns)]

    def _start_dns(self) -> Callable[[], None]:
        from sipsimple.configuration.settings import SIPSimpleSettings
        from sipsimple.lookup import DNSManager

        manager = DNSManager()
        manager.start()
        self._apply_dns_settings()
        center = NotificationCenter()
        center.add_observer(self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings())

        def stop() -> None:
            center.discard_observer(
                self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings()
            )
            manager.stop()

        return stop

    @staticmethod
    def _apply_dns_settings() -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings
        from sipsimple.lookup import DNSManager

        dns = SIPSimpleSettings().dns
        DNSManager().set_nameservers(
            [str(n) for n in dns.nameservers] or None,
            [str(n) for n in dns.fallback_nameservers] or None,
        )

    def handle_notification(self, notification: Notification) -> None:
        modified = notification.data.modified
        if notification.name == "CFGSettingsObjectDidChange" and any(
            key.startswith("dns.") for key in modified
        ):
            self._apply_dns_settings()

    # --- stop ----------------------------------------------------------------

    def _run_stop(self, previous: str | None) -> None:
        worker = threading.Thread(
            target=self._stop_components, name="sipsimple-stop-components", daemon=True
        )
        worker.start()
        worker.join(STOP_TIMEOUT)
        if worker.is_alive():
            log.warning("components did not stop within %g s; ending anyway", STOP_TIMEOUT)
        reset_bus()
        self.bus = None
        with self._lock:
            self.state = "stopped"
        self._post("SIPApplicationDidEnd")

    def _stop_components(self) -> None:
        while self._stopped_components:
            stop_component = self._stopped_components.pop()
            try:
                stop_component()
            except Exception:
                log.exception("component failed to stop")
        try:
            from sipsimple.configuration import ConfigurationManager

            ConfigurationManager().stop()
        except Exception:
            log.exception("configuration manager failed to stop")

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, sender=self, data=NotificationData(**data))
