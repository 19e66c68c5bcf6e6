"""MSRP connections go without Nagle's delay (TCP_NODELAY), both the ones a listener accepts
and the ones an endpoint makes, in this process over loopback: with Nagle, a response or
a chunk's end-line written after other bytes waited for the peer's delayed ACK (40 ms),
which put every chat message 40-60 ms behind. A chunk's head, body and end-line go out
in one sendmsg, whole and in order however little the kernel takes at a time."""

from __future__ import annotations

import socket
from typing import Any

import gevent
import gevent.event
import gevent.socket

from sipsimple_services.msrp.protocol.headers import FailureReport
from sipsimple_services.msrp.protocol.parser import (
    BodyData,
    ParseFailure,
    RequestEnded,
    RequestStarted,
    StreamParser,
)
from sipsimple_services.msrp.protocol.uri import MSRPURI
from sipsimple_services.msrp.transport.endpoint import Endpoint
from sipsimple_services.msrp.transport.listener import Listener


def nodelay(sock: Any) -> bool:
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


class Taker:
    """The session a listener hands its connection to (the listener's `Attachable`)."""

    def __init__(self) -> None:
        self.local_uri = MSRPURI("127.0.0.1", 1, "taker")
        self.taken = gevent.event.AsyncResult()

    def attach(self, sock: Any, data: bytes, peer: MSRPURI | None) -> bool:
        self.taken.set(nodelay(sock))  # asked here: the listener closes it once we return
        return True


def test_a_connection_the_listener_accepts_has_no_delay() -> None:
    taker = Taker()
    listener = Listener("127.0.0.1", 0, lambda session_id: taker)
    try:
        with gevent.socket.create_connection(("127.0.0.1", listener.port)) as peer:
            peer.sendall(b"MSRP tr01 SEND\r\nTo-Path: msrp://127.0.0.1:1/taker;tcp\r\n"
                         b"From-Path: msrp://127.0.0.1:9/peer;tcp\r\nMessage-ID: bind1\r\n"
                         b"Byte-Range: 1-0/0\r\n-------tr01$\r\n")
            assert taker.taken.get(timeout=10)
    finally:
        listener.close()


def test_a_connection_an_endpoint_makes_has_no_delay() -> None:
    server = gevent.socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    events: list[str] = []
    endpoint = Endpoint(MSRPURI("127.0.0.1", 1, "maker"), lambda name, data: events.append(name))
    try:
        peer = MSRPURI("127.0.0.1", server.getsockname()[1], "peer")
        endpoint.start((peer,), active=True)
        accepted, _ = server.accept()
        with accepted:
            assert accepted.recv(4096).startswith(b"MSRP ")  # the binding SEND
            assert endpoint.state == "connected" and nodelay(endpoint._sock)
    finally:
        endpoint.end("test over")
        server.close()


def test_chunks_written_in_pieces_arrive_whole_and_in_order() -> None:
    server = gevent.socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    endpoint = Endpoint(MSRPURI("127.0.0.1", 1, "maker"), lambda name, data: None)
    bodies = [bytes([n]) * (1536 * 1024 + n) for n in range(1, 4)]  # 2 chunks each
    try:
        peer = MSRPURI("127.0.0.1", server.getsockname()[1], "peer")
        endpoint.start((peer,), active=True)
        accepted, _ = server.accept()
        with accepted:
            # a small receive buffer: the kernel takes each chunk in pieces
            accepted.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
            sender = gevent.spawn(lambda: [endpoint.send_message(
                "application/octet-stream", body, None, False, FailureReport.NO)
                for body in bodies])
            parser = StreamParser()
            received: dict[str, bytearray] = {}
            message_ids: dict[str, str] = {}  # transaction id -> Message-ID
            last_chunks = 0
            while last_chunks < len(bodies):
                data = accepted.recv(7000)
                assert data
                for event in parser.feed(data):
                    if isinstance(event, RequestStarted) and event.has_body:
                        assert event.request.message_id is not None
                        message_ids[event.request.transaction_id] = event.request.message_id
                    elif isinstance(event, BodyData):
                        message_id = message_ids[event.transaction_id]
                        received.setdefault(message_id, bytearray()).extend(event.data)
                    elif isinstance(event, RequestEnded):
                        last_chunks += event.size > 0 and event.continuation == "$"
                    else:
                        assert not isinstance(event, ParseFailure), event
            sender.get(timeout=10)
        assert [bytes(body) for body in received.values()] == bodies
    finally:
        endpoint.end("test over")
        server.close()
