"""Binding client (server-reflexive discovery) and the NAT type from two servers."""

from __future__ import annotations

from sipsimple_services.media.ice.binding import (
    BindingClient,
    BindingFailed,
    MappedAddress,
    NatType,
    nat_type,
)
from sipsimple_services.media.ice.stun import (
    Attr,
    Class,
    Message,
    Method,
    encode,
    error_response,
    parse,
)
from sipsimple_services.media.ice.transaction import Transmit

SERVER = ("198.51.100.1", 3478)
LOCAL = ("10.0.0.2", 5000)


def answer(request: bytes, mapped: tuple[str, int]) -> bytes:
    message = parse(request)
    assert message.method == Method.BINDING and message.cls is Class.REQUEST
    assert message.fingerprint
    return encode(message.reply(Class.SUCCESS, ((Attr.XOR_MAPPED_ADDRESS, mapped),)))


def test_mapped_address_discovered() -> None:
    client = BindingClient(SERVER)
    transmit = client.start(0.0)
    assert transmit.destination == SERVER
    events = client.handle_datagram(answer(transmit.data, ("203.0.113.9", 62000)), SERVER)
    assert events == [MappedAddress(SERVER, ("203.0.113.9", 62000))]
    assert client.next_deadline() is None
    # a duplicate response changes nothing
    assert client.handle_datagram(answer(transmit.data, ("203.0.113.9", 1)), SERVER) == []


def test_other_datagrams_are_ignored() -> None:
    client = BindingClient(SERVER)
    transmit = client.start(0.0)
    other = Message(Method.BINDING, Class.SUCCESS, b"z" * 12, ((Attr.XOR_MAPPED_ADDRESS, LOCAL),))
    assert client.handle_datagram(encode(other), SERVER) == []
    assert client.handle_datagram(b"\x80\x00garbage", SERVER) == []
    assert client.handle_datagram(transmit.data, SERVER) == []  # our own request reflected
    assert client.handle_datagram(answer(transmit.data, LOCAL), ("192.0.2.66", 3478)) == []
    assert client.result is None


def test_error_response_fails() -> None:
    client = BindingClient(SERVER)
    request = parse(client.start(0.0).data)
    events = client.handle_datagram(encode(error_response(request, 400, "Bad Request")), SERVER)
    assert events == [BindingFailed(SERVER, "400 Bad Request")]


def test_timeout_after_retransmissions() -> None:
    client = BindingClient(SERVER, rto=0.1, rc=3, rm=2)
    first = client.start(0.0)
    outputs: list[object] = []
    while (deadline := client.next_deadline()) is not None:
        outputs.extend(client.handle_timeout(deadline))
    assert outputs == [first, first, BindingFailed(SERVER, "timeout")]
    assert all(isinstance(o, Transmit) for o in outputs[:2])


def test_nat_type() -> None:
    a = MappedAddress(SERVER, ("203.0.113.9", 62000))
    b = MappedAddress(("198.51.100.2", 3478), ("203.0.113.9", 62000))
    c = MappedAddress(("198.51.100.2", 3478), ("203.0.113.9", 62001))
    lost = BindingFailed(("198.51.100.2", 3478), "timeout")
    assert nat_type(LOCAL, [a, b]) is NatType.ENDPOINT_INDEPENDENT
    assert nat_type(LOCAL, [a, c]) is NatType.SYMMETRIC
    assert nat_type(LOCAL, [a, lost]) is NatType.UNKNOWN
    assert nat_type(LOCAL, [lost]) is NatType.BLOCKED
    assert nat_type(LOCAL, [MappedAddress(SERVER, LOCAL)]) is NatType.OPEN
