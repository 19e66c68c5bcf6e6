"""Server-reflexive address discovery with STUN Binding (RFC 8489), and a NAT probe, sans-IO.

`BindingClient` asks one server what address our datagrams come from. The
caller sends what `start` and `handle_timeout` give, feeds every STUN
datagram from the server to `handle_datagram`, and reads the one final
event. `nat_type` classifies the mapping from what two servers answered,
for `SIPApplication.local_nat_type` (RFC 5780's first test, without
CHANGE-REQUEST: the filtering behaviour needs a server that supports it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .stun import Attr, Class, Message, Method, StunError, encode, new_transaction_id, parse
from .transaction import RC, RM, RTO, ClientTransaction, Transmit

__all__ = [
    "BindingClient",
    "BindingFailed",
    "MappedAddress",
    "NatType",
    "nat_type",
]

Address = tuple[str, int]


@dataclass(frozen=True)
class MappedAddress:
    server: Address
    mapped: Address


@dataclass(frozen=True)
class BindingFailed:
    server: Address
    reason: str


BindingEvent = MappedAddress | BindingFailed


class BindingClient:
    def __init__(
        self,
        server: Address,
        *,
        transaction_id: bytes | None = None,
        rto: float = RTO,
        rc: int = RC,
        rm: int = RM,
        software: str | None = None,
    ) -> None:
        self.server = server
        self.transaction_id = transaction_id or new_transaction_id()
        attributes = ((Attr.SOFTWARE, software),) if software else ()
        request = Message(Method.BINDING, Class.REQUEST, self.transaction_id, attributes)
        self._request = encode(request, fingerprint=True)
        self._rto, self._rc, self._rm = rto, rc, rm
        self._transaction: ClientTransaction | None = None
        self.result: BindingEvent | None = None

    def start(self, now: float) -> Transmit:
        self._transaction = ClientTransaction(
            self.transaction_id,
            Transmit(self._request, self.server),
            now,
            self._rto,
            self._rc,
            self._rm,
        )
        return self._transaction.transmit

    def next_deadline(self) -> float | None:
        if self.result is not None or self._transaction is None:
            return None
        return self._transaction.next_deadline()

    def handle_timeout(self, now: float) -> list[Transmit | BindingEvent]:
        if self.result is not None or self._transaction is None:
            return []
        transmit = self._transaction.handle_timeout(now)
        if transmit is not None:
            return [transmit]
        if self._transaction.timed_out:
            return [self._finish(BindingFailed(self.server, "timeout"))]
        return []

    def handle_datagram(self, datagram: bytes, source: Address) -> list[BindingEvent]:
        """The result if this is our response; anything else is ignored (returns [])."""
        if self.result is not None or self._transaction is None:
            return []
        if (source[0], source[1]) != tuple(self.server):
            return []  # only the server's answer counts
        try:
            message = parse(datagram)
        except StunError:
            return []
        if (
            message.transaction_id != self.transaction_id
            or message.method != Method.BINDING
            or message.cls not in (Class.SUCCESS, Class.ERROR)
        ):
            return []
        if message.cls is Class.ERROR:
            code, reason = message.get(Attr.ERROR_CODE, (0, "error without ERROR-CODE"))
            return [self._finish(BindingFailed(self.server, f"{code} {reason}"))]
        mapped = message.get(Attr.XOR_MAPPED_ADDRESS) or message.get(Attr.MAPPED_ADDRESS)
        if mapped is None:
            return [self._finish(BindingFailed(self.server, "no mapped address"))]
        return [self._finish(MappedAddress(self.server, mapped))]

    def _finish(self, event: BindingEvent) -> BindingEvent:
        self.result = event
        if self._transaction is not None:
            self._transaction.finish()
        return event


class NatType(StrEnum):
    OPEN = "Open Internet"  # mapped address is our own: no NAT
    ENDPOINT_INDEPENDENT = "Endpoint-Independent Mapping"  # same mapping towards every server
    SYMMETRIC = "Symmetric"  # a new mapping per destination: srflx candidates will not work
    BLOCKED = "Blocked"  # no server answered: UDP is filtered
    UNKNOWN = "Unknown"  # one server answered: the mapping behaviour cannot be told


def nat_type(local: Address, results: Sequence[BindingEvent]) -> NatType:
    """Classify from the answers of (ideally two) servers, asked from the same local socket."""
    mapped = [r.mapped for r in results if isinstance(r, MappedAddress)]
    if not mapped:
        return NatType.BLOCKED
    if all(m == tuple(local) for m in mapped):
        return NatType.OPEN
    if len(mapped) < 2:
        return NatType.UNKNOWN
    if len(set(mapped)) == 1:
        return NatType.ENDPOINT_INDEPENDENT
    return NatType.SYMMETRIC
