"""TransportManager over real loopback sockets (UDP and TCP, IPv4 and IPv6), driven with gevent.

The test process is not monkey-patched: the tests use gevent's sockets and
queues, and blocking on a queue runs the hub and so the managers.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import gevent
import gevent.queue
import pytest
from gevent import socket as gsocket
from harness.loopback import HOSTS, peer_closed, request_bytes

from sipsimple_services.signalling.sip.message.parser import Limits, StreamParser, parse_message
from sipsimple_services.signalling.sip.message.values import (
    SIPMessage,
    SIPRequest,
    SIPResponse,
    make_response,
)
from sipsimple_services.signalling.transport import (
    TransportAddress,
    TransportConfig,
    TransportError,
    TransportManager,
)


@dataclass
class Endpoint:
    manager: TransportManager
    inbox: gevent.queue.Queue = field(default_factory=gevent.queue.Queue)
    closed: gevent.queue.Queue = field(default_factory=gevent.queue.Queue)

    def receive(self, timeout: float = 3.0) -> tuple[SIPMessage, TransportAddress, int | None]:
        item: tuple[SIPMessage, TransportAddress, int | None] = self.inbox.get(timeout=timeout)
        return item

    def address(self, transport: str) -> TransportAddress:
        return self.manager.local_addresses[transport]


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    started: list[TransportManager] = []

    def make(host: str = "127.0.0.1", **options: object) -> Endpoint:
        inbox: gevent.queue.Queue = gevent.queue.Queue()
        closed: gevent.queue.Queue = gevent.queue.Queue()
        config = TransportConfig(host=host, **options)  # type: ignore[arg-type]
        manager = TransportManager(
            config,
            lambda message, source, cid: inbox.put((message, source, cid)),
            on_connection_closed=lambda cid, remote, reason: closed.put((cid, reason)),
        )
        manager.start()
        started.append(manager)
        return Endpoint(manager, inbox, closed)

    yield make
    for manager in started:
        manager.stop()


def raw_stream(address: TransportAddress) -> gsocket.socket:
    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(3)
    sock.connect((address.host, address.port))
    return sock


def raw_datagram(host: str) -> gsocket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = gsocket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(3)
    sock.bind((host, 0))
    return sock


def read_message(sock: gsocket.socket) -> SIPMessage:
    parser = StreamParser()
    while True:
        data = sock.recv(65536)
        assert data, "connection closed before a message arrived"
        for event in parser.feed(data):
            if isinstance(event, SIPRequest | SIPResponse):
                return event


# -- configuration -------------------------------------------------------------------------


def test_ports_are_reported_and_none_disables(endpoint: Callable[..., Endpoint]) -> None:
    a = endpoint(udp_port=0, tcp_port=0)
    ports = a.manager.ports
    assert set(ports) == {"UDP", "TCP"} and all(port > 0 for port in ports.values())
    b = endpoint(udp_port=None, tcp_port=0)
    assert set(b.manager.ports) == {"TCP"}
    with pytest.raises(TransportError, match="UDP is not enabled"):
        b.manager.send(b"x", a.address("UDP"))
    # A taken port fails start and leaves nothing bound.
    taken = TransportManager(TransportConfig(host="127.0.0.1", udp_port=None,
                                             tcp_port=ports["TCP"]), lambda *args: None)
    with pytest.raises(OSError):
        taken.start()
    assert not taken.running


# -- UDP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_udp_both_ways_with_rport(host: str, endpoint: Callable[..., Endpoint]) -> None:
    a, b = endpoint(host, tcp_port=None), endpoint(host, tcp_port=None)
    a_udp = a.address("UDP")
    # Advertise a wrong port in Via, as a NATed client would: rport fixes the way back.
    assert a.manager.send(request_bytes("UDP", host, 9, rport=True), b.address("UDP")) is None
    message, source, cid = b.receive()
    assert isinstance(message, SIPRequest) and cid is None
    assert source == TransportAddress(host, a_udp.port, "UDP")
    via = message.top_via
    assert via is not None and via.rport == a_udp.port and via.received is not None
    b.manager.send_response(make_response(message, 200, to_tag="b"))
    response, source, _ = a.receive()
    assert isinstance(response, SIPResponse) and response.code == 200
    assert source.port == b.address("UDP").port
    # And the other way, with a message value rather than bytes.
    b.manager.send(parse_message(request_bytes("UDP", host, b.address("UDP").port)), a_udp)
    message, source, _ = a.receive()
    assert isinstance(message, SIPRequest) and message.top_via is not None
    assert message.top_via.received is None  # sent-by matched the source


def test_garbage_datagrams(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(tcp_port=None)
    target = b.address("UDP")
    raw = raw_datagram("127.0.0.1")
    for junk in (b"\x00\xff" * 50, b"hello world", b"INVITE\r\n\r\n", b"\r\n\r\n", b"SIP/2.0"):
        raw.sendto(junk, (target.host, target.port))
    # A request whose headers allow an answer gets 400; a response never does.
    bad = request_bytes("UDP", "127.0.0.1", raw.getsockname()[1], extra="Expires: soon\r\n")
    raw.sendto(bad, (target.host, target.port))
    data, _ = raw.recvfrom(65536)
    answer = parse_message(data)
    assert isinstance(answer, SIPResponse) and answer.code == 400
    raw.sendto(b"SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n", (target.host, target.port))
    # The manager keeps working.
    raw.sendto(request_bytes("UDP", "127.0.0.1", raw.getsockname()[1]), (target.host, target.port))
    message, _, _ = b.receive()
    assert isinstance(message, SIPRequest)
    assert b.inbox.empty()
    raw.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IP_RECVERR is Linux's")
@pytest.mark.parametrize("host", HOSTS)
def test_udp_to_a_dead_port_is_reported_and_the_rest_goes_out(
    host: str, endpoint: Callable[..., Endpoint]
) -> None:
    unreachable: gevent.queue.Queue = gevent.queue.Queue()
    a, b = endpoint(host, tcp_port=None), endpoint(host, tcp_port=None)
    a.manager.on_unreachable = lambda address, reason: unreachable.put((address, reason))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as closed:
        closed.bind((host, 0))
        dead = TransportAddress(host, closed.getsockname()[1], "UDP")
    # Loopback answers at once, so the next sends meet the error the kernel holds
    # for the socket: each must still go out to its own (live) destination.
    for _ in range(3):
        a.manager.send(request_bytes("UDP", host, 9), dead)
        a.manager.send(request_bytes("UDP", host, 9), b.address("UDP"))
    assert unreachable.get(timeout=3) == (dead, "port unreachable")
    for _ in range(3):
        message, _, _ = b.receive()
        assert isinstance(message, SIPRequest)
    while not unreachable.empty():
        assert unreachable.get() == (dead, "port unreachable")


# -- TCP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_tcp_both_ways_and_connection_reuse(host: str, endpoint: Callable[..., Endpoint]) -> None:
    a, b = endpoint(host, udp_port=None), endpoint(host, udp_port=None)
    a_tcp, b_tcp = a.address("TCP"), b.address("TCP")
    first = a.manager.send(request_bytes("TCP", host, a_tcp.port), b_tcp)
    assert first is not None
    request, source, b_side = b.receive()
    assert isinstance(request, SIPRequest) and b_side is not None
    assert source.transport == "TCP" and source.host == host
    # The response goes back on the same connection (18.2.2).
    assert b.manager.send_response(make_response(request, 200), connection_id=b_side) == b_side
    response, _, a_side = a.receive()
    assert isinstance(response, SIPResponse) and a_side == first
    # A second request to the same peer reuses the connection.
    assert a.manager.send(request_bytes("TCP", host, a_tcp.port), b_tcp) == first
    assert a.manager.connection_to(b_tcp) == first
    _, _, again = b.receive()
    assert again == b_side and len(b.manager.connections) == 1
    # A request from b to a's source address rides the inbound connection.
    assert b.manager.send(request_bytes("TCP", host, b_tcp.port), source) == b_side
    _, _, reverse = a.receive()
    assert reverse == first
    # A request to a's listener opens a new connection.
    new = b.manager.send(request_bytes("TCP", host, b_tcp.port), a_tcp)
    assert new not in (None, b_side)
    assert a.receive()[2] not in (None, first)


def test_response_falls_back_to_via_when_the_connection_is_gone(
    endpoint: Callable[..., Endpoint],
) -> None:
    a, b = endpoint(udp_port=None), endpoint(udp_port=None)
    a.manager.send(request_bytes("TCP", "127.0.0.1", a.address("TCP").port), b.address("TCP"))
    request, _, cid = b.receive()
    assert isinstance(request, SIPRequest) and cid is not None
    b.manager.close_connection(cid)
    assert b.closed.get(timeout=3) == (cid, "closed locally")
    # The Via names a's listener: a new connection goes there.
    used = b.manager.send_response(make_response(request, 200), connection_id=cid)
    assert used not in (None, cid)
    response, _, _ = a.receive()
    assert isinstance(response, SIPResponse) and response.code == 200


def test_connect_refused_is_a_transport_error(endpoint: Callable[..., Endpoint]) -> None:
    a = endpoint(udp_port=None)
    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more
    with pytest.raises(TransportError, match="connect failed") as error:
        a.manager.send(b"x", TransportAddress("127.0.0.1", port, "TCP"))
    assert error.value.destination == TransportAddress("127.0.0.1", port, "TCP")
    with pytest.raises(TransportError, match="unsupported transport"):
        a.manager.send(b"x", TransportAddress("127.0.0.1", port, "SCTP"))


def test_keepalive_ping_gets_a_pong(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(udp_port=None)
    sock = raw_stream(b.address("TCP"))
    sock.sendall(b"\r\n\r\n")
    assert sock.recv(16) == b"\r\n"
    sock.sendall(b"\r\n")  # a pong from the peer needs no answer
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060))
    message, _, _ = b.receive()
    assert isinstance(message, SIPRequest)
    sock.close()


def test_outbound_pings_and_idle_timeout(endpoint: Callable[..., Endpoint]) -> None:
    a = endpoint(udp_port=None, keepalive_interval=0.1, idle_timeout=0.6)
    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    peer = TransportAddress("127.0.0.1", listener.getsockname()[1], "TCP")
    cid = a.manager.send(request_bytes("TCP", "127.0.0.1", 5060), peer)
    sock, _ = listener.accept()
    sock.settimeout(3)
    read_message(sock)
    assert sock.recv(16).startswith(b"\r\n\r\n")  # a ping on the quiet connection
    # The peer never answers: the connection is idle and gets closed.
    closed_cid, reason = a.closed.get(timeout=3)
    assert (closed_cid, reason) == (cid, "idle")
    assert a.manager.connections == {}
    sock.close()
    listener.close()


def test_stream_that_never_ends_a_message_is_closed(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(udp_port=None, limits=Limits(max_header_bytes=8192))
    sock = raw_stream(b.address("TCP"))
    sock.sendall(b"OPTIONS sip:bob@example.com SIP/2.0\r\n")
    sent = 0
    for _ in range(2000):
        try:
            sock.sendall(b"X-Junk: " + b"a" * 1000 + b"\r\n")
        except OSError:  # reset or broken pipe: the manager closed it
            break
        sent += 1010
        gevent.sleep(0.001)
        if peer_closed(sock):
            break
    else:
        pytest.fail("the manager kept reading an endless header section")
    assert sent < 100_000  # closed soon after the limit, not after megabytes
    _, reason = b.closed.get(timeout=3)
    assert reason == "parse error" and b.manager.connections == {}
    assert b.inbox.empty()



def test_bad_message_on_a_stream_gets_400_and_the_stream_goes_on(
    endpoint: Callable[..., Endpoint],
) -> None:
    b = endpoint(udp_port=None)
    sock = raw_stream(b.address("TCP"))
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060, extra="Expires: soon\r\n"))
    answer = read_message(sock)
    assert isinstance(answer, SIPResponse) and answer.code == 400
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060))
    assert isinstance(b.receive()[0], SIPRequest)
    sock.close()


def test_oversized_message_gets_400_then_close(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(udp_port=None, limits=Limits(max_body_bytes=1000, max_headers=20))
    sock = raw_stream(b.address("TCP"))
    # Body too large: the headers allow a 400, then the framing is lost.
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060, body="x" * 2000))
    answer = read_message(sock)
    assert isinstance(answer, SIPResponse) and answer.code == 400
    assert sock.recv(65536) == b""
    # Too many headers: closed (nothing usable to answer).
    sock = raw_stream(b.address("TCP"))
    many = "".join(f"X-H{n}: v\r\n" for n in range(50))
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060, extra=many))
    assert sock.recv(65536) == b""
    assert b.inbox.empty()


@dataclass(frozen=True)
class Destination:  # the transaction layer's own address type, duck-typed
    host: str
    port: int
    transport: str


def test_send_after_the_peer_dropped_the_connection(endpoint: Callable[..., Endpoint]) -> None:
    a, b = endpoint(udp_port=None), endpoint(udp_port=None)
    target = Destination("127.0.0.1", b.address("TCP").port, "TCP")
    first = a.manager.send(request_bytes("TCP", "127.0.0.1", 5060), target)
    _, _, b_side = b.receive()
    assert b_side is not None
    b.manager.close_connection(b_side)
    gevent.sleep(0.05)  # a's reader sees the FIN (a send racing it would be lost, as in TCP)
    second = a.manager.send(request_bytes("TCP", "127.0.0.1", 5060), target)
    assert isinstance(b.receive()[0], SIPRequest)
    assert second is not None and second != first


# -- bounds against peers that open connections and feed them slowly ----------------------


def partial_message(body_sent: int, body_length: int = 1_000_000) -> bytes:
    """A request whose headers announce `body_length` bytes of body, and `body_sent` of them."""
    whole = request_bytes("TCP", "127.0.0.1", 5060, method="MESSAGE",
                          extra="Content-Type: text/plain\r\n", body="x" * body_length)
    return whole[: len(whole) - body_length + body_sent]


def stream_from(source: str, address: TransportAddress) -> gsocket.socket:
    sock = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(3)
    sock.bind((source, 0))
    sock.connect((address.host, address.port))
    return sock


def wait_closed(socks: list[gsocket.socket], count: int, timeout: float = 10) -> list[bool]:
    """Which of `socks` the other side closed, once at least `count` are."""
    with gevent.Timeout(timeout, AssertionError(f"fewer than {count} connections closed")):
        while True:
            closed = [peer_closed(sock) for sock in socks]
            if sum(closed) >= count:
                return closed
            gevent.sleep(0.02)


def test_connections_from_one_address_are_capped(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(udp_port=None, max_connections_per_address=3)
    address = b.address("TCP")
    flood = [stream_from("127.0.0.1", address) for _ in range(8)]
    for sock in flood:
        with contextlib.suppress(OSError):  # the refused ones may be gone already
            sock.sendall(partial_message(1000))
    closed = wait_closed(flood, 5)
    assert sum(closed) == 5  # the three accepted ones stay, each holding a partial message
    assert len(b.manager.connections) == 3
    # another address is served, and a whole message goes through
    other = stream_from("127.0.0.2", address)
    other.sendall(request_bytes("TCP", "127.0.0.2", 5060))
    message, source, _ = b.receive()
    assert isinstance(message, SIPRequest) and source.host == "127.0.0.2"
    # a refused address gets its connections back as the old ones end
    for sock, gone in zip(flood, closed, strict=True):
        if not gone:
            sock.close()
    with gevent.Timeout(5):
        while len(b.manager.connections) > 1:
            gevent.sleep(0.02)
    again = stream_from("127.0.0.1", address)
    again.sendall(request_bytes("TCP", "127.0.0.1", 5060))
    assert isinstance(b.receive()[0], SIPRequest)
    for sock in (*flood, other, again):
        sock.close()


def test_partial_messages_share_one_buffer_budget(endpoint: Callable[..., Endpoint]) -> None:
    budget = 200_000
    b = endpoint(udp_port=None, max_buffered_bytes=budget)
    address = b.address("TCP")
    socks = [stream_from("127.0.0.1", address) for _ in range(6)]
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.sendall(partial_message(80_000))
    # three partial messages of 80 kB do not fit in 200 kB: at most two are held
    closed = wait_closed(socks, 4)
    assert sum(closed) >= 4 and len(b.manager.connections) <= 2
    reasons = [b.closed.get(timeout=3)[1] for _ in range(sum(closed))]
    assert set(reasons) == {"too many bytes buffered (all connections)"}
    # whole messages still pass: they are not held
    sock = stream_from("127.0.0.2", address)
    sock.sendall(request_bytes("TCP", "127.0.0.2", 5060, body="y" * 50_000))
    assert isinstance(b.receive()[0], SIPRequest)
    for each in (*socks, sock):
        each.close()


def test_a_message_must_arrive_within_its_deadline(endpoint: Callable[..., Endpoint]) -> None:
    b = endpoint(udp_port=None, message_timeout=0.5)
    sock = raw_stream(b.address("TCP"))
    sock.sendall(b"OPTIONS sip:bob@example.com SIP/2.0\r\n")
    for _ in range(500):  # a header line now and then: traffic, but no message
        if peer_closed(sock):
            break
        sock.sendall(b"X-Slow: a\r\n")
        gevent.sleep(0.05)
    else:
        pytest.fail("the trickled message was never given up")
    _, reason = b.closed.get(timeout=3)
    assert reason == "message too slow" and b.inbox.empty()
    # headers in full, the body never: the deadline holds too (nothing is buffered)
    sock = raw_stream(b.address("TCP"))
    sock.sendall(partial_message(0, body_length=10))
    _, reason = b.closed.get(timeout=10)
    assert reason == "message too slow" and b.inbox.empty()
    # messages that arrive in time are not affected
    sock = raw_stream(b.address("TCP"))
    sock.sendall(request_bytes("TCP", "127.0.0.1", 5060))
    assert isinstance(b.receive()[0], SIPRequest)
    sock.close()


def test_keepalives_do_not_hold_a_peers_connection_open(
    endpoint: Callable[..., Endpoint],
) -> None:
    b = endpoint(udp_port=None, idle_timeout=0.5)
    sock = raw_stream(b.address("TCP"))
    for _ in range(500):
        if drained_and_closed(sock):  # the pongs read, then the end of the stream?
            break
        with contextlib.suppress(OSError):
            sock.sendall(b"\r\n\r\n")
        gevent.sleep(0.05)
    else:
        pytest.fail("keep-alives held the connection open")
    _, reason = b.closed.get(timeout=3)
    assert reason == "idle"


def drained_and_closed(sock: gsocket.socket) -> bool:
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)
