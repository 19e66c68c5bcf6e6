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
from sipsimple.bus.client import BusClient, get_bus, reset_bus
from sipsimple.notification import Notification, NotificationCenter, NotificationData
from sipsimple.storage import ISIPSimpleStorage, is_stored_configuration
from sipsimple.threading import Singleton

__all__ = ["ApplicationAttribute", "SIPApplication", "SIPApplicationError"]

log = logging.getLogger(__name__)


def push_settings(service: str, push: Callable[[], None]) -> None:
    """Run `push` (settings to a service) on a thread of its own.

    Not on the bus thread, which must keep delivering while this waits for the
    service. A push that fails while the application stops is of no interest
    (the bus or the configuration may be gone already); otherwise it is logged.
    """
    def run() -> None:
        try:
            push()
        except Exception as exc:
            stopping = SIPApplication.state in (None, "stopping", "stopped")
            (log.debug if stopping else log.warning)(
                "could not configure the %s service: %s", service, exc)

    threading.Thread(target=run, name=f"sipsimple-{service}-settings", daemon=True).start()

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

    # Set by the audio component (sipsimple.audio.AudioComponent) while started.
    alert_audio_mixer = ApplicationAttribute(None)
    alert_audio_bridge = ApplicationAttribute(None)
    alert_audio_device = ApplicationAttribute(None)
    voice_audio_mixer = ApplicationAttribute(None)
    voice_audio_bridge = ApplicationAttribute(None)
    voice_audio_device = ApplicationAttribute(None)

    _lock: ClassVar[threading.RLock] = threading.RLock()
    _stopped_components: ClassVar[list[Callable[[], None]]] = []
    _start_thread: ClassVar[threading.Thread | None] = None
    # The fallback list last pushed to the DNS service (None: its default), so that a
    # restarted service is told the same as its predecessor.
    _dns_fallback_sent: ClassVar[list[str] | None] = None

    def start(self, storage: ISIPSimpleStorage) -> None:
        with self._lock:
            if self.state not in (None, "stopped"):
                raise SIPApplicationError(f"SIPApplication cannot start while {self.state}")
            if not isinstance(storage, ISIPSimpleStorage):
                raise TypeError(
                    f"storage must implement ISIPSimpleStorage, not {type(storage).__name__}"
                )
            # Errors from either step propagate and leave nothing started, so
            # start() may be called again once the cause is fixed.
            try:
                self._load_configuration(storage)
                self._ensure_services()  # ServicesError names the services that did not come up
            except BaseException:
                self._stop_configuration()
                raise
            self.storage = storage
            self.state = "starting"
            self.running = True
            self.bus = get_bus()
            thread = threading.Thread(target=self._run_start, name="sipsimple-start", daemon=True)
            type(self)._start_thread = thread
        thread.start()

    def stop(self) -> None:
        with self._lock:
            if self.state in (None, "stopping", "stopped"):
                return
            self.running = False
            self.state = "stopping"
        self._post("SIPApplicationWillEnd")
        threading.Thread(target=self._run_stop, name="sipsimple-stop", daemon=True).start()

    # --- start ---------------------------------------------------------------

    @staticmethod
    def _load_configuration(storage: ISIPSimpleStorage) -> None:
        from sipsimple.configuration import ConfigurationManager
        from sipsimple.configuration.settings import SIPSimpleSettings

        ConfigurationManager().start(storage)
        # Loads and validates the global settings now; a running application
        # has a persistent instance id (+sip.instance).
        SIPSimpleSettings().ensure_instance_id()

    @staticmethod
    def _ensure_services() -> None:
        probe = BusClient(post_notifications=False)
        probe.start()
        try:
            pings = {s: probe.call_async(s, "ping", timeout=0.5) for s in probe.services}
            missing = [s for s, ping in pings.items() if ping.exception() is not None]
        finally:
            probe.stop(goodbye=False)
        if missing:
            log.info("starting services (not answering: %s)", ", ".join(missing))
            supervision.start()

    def _run_start(self) -> None:
        self._post("SIPApplicationWillStart")
        # Components start in dependency order (see _components), each pushing
        # its stop counterpart, so they stop in reverse: sessions first.
        for name, start_component in self._components():
            if not self.running:  # stop() was called meanwhile: no DidStart
                return
            try:
                self._stopped_components.append(start_component())
            except Exception:
                log.exception("component %s failed to start", name)
        with self._lock:
            if self.state != "starting":
                return
            self.state = "started"
        self._post("SIPApplicationDidStart")

    def _components(self) -> list[tuple[str, Callable[[], Callable[[], None]]]]:
        return [("dns", self._start_dns), ("tls", self._start_tls), ("audio", self._start_audio),
                ("accounts", self._start_accounts), ("sessions", self._start_sessions),
                ("nat", self._start_nat), ("network", self._start_network),
                ("msrp trace", self._start_msrp_trace)]

    def _start_tls(self) -> Callable[[], None]:
        from sipsimple.tls import TLSComponent

        # Before the accounts: a registration over TLS needs the settings in place.
        component = TLSComponent(
            lambda error: self._post("SIPApplicationFailedToStartTLS", error=error))
        component.start()
        return component.stop

    def _start_audio(self) -> Callable[[], None]:
        from sipsimple.audio import AudioComponent

        audio = AudioComponent()
        audio.start()  # pushes the devices and RTP settings to the media service
        # through the instance: ApplicationAttribute keeps one value for every class
        self.voice_audio_mixer, self.voice_audio_device = audio.voice_mixer, audio.voice_device
        self.voice_audio_bridge = audio.voice_bridge
        self.alert_audio_mixer, self.alert_audio_device = audio.alert_mixer, audio.alert_device
        self.alert_audio_bridge = audio.alert_bridge

        def stop() -> None:
            audio.stop()
            for name in ("voice_audio_mixer", "voice_audio_device", "voice_audio_bridge",
                         "alert_audio_mixer", "alert_audio_device", "alert_audio_bridge"):
                setattr(self, name, None)

        return stop

    @staticmethod
    def _start_msrp_trace() -> Callable[[], None]:
        from sipsimple.streams.msrp.trace import MSRPTrace

        trace = MSRPTrace()
        trace.start()  # logs.trace_msrp: MSRPTransportTrace and MSRPLibraryLog
        return trace.stop

    @staticmethod
    def _start_sessions() -> Callable[[], None]:
        from sipsimple.session import SessionManager

        manager = SessionManager()
        manager.start()
        return manager.stop  # ends every session, bounded by its STOP_TIMEOUT

    @staticmethod
    def _start_nat() -> Callable[[], None]:
        from sipsimple.nat import NATDetector

        # In the background: a probe takes seconds, and DidStart need not wait for it.
        detector = NATDetector()
        detector.start()
        return detector.stop

    @staticmethod
    def _start_network() -> Callable[[], None]:
        from sipsimple.network import NetworkMonitor

        # After the sessions: they follow NetworkConditionsDidChange (an ICE restart).
        monitor = NetworkMonitor()
        monitor.start()
        return monitor.stop

    @staticmethod
    def _start_accounts() -> Callable[[], None]:
        from sipsimple.account import AccountManager

        manager = AccountManager()
        manager.start()  # registers the enabled accounts; stop() unregisters (bounded)
        return manager.stop

    def _start_dns(self) -> Callable[[], None]:
        from sipsimple.configuration.settings import SIPSimpleSettings
        from sipsimple.lookup import DNSManager

        manager = DNSManager()
        manager.start()
        self._apply_dns_settings(initial=True)
        center = NotificationCenter()
        center.add_observer(self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings())
        center.add_observer(self, name="ServiceDidRestart")
        center.add_observer(self, name="ServiceDidConnect")

        def stop() -> None:
            center.discard_observer(
                self, name="CFGSettingsObjectDidChange", sender=SIPSimpleSettings()
            )
            center.discard_observer(self, name="ServiceDidRestart")
            center.discard_observer(self, name="ServiceDidConnect")
            manager.stop()

        return stop

    @classmethod
    def _apply_dns_settings(cls, initial: bool = False) -> None:
        """Push the dns settings to the (shared) DNS service, unless it reads them itself.

        Empty nameservers mean the service's default (its environment, else the
        stored configuration, else the system's). An empty fallback list means the
        service's default too, unless it empties a list the user had set: then
        "no fallback" (and so again for a restarted service).
        """
        from sipsimple.configuration.settings import SIPSimpleSettings
        from sipsimple.lookup import DNSManager

        if is_stored_configuration(SIPApplication.storage):
            return
        dns = SIPSimpleSettings().dns
        fallback: list[str] | None = [str(n) for n in dns.fallback_nameservers]
        if not fallback and (initial or cls._dns_fallback_sent is None):
            fallback = None
        cls._dns_fallback_sent = fallback
        DNSManager().set_nameservers([str(n) for n in dns.nameservers] or None, fallback)

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        if notification.name == "CFGSettingsObjectDidChange":
            if any(key.startswith("dns.") for key in data.modified):
                self._apply_dns_settings()
        elif notification.name in ("ServiceDidRestart", "ServiceDidConnect") and (
            data.service == "dns" and notification.sender is self.bus
        ):
            # A new instance starts from its defaults (a restart seen before the
            # first heartbeat looks like a first connect). Not on the bus thread,
            # which must keep delivering while this waits for the service.
            push_settings("dns", self._apply_dns_settings)

    # --- stop ----------------------------------------------------------------

    def _run_stop(self) -> None:
        # A stop during start waits for the component in progress, so that no
        # component is left running behind SIPApplicationDidEnd.
        if self._start_thread is not None:
            self._start_thread.join(STOP_TIMEOUT)
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
        self._stop_configuration()

    @staticmethod
    def _stop_configuration() -> None:
        from sipsimple.configuration import ConfigurationManager

        try:
            ConfigurationManager().stop()
        except Exception:
            log.exception("configuration manager failed to stop")

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, sender=self, data=NotificationData(**data))
