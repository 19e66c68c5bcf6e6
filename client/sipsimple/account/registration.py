"""Registration of one account through the signalling service.

Everything here runs on the AccountManager's worker thread (`sipsimple.threading.Worker`): bus
calls and DNS waits block, and must never run on the bus thread that delivers
events. Bus events reach the registrar as tasks on the same thread, so a
``registration_*`` event is always handled after the ``register`` call that
returned its id, and no locking is needed for the registrar's state.

Procedure: claim the AOR on the signalling service, resolve the registrar (the
outbound proxy if set, else the account's domain) with ``DNSLookup``, register
over the first route. A failure that says the route is unusable (408, 503, a
transport error) moves on to the next route; other failures are reported and
left to the service, which keeps retrying (and refreshes a registration).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sipsimple.bus.client import BusError, get_bus
from sipsimple.core import SIPURI, Route
from sipsimple.lookup import DNSLookup, DNSLookupError
from sipsimple.notification import NotificationCenter, NotificationData

if TYPE_CHECKING:
    from .account import Account

__all__ = ["FAILOVER_CODES", "AccountRegistrar"]

log = logging.getLogger(__name__)

FAILOVER_CODES = frozenset({0, 408, 500, 503, 504})  # the route, not the account, failed
DNS_TIMEOUT = 15.0
DNS_RETRY = 30.0  # after a failed lookup, try again this many seconds later
BUS_TIMEOUT = 5.0


class AccountRegistrar:
    """The registration state of one account; driven by the AccountManager's worker."""

    def __init__(self, account: Account, submit: Callable[[Callable[[], None]], None]) -> None:
        self.account = account
        self._submit = submit
        self.registered = False
        self.registrar: Route | None = None
        self.contact: str | None = None
        self.registration_id: str | None = None
        self._ending: set[str] = set()  # unregistered, waiting for registration_ended
        self._routes: list[Route] = []
        self._route_index = 0
        self._claimed = False
        self._generation = 0  # bumped by every (re)start/stop; stale timers do nothing
        self._retry_timer: threading.Timer | None = None
        self.stopped = False  # stop() ran (the manager forgets a stopped registrar once idle)

    # --- what the manager calls (on the worker) --------------------------------

    @property
    def wanted(self) -> bool:
        account = self.account
        return bool(account.enabled and account.sip.register and not account._deleted)

    @property
    def claim_wanted(self) -> bool:
        """An enabled account is claimed on the signalling service: its calls come to us."""
        return bool(self.account.enabled and not self.account._deleted)

    @property
    def ids(self) -> set[str]:
        ids = set(self._ending)
        if self.registration_id is not None:
            ids.add(self.registration_id)
        return ids

    @property
    def busy(self) -> bool:
        return bool(self._ending)

    def restart(self) -> None:
        """Apply the account's current settings: unregister, then claim and register if wanted."""
        self.stop(release=not self.claim_wanted)
        if self.claim_wanted:
            self.stopped = False
            if self.wanted:
                self._start()
            else:
                self._claim_in_background()

    def service_restarted(self) -> None:
        """The signalling service restarted: it knows neither our claim nor our registration."""
        self._claimed = False
        self.registration_id = None
        self._ending.clear()
        self.restart()

    def stop(self, release: bool = True) -> None:
        self._generation += 1
        self.stopped = True
        self._cancel_timer()
        rid, self.registration_id = self.registration_id, None
        self.registered = False
        self.registrar = None
        self.contact = None
        if rid is not None:
            self._ending.add(rid)
            try:
                get_bus().call("signalling", "unregister", timeout=BUS_TIMEOUT, registration_id=rid)
            except BusError as exc:
                log.warning("unregistering %s: %s", self.account.id, exc)
                self._ending.discard(rid)
                self._post("SIPAccountRegistrationDidEnd", registration=rid)
        if release and self._claimed:
            self._claimed = False
            self._in_background("release_account")
            self._post("SIPAccountDidDeactivate")

    def handle_event(self, name: str, data: NotificationData) -> None:
        rid = getattr(data, "registration_id", None)
        if name == "signalling.registration_ended":
            if rid in self._ending:
                self._ending.discard(rid)
                self._post("SIPAccountRegistrationDidEnd", registration=rid)
            elif rid == self.registration_id:
                self.registration_id = None
                was_registered, self.registered = self.registered, False
                self.registrar = self.contact = None
                if was_registered:
                    self._post("SIPAccountRegistrationDidEnd", registration=rid)
            return
        if rid != self.registration_id:
            return
        if name == "signalling.registration_succeeded":
            self.registered = True
            self.registrar = self._routes[self._route_index]
            self.contact = getattr(data, "contact", None)
            self._post(
                "SIPAccountRegistrationDidSucceed",
                contact_header=self.contact,
                contact_header_list=list(getattr(data, "contacts", None) or []),
                expires=getattr(data, "expires", None),
                registrar=self.registrar,
            )
        elif name == "signalling.registration_failed":
            code = getattr(data, "code", None) or 0
            reason = getattr(data, "reason", None)
            retry_after = getattr(data, "retry_after", None)
            self.registered = False
            self.registrar = self.contact = None
            if code in FAILOVER_CODES and self._route_index + 1 < len(self._routes):
                log.info("registration of %s over %s failed (%s %s); trying the next route",
                         self.account.id, self._routes[self._route_index], code, reason)
                self._drop_registration()
                self._route_index += 1
                self._register()
                return
            self._post("SIPAccountRegistrationDidFail", error=reason or f"failed with {code}",
                       code=code or None, reason=reason, retry_after=retry_after)

    # --- internals ------------------------------------------------------------

    def _start(self) -> None:
        if not self._claim():
            return
        try:
            self._routes = self._lookup()
        except DNSLookupError as exc:
            self._fail(f"no registrar: {exc}")
            return
        if not self._routes:
            self._fail("no registrar: the lookup returned no routes")
            return
        self._route_index = 0
        self._register()

    def _claim(self) -> bool:
        if self._claimed:
            return True
        try:
            get_bus().call("signalling", "claim_account", timeout=BUS_TIMEOUT,
                           aor=str(self.account.uri))
        except BusError as exc:
            if self.wanted:
                self._fail(f"cannot claim the account: {exc}")
            else:
                log.warning("claiming %s: %s", self.account.id, exc)
            return False
        self._claimed = True
        self._post("SIPAccountDidActivate")
        return True

    def _claim_in_background(self) -> None:
        """Claim without waiting: an account that does not register needs no answer to go on."""
        if not self._claimed:
            self._claimed = True
            generation = self._generation

            def failed() -> None:
                if generation == self._generation:
                    self._claimed = False

            def claimed() -> None:
                if generation == self._generation and self._claimed:
                    self._post("SIPAccountDidActivate")

            self._in_background("claim_account", failed, claimed)

    def _in_background(self, method: str, failed: Callable[[], None] | None = None,
                       succeeded: Callable[[], None] | None = None) -> None:
        account = self.account

        def done(future: Any) -> None:
            error = future.exception()
            if error is not None:
                log.warning("%s of %s: %s", method, account.id, error)
                if failed is not None:
                    self._submit(failed)
            elif succeeded is not None:
                self._submit(succeeded)

        try:
            future = get_bus().call_async("signalling", method, {"aor": str(account.uri)},
                                          timeout=BUS_TIMEOUT)
        except BusError as exc:
            log.warning("%s of %s: %s", method, account.id, exc)
            if failed is not None:
                failed()
            return
        future.add_done_callback(done)

    def _lookup(self) -> list[Route]:
        from sipsimple.configuration.settings import SIPSimpleSettings

        account = self.account
        proxy = account.sip.outbound_proxy
        uri = account.outbound_proxy_uri or SIPURI(host=account.domain)
        transports = list(SIPSimpleSettings().sip.transport_list)
        tls_name = account.sip.tls_name or (proxy.host if proxy is not None else account.domain)
        routes: list[Route] = DNSLookup().lookup_sip_proxy(
            uri, transports, tls_name=tls_name).wait(DNS_TIMEOUT)
        return routes

    def _register(self) -> None:
        from sipsimple.configuration.settings import SIPSimpleSettings

        account = self.account
        registrar = self._routes[self._route_index].to_bus()
        try:
            reply = get_bus().call(
                "signalling", "register", timeout=BUS_TIMEOUT, aor=str(account.uri),
                registrar=registrar, expires=int(account.sip.register_interval),
                credentials=account.credentials.to_bus(),
                instance_id=SIPSimpleSettings().instance_id,
            )
        except BusError as exc:
            if self._route_index + 1 < len(self._routes):
                self._route_index += 1
                self._register()
            else:
                self._fail(f"cannot register: {exc}")
            return
        self.registration_id = reply["registration_id"]

    def _drop_registration(self) -> None:
        rid, self.registration_id = self.registration_id, None
        if rid is None:
            return
        try:
            get_bus().call("signalling", "unregister", timeout=BUS_TIMEOUT, registration_id=rid)
        except BusError as exc:
            log.warning("dropping registration %s: %s", rid, exc)

    def _fail(self, error: str) -> None:
        self._post("SIPAccountRegistrationDidFail", error=error, code=None, reason=None,
                   retry_after=DNS_RETRY)
        generation = self._generation

        def retry() -> None:
            if generation == self._generation and self.wanted:
                self._start()

        self._cancel_timer()
        timer = threading.Timer(DNS_RETRY, lambda: self._submit(retry))
        timer.daemon = True
        timer.start()
        self._retry_timer = timer

    def _cancel_timer(self) -> None:
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None

    def _post(self, name: str, **data: Any) -> None:
        NotificationCenter().post_notification(name, self.account, NotificationData(**data))
