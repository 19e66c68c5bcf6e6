"""A dict-backed DNS zone for the resolution core's query function."""

from __future__ import annotations

from collections.abc import Iterable

from sipsimple_services.dns.records import (
    NAPTR,
    SRV,
    TXT,
    Address,
    Answer,
    NXDomain,
    QueryFailed,
    QueryTimeout,
    Record,
)

_TYPES = {Address: ("A", "AAAA"), SRV: ("SRV",), NAPTR: ("NAPTR",), TXT: ("TXT",)}


class FakeZone:
    """``zone.add(name, *records)``; ``zone(name, rdtype)`` answers like a nameserver.

    Names absent from the zone are NXDOMAIN; a name present without records
    of the asked type is NODATA. ``timeout`` and ``servfail`` hold (name,
    rdtype) pairs that fail that way. Every query is logged in ``queries``.
    """

    def __init__(self) -> None:
        self.records: dict[str, list[Record]] = {}
        self.timeout: set[tuple[str, str]] = set()
        self.servfail: set[tuple[str, str]] = set()
        self.queries: list[tuple[str, str]] = []

    def add(self, name: str, *records: Record) -> FakeZone:
        self.records.setdefault(name.lower().rstrip("."), []).extend(records)
        return self

    def a(self, name: str, *addresses: str) -> FakeZone:
        return self.add(name, *(Address(a) for a in addresses))

    def srv(self, name: str, *items: tuple[int, int, int, str]) -> FakeZone:
        return self.add(name, *(SRV(*item) for item in items))

    def naptr(self, name: str, *items: tuple[int, int, str, str, str]) -> FakeZone:
        return self.add(name, *(NAPTR(o, p, f, s, "", r) for o, p, f, s, r in items))

    def __call__(self, name: str, rdtype: str) -> Answer:
        key = name.lower().rstrip(".")
        self.queries.append((key, rdtype))
        if (key, rdtype) in self.timeout:
            raise QueryTimeout(name)
        if (key, rdtype) in self.servfail:
            raise QueryFailed(name)
        if key not in self.records:
            raise NXDomain(name)
        return Answer(tuple(self._matching(self.records[key], rdtype)), 60)

    @staticmethod
    def _matching(records: Iterable[Record], rdtype: str) -> Iterable[Record]:
        for record in records:
            if rdtype not in _TYPES[type(record)]:
                continue
            if isinstance(record, Address) and (":" in record.address) != (rdtype == "AAAA"):
                continue
            yield record
