"""Connection on a socketpair: delivery, pong, 400 on a bad message, close on a broken stream."""

from __future__ import annotations

from collections.abc import Iterator

import gevent.queue
import pytest
from gevent import socket as gsocket
from harness.loopback import HOSTS

from sipsimple.core import SIPParseError
from sipsimple_services.signalling.sip.message.parser import DEFAULT_LIMITS, Limits, parse_message
from sipsimple_services.signalling.sip.message.values import PartialMessage, SIPRequest
from sipsimple_services.signalling.transport import TransportAddress, TransportError
from sipsimple_services.signalling.transport.connection import Connection, error_response

REQUEST = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n\r\n"
)
REMOTE = TransportAddress("10.0.0.1", 5060, "TCP")


class Pair:
    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        ours, self.peer = gsocket.socketpair()
        self.peer.settimeout(3)
        self.messages: gevent.queue.Queue = gevent.queue.Queue()
        self.closed: gevent.queue.Queue = gevent.queue.Queue()
        self.connection = Connection(
            7, ours, REMOTE, outbound=False, limits=limits,
            deliver=lambda message, connection: self.messages.put((message, connection.id)),
            closed=lambda connection, reason: self.closed.put(reason),
        )
        self.connection.start()


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = Pair()
    yield made
    made.connection.close("test over")
    made.peer.close()


@pytest.mark.parametrize("host", HOSTS)
def test_a_connection_knows_its_local_address(host: str) -> None:
    # what the manager checks the host still has (tests/test_signalling_transport_lab.py)
    family = gsocket.AF_INET6 if ":" in host else gsocket.AF_INET
    with gsocket.socket(family, gsocket.SOCK_STREAM) as listener:
        listener.bind((host, 0))
        listener.listen(1)
        ours = gsocket.create_connection(listener.getsockname()[:2], timeout=3)
        peer, _ = listener.accept()
    connection = Connection(1, ours, TransportAddress(host, 5060, "TCP"), outbound=True,
                            limits=DEFAULT_LIMITS, deliver=lambda *_: None,
                            closed=lambda *_: None)
    assert connection.local_ip == host == ours.getsockname()[0]
    connection.close("test over")
    peer.close()


def test_a_socket_without_an_ip_address_has_no_local_ip(pair: Pair) -> None:
    assert pair.connection.local_ip is None  # a unix socketpair: nothing to check


def test_messages_split_across_reads_are_delivered(pair: Pair) -> None:
    pair.peer.sendall(REQUEST[:30])
    gevent.sleep(0.01)
    pair.peer.sendall(REQUEST[30:] + REQUEST)
    for _ in range(2):
        message, cid = pair.messages.get(timeout=3)
        assert isinstance(message, SIPRequest) and cid == 7


def test_ping_gets_pong_and_send_writes(pair: Pair) -> None:
    pair.peer.sendall(b"\r\n\r\n")
    assert pair.peer.recv(16) == b"\r\n"
    pair.connection.send(b"hello")
    assert pair.peer.recv(16) == b"hello"
    assert pair.connection.key == ("TCP", "10.0.0.1", 5060, "")


def test_bad_message_gets_400_and_parsing_goes_on(pair: Pair) -> None:
    pair.peer.sendall(REQUEST.replace(b"Max-Forwards: 70", b"Max-Forwards: many") + REQUEST)
    answer = parse_message(pair.peer.recv(65536))
    assert getattr(answer, "code", None) == 400
    assert isinstance(pair.messages.get(timeout=3)[0], SIPRequest)


def test_lost_framing_closes(pair: Pair) -> None:
    pair.peer.sendall(REQUEST.replace(b"Content-Length: 0\r\n", b""))
    # Without Content-Length the headers still allow a 400, then the stream is closed.
    data = pair.peer.recv(65536)
    assert data.startswith(b"SIP/2.0 400 ")
    assert pair.closed.get(timeout=3) == "parse error"
    assert pair.connection.is_closed
    with pytest.raises(TransportError, match="connection closed"):
        pair.connection.send(b"late")


def test_peer_close_is_reported_once(pair: Pair) -> None:
    pair.peer.close()
    assert pair.closed.get(timeout=3) == "closed by peer"
    pair.connection.close("again")
    assert pair.closed.empty()


def test_error_response() -> None:
    assert error_response(SIPParseError("no partial")) is None
    response_only = PartialMessage(is_request=False, code=200)
    assert error_response(SIPParseError("x", partial=response_only)) is None
    try:
        parse_message(REQUEST.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1))
    except SIPParseError as exc:
        answer = error_response(exc)
    assert answer is not None and answer.startswith(b"SIP/2.0 505 ")


@pytest.mark.parametrize(
    ("old", "new", "header"),
    [
        (b"CSeq: 1 OPTIONS", b"CSeq: notanumber OPTIONS", "CSeq"),
        (b"From: <sip:alice@example.com>;tag=1", b"From: Bell, A <sip:a@x>;tag=1", "From"),
        (b"To: <sip:bob@example.com>", b'To: "unbalanced <sip:bob@example.com>', "To"),
        (b"Call-ID: c1", b"Call-ID: two words", "Call-ID"),
        (b"Max-Forwards: 70", b"Max-Forwards: many", "Max-Forwards"),
    ],
)
def test_every_rejected_header_gets_a_400_whose_warning_names_it(
    old: bytes, new: bytes, header: str
) -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(REQUEST.replace(old, new, 1))
    answer = error_response(info.value)
    assert answer is not None
    head = answer.split(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "SIP/2.0 400 Bad Request"
    if header != "Max-Forwards":  # a header a response copies is copied as it came
        assert new.decode() in lines
    assert any(line.startswith(f'Warning: 399 sipsimple "{header}: ') for line in lines)
    if header != "To":
        to = next(line for line in lines if line.startswith("To: "))
        assert ";tag=" in to  # a stateless final answer gets a To tag


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1", b"Via: SIP/2.0/TCP ;;,"),
        (b"CSeq: 1 OPTIONS\r\n", b""),  # nothing to copy: a response would be invalid
        (b"OPTIONS sip:bob@example.com SIP/2.0", b"ACK sip:bob@example.com SIP/2.0"),
        (b"OPTIONS sip:bob@example.com SIP/2.0", b"ACK sip:bob@example.com  SIP/2.0"),
    ],
)
def test_what_cannot_be_answered_is_dropped(old: bytes, new: bytes) -> None:
    request = REQUEST.replace(old, new, 1)
    if old.startswith(b"OPTIONS"):  # an ACK never gets an answer, even with a bad CSeq
        request = request.replace(b"CSeq: 1 OPTIONS", b"CSeq: x ACK")
    with pytest.raises(SIPParseError) as info:
        parse_message(request)
    assert error_response(info.value) is None


def test_a_bad_request_line_is_answered_by_its_method() -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(REQUEST.replace(b"OPTIONS sip:bob@example.com SIP/2.0",
                                      b"OPTIONS <sip:bob@example.com> SIP/2.0", 1))
    answer = error_response(info.value)
    assert answer is not None and answer.startswith(b"SIP/2.0 400 Bad Request\r\n")
