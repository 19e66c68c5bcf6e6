"""TURN client allocation against a small TURN server written here from RFC 8656.

The server is a test double of the *peer* (the TURN server), not of our
code: it challenges with 401, checks the long-term integrity, rotates its
nonce (438), grants permissions and channels and relays data.
"""

from __future__ import annotations

import pytest

from sipsimple_services.media.ice.channeldata import ChannelData
from sipsimple_services.media.ice.stun import (
    Attr,
    Class,
    Message,
    Method,
    check_integrity,
    encode,
    error_response,
    long_term_key,
    new_transaction_id,
    parse,
)
from sipsimple_services.media.ice.transaction import Transmit
from sipsimple_services.media.ice.turn import (
    Allocated,
    AllocationFailed,
    ChannelBound,
    DataReceived,
    PermissionCreated,
    TurnClient,
    TurnState,
)

SERVER = ("198.51.100.10", 3478)
CLIENT = ("203.0.113.7", 50000)  # the client's address as the server sees it
RELAYED = ("198.51.100.10", 49152)
PEER = ("192.0.2.99", 7000)
REALM = "example.org"


class Server:
    def __init__(self, password: str = "secret") -> None:
        self.key = long_term_key("alice", REALM, password)
        self.nonce = "nonce-1"
        self.requests: list[Message] = []
        self.permissions: set[str] = set()
        self.channels: dict[int, tuple[str, int]] = {}
        self.relayed: list[tuple[tuple[str, int], bytes]] = []  # what went out to peers
        self.lifetime_asked: list[int] = []

    def handle(self, data: bytes) -> bytes | None:
        if data[0] >= 0x40:
            frame = ChannelData.parse(data)
            self.relayed.append((self.channels[frame.channel], frame.data))
            return None
        message = parse(data)
        if message.cls is Class.INDICATION:
            peer = message.get(Attr.XOR_PEER_ADDRESS)
            if message.method == Method.SEND and peer[0] in self.permissions:
                self.relayed.append((peer, message.get(Attr.DATA)))
            return None
        self.requests.append(message)
        if not message.has_integrity:
            return encode(
                error_response(
                    message, 401, "Unauthorized", (Attr.REALM, REALM), (Attr.NONCE, self.nonce)
                )
            )
        if not check_integrity(message, self.key):
            return encode(
                error_response(
                    message, 401, "Unauthorized", (Attr.REALM, REALM), (Attr.NONCE, self.nonce)
                )
            )
        if message.get(Attr.NONCE) != self.nonce:
            return encode(
                error_response(message, 438, "Stale Nonce", (Attr.NONCE, self.nonce)), self.key
            )
        if message.method == Method.ALLOCATE:
            answer = message.reply(
                Class.SUCCESS,
                (
                    (Attr.XOR_RELAYED_ADDRESS, RELAYED),
                    (Attr.XOR_MAPPED_ADDRESS, CLIENT),
                    (Attr.LIFETIME, 600),
                ),
            )
        elif message.method == Method.REFRESH:
            self.lifetime_asked.append(message.get(Attr.LIFETIME))
            answer = message.reply(Class.SUCCESS, ((Attr.LIFETIME, message.get(Attr.LIFETIME)),))
        elif message.method == Method.CREATE_PERMISSION:
            self.permissions.add(message.get(Attr.XOR_PEER_ADDRESS)[0])
            answer = message.reply(Class.SUCCESS)
        elif message.method == Method.CHANNEL_BIND:
            peer = message.get(Attr.XOR_PEER_ADDRESS)
            self.channels[message.get(Attr.CHANNEL_NUMBER)] = peer
            self.permissions.add(peer[0])
            answer = message.reply(Class.SUCCESS)
        else:
            answer = error_response(message, 400, "Bad Request")
        return encode(answer, self.key, fingerprint=True)

    def data_indication(self, peer: tuple[str, int], data: bytes) -> bytes:
        message = Message(
            Method.DATA,
            Class.INDICATION,
            new_transaction_id(),
            ((Attr.XOR_PEER_ADDRESS, peer), (Attr.DATA, data)),
        )
        return encode(message)


def pump(client: TurnClient, server: Server, effects: list, now: float) -> list:
    """Carry the client's datagrams to the server and its answers back; return the events."""
    events = []
    queue = list(effects)
    while queue:
        effect = queue.pop(0)
        if isinstance(effect, Transmit):
            assert effect.destination == SERVER
            answer = server.handle(effect.data)
            if answer is not None:
                queue += client.handle_datagram(answer, SERVER, now)
        else:
            events.append(effect)
    return events


def allocated(password: str = "secret") -> tuple[TurnClient, Server]:
    client, server = TurnClient(SERVER, "alice", "secret"), Server(password)
    events = pump(client, server, client.start(0.0), 0.0)
    assert events == [Allocated(RELAYED, CLIENT, 600)]
    return client, server


def test_allocate_is_challenged_then_authenticated() -> None:
    client, server = allocated()
    first, second = server.requests
    assert not first.has_integrity and first.get(Attr.REQUESTED_TRANSPORT) == 17
    assert second.get(Attr.USERNAME) == "alice" and second.get(Attr.NONCE) == "nonce-1"
    assert client.state is TurnState.ALLOCATED and client.relayed == RELAYED


def test_wrong_password_fails_the_allocation() -> None:
    client, server = TurnClient(SERVER, "alice", "wrong"), Server()
    events = pump(client, server, client.start(0.0), 0.0)
    assert events == [AllocationFailed("401 Unauthorized")]
    assert client.state is TurnState.FAILED and client.next_deadline() is None


def test_refresh_before_the_lifetime_ends_and_after_a_stale_nonce() -> None:
    client, server = allocated()
    assert client.next_deadline() == 540.0
    server.nonce = "nonce-2"
    events = pump(client, server, client.handle_timeout(540.0), 540.0)
    assert events == []
    assert server.lifetime_asked == [600]  # the retry after 438 went through
    assert server.requests[-1].get(Attr.NONCE) == "nonce-2"
    assert client.next_deadline() == 1080.0


def test_refresh_timeout_fails_the_allocation() -> None:
    client, _ = allocated()
    events = client.handle_timeout(540.0)
    failures = []
    while (deadline := client.next_deadline()) is not None:
        failures += [e for e in client.handle_timeout(deadline) if not isinstance(e, Transmit)]
    assert len([e for e in events if isinstance(e, Transmit)]) == 1
    assert failures == [AllocationFailed("timeout")]


def test_permission_send_indication_and_data_indication() -> None:
    client, server = allocated()
    events = pump(client, server, client.send(PEER, b"hello", 1.0), 1.0)
    assert events == [PermissionCreated(PEER[0])]
    assert PEER[0] in server.permissions
    pump(client, server, client.send(PEER, b"again", 1.1), 1.1)
    assert server.relayed[-1] == (PEER, b"again")
    assert client.handle_datagram(server.data_indication(PEER, b"back"), SERVER, 2.0) == [
        DataReceived(PEER, b"back")
    ]
    # data from a peer we gave no permission is dropped
    stranger = ("192.0.2.200", 1)
    assert client.handle_datagram(server.data_indication(stranger, b"x"), SERVER, 2.0) == []
    assert client.dropped["no-permission"] == 1
    # the permission is refreshed before its 5 minutes end
    assert client.next_deadline() == pytest.approx(1.0 + 240.0)


def test_channel_bind_then_channel_data_both_ways() -> None:
    client, server = allocated()
    events = pump(client, server, client.bind_channel(PEER, 1.0), 1.0)
    assert events == [ChannelBound(PEER, 0x4000)]
    (transmit,) = client.send(PEER, b"rtp!", 1.5)
    assert transmit.data == ChannelData(0x4000, b"rtp!").encode(pad=True)
    pump(client, server, [transmit], 1.5)
    assert server.relayed[-1] == (PEER, b"rtp!")
    back = ChannelData(0x4000, b"from peer").encode()
    assert client.handle_datagram(back, SERVER, 2.0) == [DataReceived(PEER, b"from peer")]
    assert client.handle_datagram(ChannelData(0x4001, b"?").encode(), SERVER, 2.0) == []
    assert client.dropped["unknown-channel"] == 1
    # the channel is bound again before its 10 minutes end, without a second event
    refresh = [e for e in client.handle_timeout(541.0) if isinstance(e, Transmit)]
    assert pump(client, server, refresh, 541.0) == []
    assert server.requests[-1].method == Method.CHANNEL_BIND


def test_hostile_answers_are_dropped_and_counted() -> None:
    client, server = allocated()
    (transmit,) = client.create_permission(PEER[0], 1.0)
    request = parse(transmit.data)
    forged = encode(request.reply(Class.SUCCESS), long_term_key("alice", REALM, "guess"))
    assert client.handle_datagram(forged, SERVER, 1.0) == []
    assert client.dropped["integrity"] == 1
    assert client.handle_datagram(b"\x01\x01\x00", SERVER, 1.0) == []
    assert client.dropped["malformed"] == 1
    assert client.handle_datagram(server.handle(transmit.data) or b"", ("192.0.2.1", 1), 1.0) == []
    assert client.dropped["not-from-server"] == 1
    # the real answer still completes the request
    events = pump(client, server, [transmit], 1.0)
    assert events == [PermissionCreated(PEER[0])]


def test_close_releases_the_allocation() -> None:
    client, server = allocated()
    pump(client, server, client.close(5.0), 5.0)
    assert server.lifetime_asked == [0]
    assert client.state is TurnState.CLOSED and client.next_deadline() is None
    assert client.send(PEER, b"x", 6.0) == []


def test_an_allocation_without_a_relayed_address_fails() -> None:
    client = TurnClient(SERVER, "alice", "secret")
    (transmit,) = client.start(0.0)
    request = parse(transmit.data)
    answer = encode(request.reply(Class.SUCCESS, ((Attr.XOR_MAPPED_ADDRESS, CLIENT),)))
    assert client.handle_datagram(answer, SERVER, 0.0) == [
        AllocationFailed("no XOR-RELAYED/MAPPED-ADDRESS")
    ]


def test_seeded_fuzz_of_server_datagrams_never_raises() -> None:
    import random

    client, server = allocated()
    pump(client, server, client.bind_channel(PEER, 1.0), 1.0)
    rng = random.Random(8656)
    seeds = [server.data_indication(PEER, b"abc"), ChannelData(0x4000, b"xyz").encode()]
    for i in range(5000):
        data = bytearray(seeds[i % 2])
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        for effect in client.handle_datagram(bytes(data), SERVER, 2.0):
            assert isinstance(effect, DataReceived)
    assert client.state is TurnState.ALLOCATED
    assert sum(client.dropped.values()) > 0
