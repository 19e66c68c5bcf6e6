"""Hostile and broken peers against the msrp service process (issue 14's list).

A raw socket binds a session of the service as its peer, then sends a chunk
cut short, Byte-Ranges that overlap with other bytes, pass the total or
change it, a 10 MB header line, or stops answering. Each gets a clear
failure (an error response, a local 408, or its session failed with the
reason), nothing of it is delivered, and a pair of sessions on the same
listener keeps talking. A failure REPORT (a relay's) fails the message it
names.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from harness.msrp import call, of, start_msrp_service
from harness.msrp import pair as connected_pair
from harness.notifications import Recorder

from sipsimple.bus.client import BusClient

pytestmark = pytest.mark.integration

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def bus(spawn_service: Callable[..., Any]) -> BusClient:
    # a response waits 5 s, not 30, so that a silent peer's 408 comes soon
    return start_msrp_service(spawn_service, SIPSIMPLE_CLIENT_TIMEOUT="2",
                              SIPSIMPLE_MSRP_RESPONSE_TIMEOUT="5")


class Peer:
    """A raw TCP peer bound to a passive session of the service."""

    def __init__(self, bus: BusClient, events: Recorder, name: str) -> None:
        self.session = call(bus, "create_session", address="127.0.0.1")
        self.id = self.session["session_id"]
        self.path = f"msrp://127.0.0.1:9/{name};tcp"
        call(bus, "start_session", session_id=self.id, remote_path=[self.path], active=False)
        self.sock = socket.create_connection(("127.0.0.1", self.session["port"]))
        self.sock.settimeout(30)
        self.sock.sendall(self.request("bind0001", "bind0001", "1-0/0", None))
        events.wait(of(self.id, "msrp.session_started"))
        self.buffer = b""
        assert self.responses(1) == {"bind0001": 200}

    def request(self, tid: str, message_id: str, byte_range: str, body: bytes | None,
                flag: str = "$") -> bytes:
        head = (f"MSRP {tid} SEND\r\nTo-Path: {self.session['path']}\r\n"
                f"From-Path: {self.path}\r\nMessage-ID: {message_id}\r\n"
                f"Byte-Range: {byte_range}\r\n")
        if body is None:
            return f"{head}-------{tid}{flag}\r\n".encode()
        return (f"{head}Content-Type: text/plain\r\n\r\n".encode() + body
                + f"\r\n-------{tid}{flag}\r\n".encode())

    def responses(self, count: int) -> dict[str, int]:
        """The next `count` responses the service sent: transaction id -> code."""
        found: dict[str, int] = {}
        while len(found) < count:
            for match in re.finditer(rb"MSRP (\S+) (\d{3})[^\r\n]*\r\n", self.buffer):
                found[match[1].decode()] = int(match[2])
            if len(found) >= count:
                break
            data = self.sock.recv(65536)
            assert data, f"closed after {found}"
            self.buffer += data
        self.buffer = b""
        return found

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def pair(bus: BusClient, events: Recorder) -> Iterator[tuple[str, str]]:
    """Two sessions of the service talking to each other over its listener."""
    a, b = connected_pair(bus, events)
    yield a["session_id"], b["session_id"]


def still_talking(bus: BusClient, events: Recorder, pair: tuple[str, str], text: bytes) -> None:
    a, b = pair
    call(bus, "send_message", session_id=a, content_type="text/plain", body=text,
         success_report=True)
    events.wait(lambda n: of(b, "msrp.message_received")(n) and n.data.body == text)
    events.wait(of(a, "msrp.message_delivered"))
    assert not [n for n in events.seen if n.name in ("msrp.session_failed", "msrp.session_ended")
                and n.data.session_id in pair]


def received(events: Recorder, session_id: str) -> list[bytes]:
    return [n.data.body for n in events.seen if of(session_id, "msrp.message_received")(n)]


def test_a_chunk_cut_short_fails_its_session_only(bus: BusClient, events: Recorder,
                                                  pair: tuple[str, str]) -> None:
    peer = Peer(bus, events, "cutshort")
    whole = peer.request("cut00001", "msgcut01", "1-20/20", b"twenty bytes of text")
    peer.sock.sendall(whole[: whole.index(b"bytes")])  # head and half the body
    peer.close()
    failed = events.wait(of(peer.id, "msrp.session_failed"))
    assert failed.data.reason == "the peer closed the connection"
    assert received(events, peer.id) == []
    still_talking(bus, events, pair, b"after a cut chunk")


def test_wrong_byte_ranges_are_refused_and_the_session_goes_on(
        bus: BusClient, events: Recorder, pair: tuple[str, str]) -> None:
    peer = Peer(bus, events, "ranges")
    # overlapping ranges that disagree on bytes 4-6
    peer.sock.sendall(peer.request("ovl00001", "msgovl01", "1-6/10", b"abcdef", "+"))
    peer.sock.sendall(peer.request("ovl00002", "msgovl01", "4-10/10", b"DEFghij"))
    # bytes past the total; a total that changes
    peer.sock.sendall(peer.request("past0001", "msgpast1", "1-20/10", b"x" * 20))
    peer.sock.sendall(peer.request("tot00001", "msgtot01", "1-3/10", b"abc", "+"))
    peer.sock.sendall(peer.request("tot00002", "msgtot01", "4-6/12", b"def", "+"))
    assert peer.responses(5) == {"ovl00001": 200, "ovl00002": 400, "past0001": 400,
                                 "tot00001": 200, "tot00002": 400}
    # a resent chunk with the same bytes is no error: this one completes
    peer.sock.sendall(peer.request("dup00001", "msgdup01", "1-6/10", b"abcdef", "+"))
    peer.sock.sendall(peer.request("dup00002", "msgdup01", "4-10/10", b"defghij"))
    assert peer.responses(2) == {"dup00001": 200, "dup00002": 200}
    events.wait(lambda n: of(peer.id, "msrp.message_received")(n)
                and n.data.message_id == "msgdup01")
    assert received(events, peer.id) == [b"abcdefghij"]  # none of the wrong ones
    assert not [n for n in events.seen if of(peer.id, "msrp.session_failed")(n)]
    still_talking(bus, events, pair, b"after wrong ranges")
    peer.close()


def test_a_ten_megabyte_header_line_fails_its_session_only(
        bus: BusClient, events: Recorder, pair: tuple[str, str]) -> None:
    peer = Peer(bus, events, "hugehead")
    head = (f"MSRP huge0001 SEND\r\nTo-Path: {peer.session['path']}\r\n"
            f"From-Path: {peer.path}\r\nMessage-ID: msghuge1\r\nX-Huge: ").encode()
    with contextlib.suppress(OSError):  # the service may close before it all went
        peer.sock.sendall(head + b"a" * TEN_MB + b"\r\n\r\n-------huge0001$\r\n")
    failed = events.wait(of(peer.id, "msrp.session_failed"))
    assert "broken" in failed.data.reason and "head" in failed.data.reason
    with contextlib.suppress(OSError):  # closed by the service (or reset)
        while peer.sock.recv(65536):
            pass
    assert received(events, peer.id) == []
    still_talking(bus, events, pair, b"after a huge header")
    peer.close()


def test_a_peer_that_stops_answering_gets_a_local_408(
        bus: BusClient, events: Recorder) -> None:
    peer = Peer(bus, events, "silent")
    sent = call(bus, "send_message", session_id=peer.id, content_type="text/plain",
                body=b"are you there?")
    data = b""
    while b"are you there?" not in data:
        chunk = peer.sock.recv(65536)
        assert chunk
        data += chunk
    failed = events.wait(of(peer.id, "msrp.message_failed"), timeout=60)
    assert failed.data.message_id == sent["message_id"] and failed.data.code == 408
    assert not [n for n in events.seen if of(peer.id, "msrp.message_delivered")(n)]
    peer.close()
    events.wait(of(peer.id, "msrp.session_failed"))


def test_a_failure_report_fails_the_message(bus: BusClient, events: Recorder) -> None:
    """A relay on the way reports that it could not deliver (RFC 4975 7.1.2, RFC 4976)."""
    peer = Peer(bus, events, "reporter")
    sent = call(bus, "send_message", session_id=peer.id, content_type="text/plain",
                body=b"through a relay", success_report=True)
    data = b""
    while b"-------" not in data or b"through a relay" not in data:
        chunk = peer.sock.recv(65536)
        assert chunk
        data += chunk
    tid = re.match(rb"MSRP (\S+) SEND", data)
    assert tid is not None
    peer.sock.sendall(
        f"MSRP {tid[1].decode()} 200 OK\r\nTo-Path: {peer.session['path']}\r\n"
        f"From-Path: {peer.path}\r\n-------{tid[1].decode()}$\r\n"
        f"MSRP rep00001 REPORT\r\nTo-Path: {peer.session['path']}\r\n"
        f"From-Path: {peer.path}\r\nMessage-ID: {sent['message_id']}\r\n"
        f"Byte-Range: 1-15/15\r\nStatus: 000 413 Too big for the next hop\r\n"
        f"-------rep00001$\r\n".encode())
    failed = events.wait(of(peer.id, "msrp.message_failed"))
    assert failed.data.message_id == sent["message_id"]
    assert (failed.data.code, failed.data.reason) == (413, "Too big for the next hop")
    assert not [n for n in events.seen if of(peer.id, "msrp.message_delivered")(n)]
    peer.close()
