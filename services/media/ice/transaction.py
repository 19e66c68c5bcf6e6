"""STUN client transactions over UDP (RFC 8489 6.2.1), sans-IO.

A request is sent at once and again after RTO, 2·RTO, 4·RTO... (Rc sends in
all); after the last one the client waits Rm·RTO more, then gives up. With
the defaults (500 ms, 7, 16) that is sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and
31.5 s and a timeout at 39.5 s. ICE paces its checks with a smaller Rc.

`Transactions` keeps the requests in flight of one client (ICE checks, TURN
requests): the caller matches a response by transaction id with `pop`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RC", "RM", "RTO", "ClientTransaction", "Transactions", "Transmit"]

Address = tuple[str, int]

RTO = 0.5
RC = 7
RM = 16


@dataclass(frozen=True)
class Transmit:
    """Send `data` to `destination` (from `source`, the local base, when the caller has several)."""

    data: bytes
    destination: Address
    source: Address | None = None


class ClientTransaction:
    def __init__(
        self,
        transaction_id: bytes,
        transmit: Transmit,
        now: float,
        rto: float = RTO,
        rc: int = RC,
        rm: int = RM,
    ) -> None:
        if rto <= 0 or rc < 1 or rm < 1:
            raise ValueError("rto must be positive, rc and rm at least 1")
        self.transaction_id = transaction_id
        self.transmit = transmit
        self.started = now
        self.rto = rto
        self.rc = rc
        self.rm = rm
        self.sends = 1
        self._interval = rto
        self.deadline: float | None = now + (rto if rc > 1 else rm * rto)
        self.timed_out = False

    def next_deadline(self) -> float | None:
        return self.deadline

    def handle_timeout(self, now: float) -> Transmit | None:
        """The retransmission due by `now`, if any; `timed_out` once the last wait is over."""
        if self.deadline is None or now < self.deadline:
            return None
        if self.sends >= self.rc:
            self.deadline = None
            self.timed_out = True
            return None
        self.sends += 1
        self._interval *= 2
        last = self.sends >= self.rc
        self.deadline = now + (self.rm * self.rto if last else self._interval)
        return self.transmit

    def finish(self) -> None:
        self.deadline = None


class Transactions:
    """The transactions in flight, by transaction id."""

    def __init__(self) -> None:
        self._by_id: dict[bytes, ClientTransaction] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, transaction_id: bytes) -> bool:
        return transaction_id in self._by_id

    def add(self, transaction: ClientTransaction) -> Transmit:
        self._by_id[transaction.transaction_id] = transaction
        return transaction.transmit

    def pop(self, transaction_id: bytes) -> ClientTransaction | None:
        transaction = self._by_id.pop(transaction_id, None)
        if transaction is not None:
            transaction.finish()
        return transaction

    def next_deadline(self) -> float | None:
        deadlines = [d for t in self._by_id.values() if (d := t.next_deadline()) is not None]
        return min(deadlines, default=None)

    def handle_timeout(self, now: float) -> tuple[list[Transmit], list[ClientTransaction]]:
        """Retransmissions due, and the transactions that timed out (removed)."""
        transmits: list[Transmit] = []
        expired: list[ClientTransaction] = []
        for transaction in list(self._by_id.values()):
            transmit = transaction.handle_timeout(now)
            if transmit is not None:
                transmits.append(transmit)
            elif transaction.timed_out:
                expired.append(self._by_id.pop(transaction.transaction_id))
        return transmits, expired
