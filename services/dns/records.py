"""DNS answers as the resolution core sees them, and the query function type.

The core never touches the network: it calls a `Query` with a name and a
record type and gets an `Answer` back or one of the `QueryError`s. Names are
given and returned without the trailing dot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "NAPTR",
    "SRV",
    "TXT",
    "Address",
    "Answer",
    "NXDomain",
    "Query",
    "QueryError",
    "QueryFailed",
    "QueryTimeout",
    "Record",
    "record_text",
]


@dataclass(frozen=True)
class Address:
    """An A or AAAA record."""

    address: str


@dataclass(frozen=True)
class SRV:
    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True)
class NAPTR:
    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str


@dataclass(frozen=True)
class TXT:
    """A TXT record, its character-strings concatenated (as RFC 7208 does)."""

    text: str


Record = Address | SRV | NAPTR | TXT


@dataclass(frozen=True)
class Answer:
    """The records of one type at one name (possibly none: NODATA) and their TTL."""

    records: tuple[Record, ...] = ()
    ttl: int = 0


class QueryError(Exception):
    """A query got no usable answer."""


class NXDomain(QueryError):
    """The name does not exist."""


class QueryTimeout(QueryError):
    """No nameserver answered in time (or the lookup's time budget ran out)."""


class QueryFailed(QueryError):
    """Nameservers answered with an error (SERVFAIL, REFUSED) or could not be used."""


# query(name, rdtype) with rdtype one of "A", "AAAA", "SRV", "NAPTR", "TXT".
Query = Callable[[str, str], Answer]


def record_text(record: Record) -> str:
    """A record's data in zone-file presentation form (for traces)."""
    if isinstance(record, Address):
        return record.address
    if isinstance(record, SRV):
        return f"{record.priority} {record.weight} {record.port} {record.target}."
    if isinstance(record, NAPTR):
        return (
            f'{record.order} {record.preference} "{record.flags}" "{record.service}" '
            f'"{record.regexp}" {record.replacement or ""}.'
        )
    return f'"{record.text}"'
