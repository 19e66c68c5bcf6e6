"""The MSRP relay of an account's domain, found by DNS and remembered for a while.

When an account's connection model wants a relay and ``nat_traversal.msrp_relay``
is empty, the stream asks here (``DNSLookup.lookup_msrp_relay``: SRV
``_msrps._tcp`` or, for a plain TCP relay, ``_msrp._tcp``, else the domain's
addresses on 2855). No relay, a failed or timed-out lookup, all mean "connect
directly": a domain without a relay must never fail a chat. The lookup is
bounded (`LOOKUP_LIFETIME`) so that a nameserver that does not answer delays a
stream by that much at most, and its outcome is kept per (domain, transport)
so that the next streams do not ask again: a found relay or none for
`KEEP_FOR` (the DNS service caches the records by their TTL anyway), a failure
or a relay that turned out unusable for `KEEP_FAILURE_FOR`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sipsimple.core import SIPURI, Route
from sipsimple.lookup import DNSLookup, DNSLookupError

__all__ = ["KEEP_FAILURE_FOR", "KEEP_FOR", "LOOKUP_LIFETIME", "RelayFinder", "relays"]

log = logging.getLogger(__name__)

LOOKUP_LIFETIME = 2.0  # seconds for the whole lookup (SRV, then A/AAAA)
WAIT_MARGIN = 3.0  # the answer crosses the bus after the lifetime at most this late
KEEP_FOR = 300.0
KEEP_FAILURE_FOR = 60.0

Lookup = Callable[[str, str], list[Route]]  # (domain, transport) -> routes; DNSLookupError


def dns_lookup(domain: str, transport: str) -> list[Route]:
    """The DNS service's answer, waited for on the calling thread (never the bus thread)."""
    result = DNSLookup().lookup_msrp_relay(SIPURI(host=domain), lifetime=LOOKUP_LIFETIME,
                                           transport=transport)
    routes: list[Route] = result.wait(LOOKUP_LIFETIME + WAIT_MARGIN)
    return routes


class RelayFinder:
    """Relays by (domain, transport), each outcome kept for a while."""

    def __init__(self, lookup: Lookup = dns_lookup,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], tuple[float, Route | None]] = {}

    def find(self, domain: str, transport: str) -> Route | None:
        """The relay to use for `domain` over `transport` (``tls``/``tcp``), or None."""
        key = (domain.lower().rstrip("."), transport)
        now = self._clock()
        with self._lock:
            known = self._known.get(key)
            if known is not None and known[0] > now:
                return known[1]
        try:
            routes = self._lookup(*key)
        except DNSLookupError as exc:
            keep = KEEP_FOR if exc.reason == "not-found" else KEEP_FAILURE_FOR
            log.info("no MSRP relay for %s (%s): %s: %s; connecting directly", key[0], transport,
                     exc.reason, exc)
            self._remember(key, None, keep)
            return None
        route = routes[0] if routes else None
        if route is None:
            log.info("no MSRP relay for %s (%s); connecting directly", key[0], transport)
        else:
            log.info("MSRP relay for %s (%s): %s:%d", key[0], transport, route.address,
                     route.port)
        self._remember(key, route, KEEP_FOR)
        return route

    def unusable(self, domain: str, transport: str, reason: str) -> None:
        """The relay found failed us: streams connect directly for a while."""
        key = (domain.lower().rstrip("."), transport)
        log.info("the MSRP relay of %s (%s) is unusable: %s; connecting directly",
                 key[0], transport, reason)
        self._remember(key, None, KEEP_FAILURE_FOR)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()

    def _remember(self, key: tuple[str, str], route: Route | None, keep: float) -> None:
        with self._lock:
            self._known[key] = (self._clock() + keep, route)


relays = RelayFinder()
