"""NatProbe (RFC 5780 behaviour discovery) against a simulated NAT and STUN server, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.media.ice.natprobe import (
    Filtering,
    Mapping,
    NatBehaviour,
    NatProbe,
    classic_nat_type,
)
from sipsimple_services.media.ice.stun import Attr, Class, Message, Method, encode, parse
from sipsimple_services.media.ice.transaction import Transmit

Address = tuple[str, int]
LOCAL = ("10.0.0.2", 40000)
PRIMARY = ("192.0.2.1", 3478)
OTHER = ("192.0.2.2", 3479)
SECOND = ("198.51.100.7", 3478)
PUBLIC_IP = "203.0.113.9"


@dataclass
class Net:
    """A NAT (mapping and filtering as RFC 4787 names them) in front of LOCAL, and servers.

    ``other``: the server has two addresses and says so (OTHER-ADDRESS);
    ``ignores_change``: it answers a CHANGE-REQUEST from where it was asked.
    """

    mapping: str = "ei"  # none | ei | ad | apd
    filtering: str = "apd"  # ei | ad | apd
    other: bool = True
    ignores_change: bool = False
    refuses_change: bool = False
    sent_to: set[Address] = field(default_factory=set)
    ports: dict[object, int] = field(default_factory=dict)

    def mapped(self, destination: Address) -> Address:
        if self.mapping == "none":
            return LOCAL
        key: object = {"ei": None, "ad": destination[0], "apd": destination}[self.mapping]
        port = self.ports.setdefault(key, 50000 + len(self.ports))
        return (PUBLIC_IP, port)

    def lets_in(self, source: Address) -> bool:
        if self.mapping == "none" and self.filtering == "ei":
            return True
        if self.filtering == "ei":
            return True
        if self.filtering == "ad":
            return any(source[0] == d[0] for d in self.sent_to)
        return source in self.sent_to

    def deliver(self, transmit: Transmit) -> list[tuple[bytes, Address]]:
        destination = transmit.destination
        self.sent_to.add(destination)
        request = parse(transmit.data)
        servers = {PRIMARY, OTHER, (PRIMARY[0], OTHER[1]), (OTHER[0], PRIMARY[1]), SECOND}
        if destination not in servers:
            return []
        change = request.get(Attr.CHANGE_REQUEST, 0)
        if change and self.refuses_change:
            reply = request.reply(Class.ERROR, [(Attr.ERROR_CODE, (420, "Unknown Attribute"))])
            return [(encode(reply), destination)]
        source = destination
        if change and not self.ignores_change:
            ip = {PRIMARY[0]: OTHER[0], OTHER[0]: PRIMARY[0]}[destination[0]] \
                if change & 0x04 else destination[0]
            port = {PRIMARY[1]: OTHER[1], OTHER[1]: PRIMARY[1]}[destination[1]] \
                if change & 0x02 else destination[1]
            source = (ip, port)
        attributes: list[tuple[int, object]] = [
            (Attr.XOR_MAPPED_ADDRESS, self.mapped(destination))]
        if self.other and destination != SECOND:
            attributes.append((Attr.OTHER_ADDRESS, OTHER))
        if not self.lets_in(source):
            return []
        return [(encode(request.reply(Class.SUCCESS, attributes)), source)]


def run(net: Net, second: Address | None = None) -> tuple[NatBehaviour, list[Transmit]]:
    probe = NatProbe(PRIMARY, LOCAL, second=second)
    now = 0.0
    sent: list[Transmit] = []
    pending = probe.start(now)
    for _ in range(1000):
        while pending:
            transmit = pending.pop(0)
            sent.append(transmit)
            for datagram, source in net.deliver(transmit):
                pending += probe.handle_datagram(datagram, source, now)
        if probe.done:
            assert probe.result is not None and probe.next_deadline() is None
            return probe.result, sent
        deadline = probe.next_deadline()
        assert deadline is not None and deadline > now
        now = deadline
        pending = probe.handle_timeout(now)
    raise AssertionError("the probe never finished")


@pytest.mark.parametrize(("mapping", "filtering", "expected", "name"), [
    ("ei", "ei", (Mapping.ENDPOINT_INDEPENDENT, Filtering.ENDPOINT_INDEPENDENT), "Full Cone"),
    ("ei", "ad", (Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_DEPENDENT), "Restricted"),
    ("ei", "apd", (Mapping.ENDPOINT_INDEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT),
     "Port Restricted"),
    ("ad", "apd", (Mapping.ADDRESS_DEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT),
     "Symmetric"),
    ("apd", "apd", (Mapping.ADDRESS_AND_PORT_DEPENDENT, Filtering.ADDRESS_AND_PORT_DEPENDENT),
     "Symmetric"),
    ("apd", "ei", (Mapping.ADDRESS_AND_PORT_DEPENDENT, Filtering.ENDPOINT_INDEPENDENT),
     "Symmetric"),
    ("none", "ei", (Mapping.NONE, Filtering.ENDPOINT_INDEPENDENT), "Open"),
    ("none", "apd", (Mapping.NONE, Filtering.ADDRESS_AND_PORT_DEPENDENT), "Symmetric UDP"),
])
def test_rfc5780_with_a_server_of_two_addresses(mapping: str, filtering: str,
                                                expected: tuple[Mapping, Filtering],
                                                name: str) -> None:
    result, _ = run(Net(mapping, filtering))
    assert (result.mapping, result.filtering) == expected
    assert result.method == "rfc5780" and result.other_address == OTHER
    assert result.nat_type == name == classic_nat_type(result)
    assert result.mapped == (LOCAL if mapping == "none" else (PUBLIC_IP, 50000))


def test_the_filtering_tests_come_before_the_mapping_tests() -> None:
    # Otherwise the mapping tests' packets to the other address would open the
    # pinhole that lets the change request's answer in.
    _, sent = run(Net("apd", "ad"))
    order = [(t.destination, parse(t.data).get(Attr.CHANGE_REQUEST, 0)) for t in sent]
    firsts = list(dict.fromkeys(order))
    assert firsts == [(PRIMARY, 0), (PRIMARY, 6), (PRIMARY, 2), ((OTHER[0], PRIMARY[1]), 0),
                      (OTHER, 0)]


def test_one_address_and_a_second_server_compare_mappings_as_rfc3489() -> None:
    result, _ = run(Net("ei", "apd", other=False), second=SECOND)
    assert (result.method, result.mapping, result.filtering) == (
        "rfc3489", Mapping.ENDPOINT_INDEPENDENT, Filtering.UNKNOWN)
    assert result.nat_type == "Cone"
    result, _ = run(Net("apd", "apd", other=False), second=SECOND)
    assert (result.mapping, result.nat_type) == (Mapping.DEPENDENT, "Symmetric")


def test_one_address_alone_tells_only_whether_there_is_a_nat() -> None:
    result, sent = run(Net("ei", "apd", other=False))
    assert (result.method, result.mapping, result.nat_type) == ("single", Mapping.UNKNOWN,
                                                                "Unknown")
    assert len({t.data for t in sent}) == 1  # one question only
    result, _ = run(Net("none", "ei", other=False))
    assert (result.mapping, result.nat_type) == (Mapping.NONE, "Open")


@pytest.mark.parametrize("net", [Net("ei", "ei", ignores_change=True),
                                 Net("ei", "ei", refuses_change=True)])
def test_a_server_that_ignores_or_refuses_change_requests_leaves_filtering_unknown(
        net: Net) -> None:
    result, _ = run(net)
    assert result.filtering is Filtering.UNKNOWN
    assert result.mapping is Mapping.ENDPOINT_INDEPENDENT


def test_no_answer_is_blocked() -> None:
    probe = NatProbe(PRIMARY, LOCAL)
    now = 0.0
    sends = len(probe.start(now))
    while not probe.done:
        deadline = probe.next_deadline()
        assert deadline is not None
        now = deadline
        sends += len(probe.handle_timeout(now))
    assert probe.result is not None and probe.result.mapped is None
    assert probe.result.nat_type == "Blocked" and probe.result.error == "no answer"
    assert sends == 3 and now == pytest.approx(3.5)


@given(st.binary(max_size=200), st.tuples(st.sampled_from(["192.0.2.1", "10.9.9.9"]),
                                          st.integers(0, 65535)))
def test_garbage_and_strangers_answers_are_ignored(data: bytes, source: Address) -> None:
    probe = NatProbe(PRIMARY, LOCAL)
    [request] = probe.start(0.0)
    assert probe.handle_datagram(data, source, 0.1) == []
    # a well-formed answer to another transaction changes nothing either
    stranger = Message(Method.BINDING, Class.SUCCESS, b"x" * 12,
                       ((Attr.XOR_MAPPED_ADDRESS, ("203.0.113.1", 1)),))
    assert probe.handle_datagram(encode(stranger), source, 0.1) == []
    assert not probe.done and parse(request.data).transaction_id != b"x" * 12
