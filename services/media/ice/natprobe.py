"""NAT behaviour discovery with STUN (RFC 5780 where the server allows it), sans-IO.

`NatProbe` asks one STUN server, from one local socket, the questions of RFC
5780 section 4 and classifies the answers:

1. Binding to the server's primary address: the mapped address, and the
   server's OTHER-ADDRESS (a server with two addresses: coturn with two
   listening IPs). No answer: UDP is blocked. The mapped address is our own:
   there is no NAT.
2. Filtering (before the mapping tests, so that their packets open no
   pinhole that would answer for the NAT): CHANGE-REQUEST "change IP and
   port", answered from the other address: endpoint-independent filtering;
   else "change port": address-dependent; else address-and-port-dependent.
3. Mapping: Binding to (other IP, primary port); the same mapped address:
   endpoint-independent; else to the other address and port: the same as
   the second: address-dependent, else address-and-port-dependent.

A server without OTHER-ADDRESS (one address, or no RFC 5780) allows less: as
RFC 3489 did from two servers, a `second` server (another one of the
configured list) tells an endpoint-independent mapping from a dependent
("symmetric") one; with one server only "NAT or not" is known. A reply to a
change request that comes from the address it was sent to means the server
ignored the request: the filtering is then unknown, not
endpoint-dependent.

The caller sends what `start`, `handle_datagram` and `handle_timeout` give,
from the one socket, and reads `result` once `done`. Transactions retransmit
as RFC 8489 says, but give up sooner than a Binding for a candidate would
(`RC`, `RM` below): a filtering test expects silence as one of its answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .stun import Attr, Class, Message, Method, StunError, encode, new_transaction_id, parse
from .transaction import RTO, ClientTransaction, Transmit

__all__ = ["Filtering", "Mapping", "NatBehaviour", "NatProbe", "classic_nat_type"]

Address = tuple[str, int]

RC = 3  # sends at 0, 0.5 and 1.5 s ...
RM = 4  # ... and silence for 2 s more: 3.5 s for a test that gets no answer

CHANGE_IP = 0x04
CHANGE_PORT = 0x02


class Mapping(StrEnum):
    NONE = "no NAT"  # the mapped address is our own
    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"
    DEPENDENT = "endpoint-dependent"  # from two servers: which of the two is not known
    UNKNOWN = "unknown"


class Filtering(StrEnum):
    ENDPOINT_INDEPENDENT = "endpoint-independent"
    ADDRESS_DEPENDENT = "address-dependent"
    ADDRESS_AND_PORT_DEPENDENT = "address-and-port-dependent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class NatBehaviour:
    """What the probe found. `method` is "rfc5780" (the server has two addresses),
    "rfc3489" (two servers' mappings compared) or "single" (one address)."""

    local: Address
    server: Address
    mapped: Address | None  # None: no answer (blocked)
    mapping: Mapping
    filtering: Filtering
    method: str
    other_address: Address | None = None
    error: str | None = None

    @property
    def nat_type(self) -> str:
        return classic_nat_type(self)


def classic_nat_type(behaviour: NatBehaviour) -> str:
    """The RFC 3489 name (as the original SDK's, from PJNATH) for `local_nat_type`.

    "Cone" is an endpoint-independent mapping whose filtering could not be
    told (two servers without RFC 5780); "Unknown" a NAT of unknown mapping.
    """
    if behaviour.mapped is None:
        return "Blocked"
    mapping, filtering = behaviour.mapping, behaviour.filtering
    if mapping is Mapping.NONE:
        return "Open" if filtering in (Filtering.ENDPOINT_INDEPENDENT,
                                       Filtering.UNKNOWN) else "Symmetric UDP"
    if mapping is Mapping.ENDPOINT_INDEPENDENT:
        return {
            Filtering.ENDPOINT_INDEPENDENT: "Full Cone",
            Filtering.ADDRESS_DEPENDENT: "Restricted",
            Filtering.ADDRESS_AND_PORT_DEPENDENT: "Port Restricted",
            Filtering.UNKNOWN: "Cone",
        }[filtering]
    if mapping is Mapping.UNKNOWN:
        return "Unknown"
    return "Symmetric"


@dataclass(frozen=True)
class _Test:
    name: str  # "binding", "filter-ip-port", "filter-port", "map-ip", "map-ip-port", "second"
    destination: Address
    change: int = 0


@dataclass(frozen=True)
class _Answer:
    mapped: Address | None  # None: timed out or an error answer
    source: Address | None = None
    other: Address | None = None
    error: str | None = None


class NatProbe:
    def __init__(self, server: Address, local: Address, *, second: Address | None = None,
                 rto: float = RTO, rc: int = RC, rm: int = RM,
                 software: str | None = None) -> None:
        self.server = (server[0], server[1])
        self.local = (local[0], local[1])
        self.second = (second[0], second[1]) if second is not None else None
        self._rto, self._rc, self._rm = rto, rc, rm
        self._software = software
        self._test: _Test | None = None
        self._transaction: ClientTransaction | None = None
        self._answers: dict[str, _Answer] = {}
        self.result: NatBehaviour | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    # --- the caller's side --------------------------------------------------------

    def start(self, now: float) -> list[Transmit]:
        return self._send(_Test("binding", self.server), now)

    def next_deadline(self) -> float | None:
        return None if self._transaction is None else self._transaction.next_deadline()

    def handle_timeout(self, now: float) -> list[Transmit]:
        if self._transaction is None:
            return []
        transmit = self._transaction.handle_timeout(now)
        if transmit is not None:
            return [transmit]
        if self._transaction.timed_out:
            return self._answered(_Answer(None, error="no answer"), now)
        return []

    def handle_datagram(self, datagram: bytes, source: Address, now: float) -> list[Transmit]:
        """The next test's request once this answers the current one; else nothing."""
        if self._transaction is None or self._test is None:
            return []
        try:
            message = parse(datagram)
        except StunError:
            return []
        if (message.transaction_id != self._transaction.transaction_id
                or message.method != Method.BINDING
                or message.cls not in (Class.SUCCESS, Class.ERROR)):
            return []
        source = (source[0], source[1])
        if message.cls is Class.ERROR:
            code, reason = message.get(Attr.ERROR_CODE, (0, "error without ERROR-CODE"))
            return self._answered(_Answer(None, source, error=f"{code} {reason}"), now)
        mapped = message.get(Attr.XOR_MAPPED_ADDRESS) or message.get(Attr.MAPPED_ADDRESS)
        if mapped is None:
            return self._answered(_Answer(None, source, error="no mapped address"), now)
        return self._answered(_Answer(tuple(mapped), source, message.get(Attr.OTHER_ADDRESS)),
                              now)

    # --- the tests ----------------------------------------------------------------

    def _send(self, test: _Test, now: float) -> list[Transmit]:
        attributes: list[tuple[int, object]] = []
        if test.change:
            attributes.append((Attr.CHANGE_REQUEST, test.change))
        if self._software:
            attributes.append((Attr.SOFTWARE, self._software))
        transaction_id = new_transaction_id()
        request = Message(Method.BINDING, Class.REQUEST, transaction_id, tuple(attributes))
        self._test = test
        self._transaction = ClientTransaction(
            transaction_id, Transmit(encode(request, fingerprint=True), test.destination),
            now, self._rto, self._rc, self._rm)
        return [self._transaction.transmit]

    def _answered(self, answer: _Answer, now: float) -> list[Transmit]:
        assert self._test is not None and self._transaction is not None
        self._transaction.finish()
        self._answers[self._test.name] = answer
        next_test = self._next(self._test, answer)
        if next_test is None:
            self._transaction = self._test = None
            self.result = self._classify()
            return []
        return self._send(next_test, now)

    def _next(self, test: _Test, answer: _Answer) -> _Test | None:
        """The test after `test` (RFC 5780 4.3 and 4.4), or None when the answers suffice."""
        first = self._answers["binding"]
        if first.mapped is None:
            return None  # blocked, or the server refused: nothing more to learn
        other = first.other
        if other is None:
            if test.name == "binding" and self.second is not None and first.mapped != self.local:
                return _Test("second", self.second)
            return None
        if test.name == "binding":
            return _Test("filter-ip-port", self.server, CHANGE_IP | CHANGE_PORT)
        if test.name == "filter-ip-port" and not self._changed("filter-ip-port"):
            return _Test("filter-port", self.server, CHANGE_PORT)
        if test.name in ("filter-ip-port", "filter-port"):
            if first.mapped == self.local:
                return None  # no NAT: no mapping to test
            return _Test("map-ip", (other[0], self.server[1]))
        if test.name == "map-ip" and answer.mapped is not None and answer.mapped != first.mapped:
            return _Test("map-ip-port", other)
        return None

    def _changed(self, name: str) -> bool:
        """Whether the change request `name` was answered from where it asked to be."""
        answer = self._answers.get(name)
        if answer is None or answer.mapped is None or answer.source is None:
            return False
        if name == "filter-ip-port":
            return answer.source[0] != self.server[0] and answer.source[1] != self.server[1]
        return answer.source[0] == self.server[0] and answer.source[1] != self.server[1]

    def _ignored(self, name: str) -> bool:
        """The server answered a change request from the very address asked: it ignored it."""
        answer = self._answers.get(name)
        return answer is not None and answer.source == self.server and answer.mapped is not None

    def _classify(self) -> NatBehaviour:
        first = self._answers["binding"]
        other = first.other
        if first.mapped is None:
            return NatBehaviour(self.local, self.server, None, Mapping.UNKNOWN,
                                Filtering.UNKNOWN, "single", None, first.error)
        method = "rfc5780" if other is not None else (
            "rfc3489" if "second" in self._answers else "single")
        return NatBehaviour(self.local, self.server, first.mapped, self._mapping(),
                            self._filtering(), method, other)

    def _mapping(self) -> Mapping:
        first = self._answers["binding"]
        if first.mapped == self.local:
            return Mapping.NONE
        if "second" in self._answers:
            second = self._answers["second"].mapped
            if second is None:
                return Mapping.UNKNOWN
            return (Mapping.ENDPOINT_INDEPENDENT if second == first.mapped
                    else Mapping.DEPENDENT)
        map_ip = self._answers.get("map-ip")
        if map_ip is None or map_ip.mapped is None:
            return Mapping.UNKNOWN
        if map_ip.mapped == first.mapped:
            return Mapping.ENDPOINT_INDEPENDENT
        map_ip_port = self._answers.get("map-ip-port")
        if map_ip_port is None or map_ip_port.mapped is None:
            return Mapping.UNKNOWN
        return (Mapping.ADDRESS_DEPENDENT if map_ip_port.mapped == map_ip.mapped
                else Mapping.ADDRESS_AND_PORT_DEPENDENT)

    def _filtering(self) -> Filtering:
        if "filter-ip-port" not in self._answers:
            return Filtering.UNKNOWN
        if self._changed("filter-ip-port"):
            return Filtering.ENDPOINT_INDEPENDENT
        if self._ignored("filter-ip-port") or self._ignored("filter-port"):
            return Filtering.UNKNOWN  # the server does not change where it answers from
        if self._answers["filter-ip-port"].error not in (None, "no answer"):
            return Filtering.UNKNOWN  # refused (e.g. 420): not a filtering answer
        if self._changed("filter-port"):
            return Filtering.ADDRESS_DEPENDENT
        answer = self._answers.get("filter-port")
        if answer is not None and answer.error not in (None, "no answer"):
            return Filtering.UNKNOWN
        return Filtering.ADDRESS_AND_PORT_DEPENDENT
