"""What every lookup shares: its errors and a query wrapper that keeps score.

A `Resolution` turns the query errors that only mean "nothing here" (NXDOMAIN,
SERVFAIL) into empty answers, as RFC 3263 falls through to the next step on
them, but remembers timeouts, so that a lookup that found nothing because the
nameservers never answered says so instead of "not found".
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sipsimple_services.dns.records import (
    SRV,
    Address,
    Query,
    QueryError,
    QueryTimeout,
    Record,
)
from sipsimple_services.dns.rfc2782 import order_srv

__all__ = [
    "InvalidInput",
    "NoRecords",
    "Resolution",
    "ResolutionError",
    "ResolutionTimeout",
]

# Address record types in the order their results are tried.
ADDRESS_TYPES: tuple[str, ...] = ("A", "AAAA")


class ResolutionError(Exception):
    """A lookup produced no result; `reason` is a stable word for the bus."""

    reason = "failed"


class InvalidInput(ResolutionError):
    reason = "invalid"


class NoRecords(ResolutionError):
    reason = "not-found"


class ResolutionTimeout(ResolutionError):
    reason = "timeout"


class Resolution:
    def __init__(
        self, query: Query, rng: random.Random | None = None,
        address_types: Sequence[str] = ADDRESS_TYPES,
    ) -> None:
        self.query = query
        self.rng = rng if rng is not None else random.Random()
        self.address_types = tuple(address_types)
        self.timed_out = False

    def records(self, name: str, rdtype: str) -> tuple[Record, ...]:
        try:
            return self.query(name, rdtype).records
        except QueryTimeout:
            self.timed_out = True
            return ()
        except QueryError:
            return ()

    def addresses(self, name: str) -> list[str]:
        found: list[str] = []
        for rdtype in self.address_types:
            for record in self.records(name, rdtype):
                if isinstance(record, Address) and record.address not in found:
                    found.append(record.address)
        return found

    def srv(self, name: str) -> list[tuple[str, int]]:
        """(address, port) pairs for an SRV name, in RFC 2782 order."""
        records = [r for r in self.records(name, "SRV") if isinstance(r, SRV)]
        found: list[tuple[str, int]] = []
        for record in order_srv(records, self.rng):
            for address in self.addresses(record.target.rstrip(".")):
                found.append((address, record.port))
        return found

    def fail(self, what: str) -> ResolutionError:
        """The error for a lookup of `what` that found nothing."""
        if self.timed_out:
            return ResolutionTimeout(f"timeout: no nameserver answered while looking up {what}")
        return NoRecords(f"no DNS records found for {what}")
