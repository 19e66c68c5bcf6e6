"""DNS lookups for SIP proxies, MSRP relays, STUN servers and XCAP roots.

The lookups run in the DNS service; this module is their facade, as the
document describes it. Each `DNSLookup` method returns at once a
`DNSLookupResult` and can be used either way:

- observe ``DNSLookupDidSucceed`` (data ``result``) or ``DNSLookupDidFail``
  (data ``error``, ``reason``) with the `DNSLookup` instance as sender, and
  ``DNSLookupTrace`` for every DNS query the lookup made (posted before the
  outcome);
- or call ``.wait()`` on the returned object, which returns the result or
  raises `DNSLookupError` (it blocks the calling thread; never call it from a
  notification handler, which runs on the bus thread that delivers the answer).

Invalid input (not a SIPURI, a bad transport list, sips: without TLS) fails
the same two ways; the methods themselves never raise.

`DNSManager` follows the service's nameserver selection: ``start()`` it once
(SIPApplication does) to get ``DNSResolverDidInitialize`` and then
``DNSNameserversDidChange`` whenever the service switches nameservers.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sipsimple.bus.client import BusFuture, ServiceError, ServiceUnavailable, get_bus
from sipsimple.core import SIPURI, Route
from sipsimple.notification import Notification, NotificationCenter, NotificationData

__all__ = ["DNSLookup", "DNSLookupError", "DNSLookupResult", "DNSManager"]

log = logging.getLogger(__name__)

TRANSPORTS = ("udp", "tcp", "tls")
BUS_MARGIN = 5.0  # the bus waits this much longer than the lookup may take
BUS_TIMEOUT = 60.0  # when the service's own default lifetime applies
BUS_THREAD = "sipsimple-bus"  # the bus client's thread, which delivers the answers


class DNSLookupError(Exception):
    """A lookup failed; `reason` is "invalid", "not-found", "timeout", "unavailable" or "failed"."""

    def __init__(self, message: str, reason: str = "failed") -> None:
        super().__init__(message)
        self.reason = reason


class DNSLookupResult:
    """The pending outcome of one lookup."""

    def __init__(self, lookup: DNSLookup, lookup_id: str, kind: str) -> None:
        self.lookup = lookup
        self.lookup_id = lookup_id
        self.kind = kind
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._result: Any = None
        self._error: DNSLookupError | None = None
        self._seen: set[int] = set()  # trace sequence numbers already posted

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Any:
        """The routes (or URLs for XCAP); raises `DNSLookupError`."""
        if not self._done.is_set() and threading.current_thread().name == BUS_THREAD:
            # The answer can only arrive on this very thread: waiting would deadlock.
            raise DNSLookupError(
                "wait() called on the bus thread (from a notification handler); "
                "observe DNSLookupDidSucceed/DNSLookupDidFail instead", reason="failed",
            )
        if not self._done.wait(timeout):
            raise DNSLookupError(
                f"{self.kind} lookup still running after {timeout:g} s", reason="timeout"
            )
        if self._error is not None:
            raise self._error
        return self._result

    # --- delivery (bus thread) -------------------------------------------------

    def _trace(self, data: dict[str, Any]) -> None:
        seq = data.get("seq")
        with self._lock:
            if self._done.is_set() or not isinstance(seq, int) or seq in self._seen:
                return
            self._seen.add(seq)
        fields = {k: v for k, v in data.items() if k not in ("sender_id", "service", "timestamp")}
        NotificationCenter().post_notification(
            "DNSLookupTrace", sender=self.lookup, data=NotificationData(**fields)
        )

    def _finish(self, result: Any = None, error: DNSLookupError | None = None) -> None:
        _tracker.forget(self.lookup_id)
        with self._lock:
            if self._done.is_set():
                return
            self._result, self._error = result, error
            self._done.set()
        center = NotificationCenter()
        if error is None:
            center.post_notification(
                "DNSLookupDidSucceed", sender=self.lookup, data=NotificationData(result=result)
            )
        else:
            center.post_notification(
                "DNSLookupDidFail", sender=self.lookup,
                data=NotificationData(error=str(error), reason=error.reason),
            )


class _TraceTracker:
    """Routes the service's ``dns.trace`` events to the lookups that caused them."""

    def __init__(self) -> None:
        self._pending: dict[str, DNSLookupResult] = {}
        self._lock = threading.Lock()
        self._observing = False

    def track(self, result: DNSLookupResult) -> None:
        with self._lock:
            self._pending[result.lookup_id] = result
            if not self._observing:
                NotificationCenter().add_observer(self, name="dns.trace")
                self._observing = True

    def forget(self, lookup_id: str) -> None:
        with self._lock:
            self._pending.pop(lookup_id, None)

    def handle_notification(self, notification: Notification) -> None:
        data = dict(notification.data)
        with self._lock:
            result = self._pending.get(str(data.get("lookup_id")))
        if result is not None:
            result._trace(data)


_tracker = _TraceTracker()


def _check_uri(uri: Any) -> SIPURI:
    if not isinstance(uri, SIPURI):
        raise DNSLookupError(f"expected a SIPURI, not {type(uri).__name__}", reason="invalid")
    return uri


def _check_transports(uri: SIPURI, supported: Any) -> list[str]:
    if isinstance(supported, str | bytes) or not isinstance(supported, Sequence):
        raise DNSLookupError(
            "supported_transports must be a list such as ['tls', 'tcp', 'udp']", reason="invalid"
        )
    if not supported:
        raise DNSLookupError("the list of supported transports is empty", reason="invalid")
    checked: list[str] = []
    for item in supported:
        if not isinstance(item, str) or item.lower() not in TRANSPORTS:
            raise DNSLookupError(
                f"unsupported transport {item!r} (known: {', '.join(TRANSPORTS)})",
                reason="invalid",
            )
        checked.append(item.lower())
    if uri.secure and "tls" not in checked:
        raise DNSLookupError(
            f"{uri}: a sips: URI needs TLS, which is not a supported transport", reason="invalid"
        )
    return checked


def _routes(items: Any) -> list[Route]:
    return [
        Route(item["address"], int(item["port"]), item["transport"], item.get("tls_name"))
        for item in items
    ]


class DNSLookup:
    """Starts lookups; the notifications about them have this object as sender."""

    def lookup_sip_proxy(
        self, uri: SIPURI, supported_transports: Sequence[str], tls_name: str | None = None,
        *, lifetime: float | None = None,
    ) -> DNSLookupResult:
        """Routes to a SIP proxy for `uri` in the order to try (RFC 3263)."""
        def params() -> dict[str, Any]:
            checked = _check_uri(uri)
            return {
                "uri": str(checked),
                "supported_transports": _check_transports(checked, supported_transports),
                "tls_name": tls_name,
            }

        return self._start("lookup_sip_proxy", "sip", params, lifetime, _routes)

    def lookup_msrp_relay(self, uri: SIPURI, *, lifetime: float | None = None,
                          transport: str = "tls") -> DNSLookupResult:
        """Routes to the MSRP relay of the URI's domain (SRV _msrps._tcp, RFC 4976, else
        its addresses on 2855); `transport` ``tcp`` looks for a plain TCP relay
        (SRV _msrp._tcp)."""
        def params() -> dict[str, Any]:
            if transport not in ("tls", "tcp"):
                raise DNSLookupError(
                    f"MSRP relay transport {transport!r}: tls or tcp", reason="invalid"
                )
            return {"uri": str(_check_uri(uri)), "transport": transport}

        return self._start("lookup_msrp_relay", "msrp-relay", params, lifetime, _routes)

    def lookup_stun_server(self, uri: SIPURI, *, lifetime: float | None = None) -> DNSLookupResult:
        """Routes to the STUN servers of the URI's domain (SRV _stun._udp, RFC 5389)."""
        return self._start(
            "lookup_stun_server", "stun", lambda: {"uri": str(_check_uri(uri))},
            lifetime, _routes,
        )

    def lookup_xcap_server(self, uri: SIPURI, *, lifetime: float | None = None) -> DNSLookupResult:
        """XCAP root URLs of the URI's domain (TXT at xcap.<domain>)."""
        return self._start(
            "lookup_xcap_server", "xcap", lambda: {"uri": str(_check_uri(uri))},
            lifetime, lambda items: [str(item) for item in items],
        )

    def _start(
        self, method: str, kind: str, make_params: Callable[[], dict[str, Any]],
        lifetime: float | None, convert: Callable[[Any], Any],
    ) -> DNSLookupResult:
        lookup_id = uuid.uuid4().hex
        result = DNSLookupResult(self, lookup_id, kind)
        try:
            params = make_params()
            if lifetime is not None:
                if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not (
                    0 < lifetime <= 300
                ):
                    raise DNSLookupError("lifetime must be in (0, 300] seconds", reason="invalid")
                params["lifetime"] = float(lifetime)
            params["lookup_id"] = lookup_id
            _tracker.track(result)
            timeout = BUS_TIMEOUT if lifetime is None else lifetime + BUS_MARGIN
            future = get_bus().call_async("dns", method, params, timeout=timeout)
        except DNSLookupError as exc:
            self._fail_soon(result, exc)
        except Exception as exc:  # the bus could not even send it
            error = DNSLookupError(f"DNS service unavailable: {exc}", "unavailable")
            self._fail_soon(result, error)
        else:
            future.add_done_callback(lambda f: self._answered(result, f, convert))
        return result

    @staticmethod
    def _fail_soon(result: DNSLookupResult, error: DNSLookupError) -> None:
        # Deliver after the method returned, as for a lookup that reached the
        # service, so that callers can rely on one order of events.
        threading.Thread(
            target=result._finish, kwargs={"error": error}, name="sipsimple-dns-fail", daemon=True
        ).start()

    @staticmethod
    def _answered(
        result: DNSLookupResult, future: BusFuture, convert: Callable[[Any], Any]
    ) -> None:
        try:
            reply = future.result(0)
        except ServiceUnavailable as exc:
            result._finish(error=DNSLookupError(f"DNS service unavailable: {exc}", "unavailable"))
            return
        except ServiceError as exc:
            reason = "invalid" if exc.code == "invalid-params" else "failed"
            result._finish(error=DNSLookupError(exc.message, reason))
            return
        except Exception as exc:
            result._finish(error=DNSLookupError(str(exc) or type(exc).__name__, "failed"))
            return
        if not isinstance(reply, dict):
            result._finish(error=DNSLookupError("malformed reply from the DNS service"))
            return
        for trace in reply.get("traces") or ():  # those whose event has not arrived yet
            if isinstance(trace, dict):
                result._trace(trace)
        if "error" in reply:
            result._finish(
                error=DNSLookupError(str(reply["error"]), str(reply.get("reason", "failed")))
            )
            return
        try:
            converted = convert(reply.get("result") or [])
        except (KeyError, TypeError, ValueError) as exc:
            result._finish(error=DNSLookupError(f"malformed reply from the DNS service: {exc}"))
            return
        result._finish(result=converted)


class DNSManager:
    """Tracks the nameservers the DNS service uses (a singleton).

    The probing itself (system nameservers first, the fallback servers when
    they do not answer properly, periodic re-probes) runs in the service.
    """

    _instance: DNSManager | None = None
    _instance_lock = threading.Lock()

    def __new__(cls) -> DNSManager:
        with cls._instance_lock:
            if cls._instance is None:
                instance = super().__new__(cls)
                instance._lock = threading.Lock()
                instance._running = False
                instance._initialized = False
                instance.nameservers = []
                instance.using_fallback = False
                cls._instance = instance
            return cls._instance

    _lock: threading.Lock
    _running: bool
    _initialized: bool
    nameservers: list[str]
    using_fallback: bool

    _NAMES = ("dns.nameservers_changed", "ServiceDidConnect", "ServiceDidRestart")

    def start(self) -> None:
        """Follow the service's nameservers; posts DNSResolverDidInitialize once known."""
        with self._lock:
            if self._running:
                return
            self._running = True
            self._initialized = False  # every start announces the resolver once
        center = NotificationCenter()
        for name in self._NAMES:
            center.add_observer(self, name=name)
        self._refresh()

    def stop(self) -> None:
        with self._lock:
            if not self._running:
                return
            self._running = False
        center = NotificationCenter()
        for name in self._NAMES:
            center.discard_observer(self, name=name)

    def probe(self) -> None:
        """Ask the service to probe the nameservers now (e.g. after a network change)."""
        self._call_async("probe_nameservers", {})

    def set_nameservers(
        self, nameservers: Sequence[str] | None, fallback_nameservers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Configure the nameservers (None: back to the system's); the service probes them.

        Entries are ``ip``, ``ip:port`` or ``[ipv6]:port``. Raises ValueError for
        invalid entries and DNSLookupError when the service does not answer.
        """
        params: dict[str, Any] = {
            "nameservers": None if nameservers is None else list(nameservers)
        }
        if fallback_nameservers is not None:
            params["fallback_nameservers"] = list(fallback_nameservers)
        try:
            state: dict[str, Any] = get_bus().call("dns", "set_nameservers", timeout=5, **params)
        except ServiceError as exc:
            raise ValueError(exc.message) from None
        except ServiceUnavailable as exc:
            raise DNSLookupError(str(exc), reason="unavailable") from None
        return state

    def _refresh(self) -> None:
        self._call_async("get_nameservers", {})

    def _call_async(self, method: str, params: dict[str, Any]) -> None:
        try:
            future = get_bus().call_async("dns", method, params, timeout=BUS_TIMEOUT)
        except Exception as exc:
            log.warning("DNS service unreachable: %s", exc)
            return
        future.add_done_callback(self._answered)

    def _answered(self, future: BusFuture) -> None:
        exc = future.exception(0)
        if exc is not None:
            log.warning("DNS service did not report its nameservers: %s", exc)
            return
        state = future.result(0)
        if isinstance(state, dict):
            self._update(state)

    def _update(self, state: dict[str, Any]) -> None:
        nameservers = [str(n) for n in state.get("nameservers") or ()]
        with self._lock:
            if not self._running:
                return
            first = not self._initialized
            self._initialized = True
            changed = nameservers != self.nameservers
            self.nameservers = nameservers
            self.using_fallback = bool(state.get("using_fallback"))
        center = NotificationCenter()
        if first:
            center.post_notification(
                "DNSResolverDidInitialize", sender=self,
                data=NotificationData(nameservers=list(nameservers)),
            )
        elif changed:
            center.post_notification(
                "DNSNameserversDidChange", sender=self,
                data=NotificationData(nameservers=list(nameservers)),
            )

    def handle_notification(self, notification: Notification) -> None:
        data = notification.data
        if notification.name == "dns.nameservers_changed":
            self._update(dict(data))
        elif getattr(data, "service", None) == "dns":
            self._refresh()  # a (re)started service may have other nameservers
