"""dnspython behind the core's query function: caching, time budget, traces.

One `DNSResolver` serves the whole service. `query_function` makes the
`Query` for one lookup: it shares the cache, enforces the lookup's total time
budget (so a nameserver that never answers ends in a timeout, never a hang)
and reports every query it answers as a `Trace`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from sipsimple_services.dns.cache import MAX_TTL, TTLCache
from sipsimple_services.dns.nameservers import Nameserver
from sipsimple_services.dns.records import (
    NAPTR,
    SRV,
    TXT,
    Address,
    Answer,
    NXDomain,
    Query,
    QueryFailed,
    QueryTimeout,
    Record,
    record_text,
)

__all__ = ["DNSResolver", "Trace", "probe_nameserver"]

NEGATIVE_TTL_CAP = 60  # a name may appear soon after it did not exist; recheck within a minute
SUPPORTED_TYPES = frozenset({"A", "AAAA", "SRV", "NAPTR", "TXT"})


@dataclass(frozen=True)
class Trace:
    query_type: str
    query_name: str
    nameservers: tuple[str, ...]
    answer: tuple[str, ...]
    error: str | None
    cached: bool
    duration: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "query_type": self.query_type,
            "query_name": self.query_name,
            "nameservers": list(self.nameservers),
            "answer": list(self.answer),
            "error": self.error,
            "cached": self.cached,
            "duration": self.duration,
        }


@dataclass(frozen=True)
class _Negative:
    """A cached NXDOMAIN."""


def _convert(rdata: Any) -> Record | None:
    rdtype = rdata.rdtype
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return Address(rdata.address)
    if rdtype == dns.rdatatype.SRV:
        return SRV(rdata.priority, rdata.weight, rdata.port, rdata.target.to_text(True))
    if rdtype == dns.rdatatype.NAPTR:
        return NAPTR(
            rdata.order, rdata.preference, rdata.flags.decode("ascii", "replace"),
            rdata.service.decode("ascii", "replace"), rdata.regexp.decode("utf-8", "replace"),
            rdata.replacement.to_text(True),
        )
    if rdtype == dns.rdatatype.TXT:
        return TXT(b"".join(rdata.strings).decode("utf-8", "replace"))
    return None


def _negative_ttl(exc: dns.resolver.NXDOMAIN) -> int:
    try:
        response = next(iter(exc.responses().values()))
        ttl = int(response.resolve_chaining().minimum_ttl)
    except Exception:  # no response kept, or one that does not chain: don't cache
        return 0
    return min(ttl, NEGATIVE_TTL_CAP)


class DNSResolver:
    def __init__(
        self,
        nameservers: Sequence[Nameserver] = (),
        *,
        attempt_timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempt_timeout = attempt_timeout
        self.clock = clock
        self.cache: TTLCache[Answer | _Negative] = TTLCache(max_ttl=MAX_TTL, clock=clock)
        self.nameservers: tuple[Nameserver, ...] = ()
        self.set_nameservers(nameservers)

    def set_nameservers(self, nameservers: Sequence[Nameserver]) -> None:
        if tuple(nameservers) != self.nameservers:
            self.nameservers = tuple(nameservers)
            self.cache.clear()  # answers from other servers may differ (split DNS)

    def query_function(
        self, lifetime: float, on_trace: Callable[[Trace], None] | None = None
    ) -> Query:
        deadline = self.clock() + lifetime

        def query(name: str, rdtype: str) -> Answer:
            return self.query(name, rdtype, deadline=deadline, on_trace=on_trace)

        return query

    def query(
        self, name: str, rdtype: str, *, deadline: float,
        on_trace: Callable[[Trace], None] | None = None,
    ) -> Answer:
        rdtype = rdtype.upper()
        if rdtype not in SUPPORTED_TYPES:
            raise QueryFailed(f"record type {rdtype} is not supported")
        try:
            qname = dns.name.from_text(name)  # absolute: no search domains
        except dns.exception.DNSException as exc:
            raise QueryFailed(f"invalid DNS name {name!r}: {exc}") from None
        key = (qname.to_text().lower(), rdtype)
        servers = tuple(str(n) for n in self.nameservers)
        cached = self.cache.get(key)
        if cached is not None:
            if isinstance(cached, _Negative):
                self._trace(on_trace, rdtype, name, servers, (), "NXDOMAIN", True, 0.0)
                raise NXDomain(name)
            self._trace(on_trace, rdtype, name, servers, cached.records, None, True, 0.0)
            return cached
        remaining = deadline - self.clock()
        if remaining <= 0:
            raise QueryTimeout(f"time budget used up before querying {rdtype} {name}")
        if not self.nameservers:
            raise QueryFailed("no nameservers are configured")
        started = self.clock()
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(n.address, n.port) for n in self.nameservers
        ]
        resolver.timeout = min(self.attempt_timeout, remaining)
        resolver.lifetime = remaining
        resolver.retry_servfail = False
        error: str | None = None
        records: tuple[Record, ...] = ()
        try:
            answer = resolver.resolve(
                qname, rdtype, raise_on_no_answer=False, search=False, lifetime=remaining
            )
        except dns.resolver.NXDOMAIN as exc:
            self.cache.put(key, _Negative(), _negative_ttl(exc))
            error = "NXDOMAIN"
            raise NXDomain(name) from None
        except dns.exception.Timeout:
            error = f"timeout after {self.clock() - started:.1f} s"
            raise QueryTimeout(f"no answer to {rdtype} {name} from {', '.join(servers)}") from None
        except dns.resolver.NoNameservers as exc:
            error = f"no nameserver could answer: {exc}"
            raise QueryFailed(error) from None
        except dns.exception.DNSException as exc:
            error = str(exc) or type(exc).__name__
            raise QueryFailed(error) from None
        else:
            converted = (_convert(rdata) for rdata in (answer.rrset or ()))
            records = tuple(r for r in converted if r is not None)
            ttl = max(0, int(answer.expiration - time.time()))
            if not records:  # NODATA: negative caching, kept short as for NXDOMAIN
                ttl = min(ttl, NEGATIVE_TTL_CAP)
            result = Answer(records, ttl)
            self.cache.put(key, result, ttl)
            return result
        finally:
            self._trace(on_trace, rdtype, name, servers, records, error, False,
                        self.clock() - started)

    @staticmethod
    def _trace(
        on_trace: Callable[[Trace], None] | None, rdtype: str, name: str,
        servers: tuple[str, ...], records: tuple[Record, ...], error: str | None,
        cached: bool, duration: float,
    ) -> None:
        if on_trace is not None:
            on_trace(Trace(rdtype, name, servers, tuple(record_text(r) for r in records),
                           error, cached, round(duration, 6)))


def probe_nameserver(
    nameserver: Nameserver, name: str | None, rdtype: str = "A", timeout: float = 2.0
) -> bool:
    """Whether `nameserver` answers properly.

    With a probe name, "properly" means NOERROR with records for it. Without
    one, the question is ``. NS``, which every working recursive resolver
    answers with NOERROR (the root zone always exists and has nameservers).
    REFUSED and SERVFAIL mean lookups through this server fail, and NXDOMAIN
    for the root means a broken server: none of them count. A resolver that
    only serves private zones (e.g. dnsmasq without upstream servers refuses
    ``.``) needs a probe name it can answer (SIPSIMPLE_DNS_PROBE_NAME).
    """
    qname = dns.name.from_text(name if name else ".")
    request = dns.message.make_query(qname, rdtype if name else "NS")
    try:
        response = dns.query.udp(request, nameserver.address, timeout=timeout, port=nameserver.port)
    except (dns.exception.DNSException, OSError, ValueError):
        return False
    if response.rcode() != dns.rcode.NOERROR:
        return False
    if not name:
        return True
    if not isinstance(response, dns.message.QueryMessage):
        return False
    try:
        return bool(response.resolve_chaining().answer)
    except dns.exception.DNSException:
        return False
