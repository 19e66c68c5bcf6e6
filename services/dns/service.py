"""The DNS service process: lookups over the bus, nameserver management.

The nameservers: a client's `set_nameservers` while that client is connected,
else the environment below, else the stored configuration's ``dns.nameservers``
and ``dns.fallback_nameservers`` (read at start and whenever the file changes;
`sipsimple_services.common.stored` has the rule), else the system's.

Configuration (environment):

- ``SIPSIMPLE_DNS_NAMESERVERS``: ``ip``, ``ip:port`` or ``[ipv6]:port``,
  comma-separated; default: the stored ones, else the system's (resolv.conf).
- ``SIPSIMPLE_DNS_FALLBACK_NAMESERVERS``: same form; default the stored ones, else none
  (the original SDK used Google Public DNS; we only ask servers someone configured).
- ``SIPSIMPLE_DNS_TIMEOUT``: a lookup's total time budget in seconds (5).
- ``SIPSIMPLE_DNS_PROBE_NAME``: a name that must resolve (``name`` or
  ``name/TYPE``); unset, a nameserver must answer ``. NS`` with NOERROR (a
  working recursive resolver; REFUSED or SERVFAIL do not count).
- ``SIPSIMPLE_DNS_PROBE_TIMEOUT`` (2), ``SIPSIMPLE_DNS_PROBE_INTERVAL`` (300,
  while the configured servers work), ``SIPSIMPLE_DNS_RETRY_INTERVAL`` (15,
  while they don't).

Blocking dnspython calls are fine here: ``__main__`` monkey-patches the
standard library before anything imports it, so dnspython's sockets and
selectors are gevent's, and each request to a method in ``blocking_methods``
runs in its own greenlet. That keeps the resolver code plain and synchronous
(and unit-testable without gevent).
"""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gevent
import gevent.event
import gevent.lock
import gevent.pool

from sipsimple import directories
from sipsimple.bus.schema import ErrorCode
from sipsimple.configuration.datatypes import NameserverList
from sipsimple.core import SIPURI, Route, SIPURIError
from sipsimple_services.common.service import Service, ServiceError
from sipsimple_services.common.stored import FileWatch, Layers, StoredConfig, watch
from sipsimple_services.dns.nameservers import (
    DEFAULT_FALLBACK,
    Nameserver,
    NameserverManager,
    parse_nameservers,
)
from sipsimple_services.dns.records import Query
from sipsimple_services.dns.resolution import InvalidInput, ResolutionError
from sipsimple_services.dns.resolver import DNSResolver, Trace, probe_nameserver
from sipsimple_services.dns.rfc3263 import resolve_sip_proxy
from sipsimple_services.dns.servers import (
    resolve_msrp_relay,
    resolve_stun_server,
    resolve_xcap_server,
)

log = logging.getLogger("sipsimple.dns")

MAX_LIFETIME = 300.0
STORED = StoredConfig({
    "nameservers": ("dns.nameservers", NameserverList),
    "fallback_nameservers": ("dns.fallback_nameservers", NameserverList),
})


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
        if number <= 0:
            raise ValueError
    except ValueError:
        log.error("%s=%r is not a positive number; using %s", name, value, default)
        return default
    return number


def _env_nameservers() -> dict[str, list[Nameserver]]:
    """The nameserver lists the environment sets (a bad one is logged and left out)."""
    values = {}
    for name, variable in (("nameservers", "SIPSIMPLE_DNS_NAMESERVERS"),
                           ("fallback_nameservers", "SIPSIMPLE_DNS_FALLBACK_NAMESERVERS")):
        value = os.environ.get(variable)
        if value is None:
            continue
        try:
            values[name] = list(parse_nameservers(value))
        except ValueError as exc:
            log.error("%s: %s; using the default", variable, exc)
    return values


def _stored_nameservers(path: Path) -> dict[str, list[Nameserver]] | None:
    """The stored lists (an empty dns.nameservers means the system's: left out)."""
    stored = STORED.read(path)
    if stored is None:
        return None
    try:
        values = {name: list(parse_nameservers([str(n) for n in value]))
                  for name, value in stored.items()}
    except ValueError as exc:  # the datatype and the parser disagree: keep what we have
        log.error("stored nameservers ignored: %s", exc)
        return None
    if not values.get("nameservers"):
        values.pop("nameservers", None)
    return values


def system_nameservers() -> list[Nameserver]:
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=True)
    except Exception as exc:  # no or unreadable resolv.conf
        log.warning("cannot read the system resolver configuration: %s", exc)
        return []
    try:
        return list(parse_nameservers([str(n) for n in resolver.nameservers]))
    except ValueError as exc:
        log.warning("unusable system nameservers: %s", exc)
        return []


def _routes(routes: Sequence[Route]) -> list[dict[str, Any]]:
    return [
        {"address": r.address, "port": r.port, "transport": r.transport, "tls_name": r.tls_name}
        for r in routes
    ]


class DNSService(Service):
    name = "dns"
    # Methods that wait on the network (lookups, probes) get a greenlet per
    # request; get_nameservers and set_nameservers only touch state (the probe
    # after set_nameservers runs in the prober greenlet), so they run inline.
    blocking_methods: ClassVar[frozenset[str]] = frozenset({
        "lookup_sip_proxy",
        "lookup_msrp_relay",
        "lookup_stun_server",
        "lookup_xcap_server",
        "probe_nameservers",
    })

    def __init__(self) -> None:
        super().__init__()
        self.lifetime = _env_float("SIPSIMPLE_DNS_TIMEOUT", 5.0)
        self.probe_timeout = _env_float("SIPSIMPLE_DNS_PROBE_TIMEOUT", 2.0)
        self.probe_interval = _env_float("SIPSIMPLE_DNS_PROBE_INTERVAL", 300.0)
        self.retry_interval = _env_float("SIPSIMPLE_DNS_RETRY_INTERVAL", 15.0)
        probe = os.environ.get("SIPSIMPLE_DNS_PROBE_NAME") or None
        self.probe_name, self.probe_type = None, "A"
        if probe:
            name, _, rdtype = probe.partition("/")
            self.probe_name, self.probe_type = name, (rdtype or "A").upper()
        self.rng = random.Random()
        self.config_watch = FileWatch(directories.config_file())  # before the first read
        self.layers = Layers(_env_nameservers(), _stored_nameservers(self.config_watch.path) or {})
        self._watcher: gevent.Greenlet | None = None
        configured, fallback = self._nameservers()
        self.manager = NameserverManager(configured, fallback, self._check)
        self.resolver = DNSResolver(self.manager.state.active, attempt_timeout=2.0)
        self._probe_lock = gevent.lock.BoundedSemaphore()
        self._probe_wakeup = gevent.event.Event()
        self._prober: gevent.Greenlet | None = None

    def _nameservers(self) -> tuple[list[Nameserver], list[Nameserver]]:
        """The configured and the fallback nameservers in force (see the module's docstring)."""
        values = self.layers.values()
        return (values.get("nameservers") or system_nameservers(),
                values.get("fallback_nameservers", list(DEFAULT_FALLBACK)))

    def _reconfigure(self) -> None:
        self._apply(self.manager.configure(*self._nameservers()))
        self._probe_wakeup.set()  # probe the new servers now, in the background

    def _stored_changed(self) -> None:
        stored = _stored_nameservers(self.config_watch.path)
        if stored is not None and self.layers.set_stored(stored):
            log.info("stored nameservers changed in %s", self.config_watch.path)
            self._reconfigure()

    def _overrides_gone(self, client: str) -> None:
        if self.layers.drop_client(client):
            self._reconfigure()

    # --- lifecycle -----------------------------------------------------------

    def on_start(self) -> None:
        log.info("nameservers %s, fallback %s",
                 [str(n) for n in self.manager.state.configured],
                 [str(n) for n in self.manager.state.fallback])
        self._prober = gevent.spawn(self._probe_loop)
        self._watcher = watch(self.config_watch, self._stored_changed)

    def on_stop(self) -> None:
        if self._watcher is not None:
            self._watcher.kill(block=False)
        if self._prober is not None:
            self._prober.kill(block=False)

    # --- nameservers ---------------------------------------------------------

    def _check(self, nameservers: Sequence[Nameserver]) -> list[Nameserver]:
        pool = gevent.pool.Pool(16)
        jobs = [
            pool.spawn(probe_nameserver, n, self.probe_name, self.probe_type, self.probe_timeout)
            for n in nameservers
        ]
        gevent.joinall(jobs, timeout=self.probe_timeout + 1)
        pool.kill(block=False)
        return [n for n, job in zip(nameservers, jobs, strict=True) if job.value is True]

    def _probe(self) -> None:
        with self._probe_lock:
            changed = self.manager.probe()
            self._apply(changed)

    def _apply(self, changed: bool) -> None:
        state = self.manager.state
        self.resolver.set_nameservers(state.active)
        if changed:
            log.info("nameservers now %s%s", [str(n) for n in state.active],
                     " (fallback)" if state.using_fallback else "")
            self.publish("dns.nameservers_changed", self.name, state.as_dict())

    def _probe_loop(self) -> None:
        while True:
            try:
                self._probe()
            except Exception:
                log.exception("nameserver probe failed")
            healthy = self.manager.state.healthy
            self._probe_wakeup.wait(self.probe_interval if healthy else self.retry_interval)
            self._probe_wakeup.clear()

    def rpc_get_nameservers(self, client: str) -> dict[str, object]:
        return self.manager.state.as_dict()

    def rpc_set_nameservers(
        self, client: str, nameservers: list[Any] | None,
        fallback_nameservers: list[Any] | None = None,
    ) -> dict[str, object]:
        # The client's lists hold until it goes away or the stored ones change;
        # nameservers None drops this client's override (back to the environment,
        # stored or system's), fallback None leaves the fallback alone.
        try:
            changes: dict[str, list[Nameserver]] = {}
            if nameservers is not None:
                changes["nameservers"] = list(parse_nameservers(nameservers))
            if fallback_nameservers is not None:
                changes["fallback_nameservers"] = list(parse_nameservers(fallback_nameservers))
        except ValueError as exc:
            raise ServiceError(ErrorCode.INVALID_PARAMS, str(exc)) from None
        if nameservers is None:
            self.layers.drop("nameservers", client)
        if changes:
            self.layers.override(client, changes)
            self.own(client, "nameservers", lambda: self._overrides_gone(client))
        self._reconfigure()
        return self.manager.state.as_dict()

    def rpc_probe_nameservers(self, client: str) -> dict[str, object]:
        self._probe()
        return self.manager.state.as_dict()

    # --- lookups -------------------------------------------------------------

    def _lookup(
        self, kind: str, uri_text: str, lookup_id: str | None, lifetime: float | None,
        run: Callable[[SIPURI, Query], list[Any]],
    ) -> dict[str, Any]:
        lookup_id = lookup_id or uuid.uuid4().hex
        if lifetime is None:
            lifetime = self.lifetime
        elif not 0 < lifetime <= MAX_LIFETIME:
            raise ServiceError(
                ErrorCode.INVALID_PARAMS, f"lifetime must be in (0, {MAX_LIFETIME:g}] seconds"
            )
        traces: list[dict[str, Any]] = []

        def on_trace(trace: Trace) -> None:
            data = {"lookup_id": lookup_id, "lookup": kind, "uri": uri_text,
                    "seq": len(traces), **trace.as_dict()}
            traces.append(data)
            self.publish("dns.trace", lookup_id, data)

        try:
            try:
                uri = SIPURI.parse(uri_text)
            except SIPURIError as exc:
                raise InvalidInput(f"invalid URI: {exc}") from None
            result = run(uri, self.resolver.query_function(lifetime, on_trace))
        except ResolutionError as exc:
            log.info("%s lookup of %s failed: %s", kind, uri_text, exc)
            return {"lookup_id": lookup_id, "error": str(exc), "reason": exc.reason,
                    "traces": traces}
        return {"lookup_id": lookup_id, "result": result, "traces": traces}

    def rpc_lookup_sip_proxy(
        self, client: str, uri: str, supported_transports: list[Any],
        tls_name: str | None = None, lookup_id: str | None = None,
        lifetime: float | None = None,
    ) -> dict[str, Any]:
        def run(parsed: SIPURI, query: Query) -> list[Any]:
            routes = resolve_sip_proxy(
                parsed, supported_transports, query, tls_name=tls_name, rng=self.rng
            )
            return _routes(routes)

        return self._lookup("sip", uri, lookup_id, lifetime, run)

    def rpc_lookup_msrp_relay(
        self, client: str, uri: str, lookup_id: str | None = None, lifetime: float | None = None,
        transport: str | None = None,
    ) -> dict[str, Any]:
        def run(parsed: SIPURI, query: Query) -> list[Any]:
            return _routes(resolve_msrp_relay(parsed, query, rng=self.rng,
                                              transport=transport or "tls"))

        return self._lookup("msrp-relay", uri, lookup_id, lifetime, run)

    def rpc_lookup_stun_server(
        self, client: str, uri: str, lookup_id: str | None = None, lifetime: float | None = None,
    ) -> dict[str, Any]:
        return self._lookup(
            "stun", uri, lookup_id, lifetime,
            lambda parsed, query: _routes(resolve_stun_server(parsed, query, rng=self.rng)),
        )

    def rpc_lookup_xcap_server(
        self, client: str, uri: str, lookup_id: str | None = None, lifetime: float | None = None,
    ) -> dict[str, Any]:
        return self._lookup(
            "xcap", uri, lookup_id, lifetime,
            lambda parsed, query: list(resolve_xcap_server(parsed, query)),
        )
