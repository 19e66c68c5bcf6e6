"""An MSRP endpoint session, two of them wired back to back through bytes (no sockets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msrp_strategies import ALICE, BOB, RFC_NICKNAME, nicknames

from sipsimple_services.msrp.protocol.chunking import CHAT, FILE
from sipsimple_services.msrp.protocol.errors import MSRPError, MSRPParseError
from sipsimple_services.msrp.protocol.headers import ByteRange, FailureReport
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse
from sipsimple_services.msrp.protocol.parser import Limits, parse_messages
from sipsimple_services.msrp.protocol.reports import ReportReceived
from sipsimple_services.msrp.protocol.session import (
    ChunkReceived,
    DeliveryFailed,
    IncomingData,
    MessageAborted,
    MessageDelivered,
    MessageReceived,
    MSRPSession,
    NicknameAnswered,
    NicknameRequested,
    RequestRejected,
    ResponseUnmatched,
    SessionEvent,
    StreamBroken,
)
from sipsimple_services.msrp.protocol.uri import parse_uri

OTHER = "msrp://bob.example.com:8888/other;tcp"


def pair(**bob_options: object) -> tuple[MSRPSession, MSRPSession]:
    alice = MSRPSession(parse_uri(ALICE), (parse_uri(BOB),), chunk_size=1000)
    bob = MSRPSession(parse_uri(BOB), (parse_uri(ALICE),), **bob_options)  # type: ignore[arg-type]
    return alice, bob


def wire(pieces: list[bytes | memoryview]) -> bytes:
    return b"".join(bytes(piece) for piece in pieces)


def pump(alice: MSRPSession, bob: MSRPSession, now: float = 0.0,
         ) -> tuple[list[SessionEvent], list[SessionEvent], list[bytes]]:
    """Exchange bytes until both are quiet; the events of each and what alice wrote."""
    alice_events: list[SessionEvent] = []
    bob_events: list[SessionEvent] = []
    sent: list[bytes] = []
    while True:
        to_bob = wire(alice.outgoing(now))
        to_alice = wire(bob.outgoing(now))
        if not to_bob and not to_alice:
            return alice_events, bob_events, sent
        sent.append(to_bob)
        bob_events += bob.receive(to_bob, now)
        alice_events += alice.receive(to_alice, now)


def test_chat_message_delivered() -> None:
    alice, bob = pair()
    mid = alice.send_message("text/plain", b"Hey Bob, are you there?")
    alice_events, bob_events, _ = pump(alice, bob)
    assert bob_events == [MessageReceived(mid, "text/plain", bob_events[0].headers,  # type: ignore[union-attr]
                                          b"Hey Bob, are you there?", 23)]
    assert alice_events == [MessageDelivered(mid)]
    assert alice.next_deadline() is None


def test_chat_message_goes_between_chunks_of_a_file() -> None:
    alice, bob = pair(stream_types=("application/*",))
    data = bytes(range(256)) * 20  # 5120 bytes: 6 chunks of 1000
    file_id = alice.send_message("application/octet-stream", data, priority=FILE)
    first = wire(alice.outgoing(0.0))
    bob_events = bob.receive(first, 0.0)
    chat_id = alice.send_message("text/plain", b"hi")
    second = wire(alice.outgoing(0.0))
    (request,) = parse_messages(second)
    assert isinstance(request, MSRPRequest) and request.message_id == chat_id
    bob_events += bob.receive(second, 0.0)
    alice_events, more, _ = pump(alice, bob)
    bob_events += more
    received = [e for e in bob_events if isinstance(e, MessageReceived)]
    assert [e.message_id for e in received] == [chat_id, file_id]
    assert received[1].body is None and received[1].size == len(data)
    pieces = [e for e in bob_events if isinstance(e, IncomingData)]
    rebuilt = bytearray(len(data))
    for piece in pieces:
        rebuilt[piece.offset : piece.offset + len(piece.data)] = piece.data
    assert rebuilt == data
    assert [e.received for e in bob_events if isinstance(e, ChunkReceived)] == [
        1000, 2000, 3000, 4000, 5000]
    assert set(alice_events) == {MessageDelivered(chat_id), MessageDelivered(file_id)}


def test_success_report_and_failure_report_no() -> None:
    alice, bob = pair()
    mid = alice.send_message("text/plain", b"x" * 10, success_report=True,
                             failure_report=FailureReport.NO)
    to_bob = wire(alice.outgoing(0.0))
    assert b"Success-Report: yes\r\nFailure-Report: no\r\n" in to_bob
    assert alice.next_deadline() is None  # no response will come
    bob.receive(to_bob, 0.0)
    (report,) = parse_messages(wire(bob.outgoing(0.0)))  # the REPORT, no 200
    assert isinstance(report, MSRPRequest) and report.method == "REPORT"
    assert report.header("Byte-Range") == "1-10/10" and report.header("Status") == "000 200 OK"
    events = alice.receive(bytes(report), 0.0)
    assert [type(e) for e in events] == [ReportReceived]
    assert events[0].message_id == mid and events[0].success  # type: ignore[union-attr]
    assert alice.outgoing(0.0) == []  # a REPORT is never answered


def test_failure_report_partial_answers_only_errors() -> None:
    alice, bob = pair(accept_types=("text/*",))
    alice.send_message("text/plain", b"ok", failure_report=FailureReport.PARTIAL)
    bob.receive(wire(alice.outgoing(0.0)), 0.0)
    assert bob.outgoing(0.0) == []
    alice.send_message("image/png", b"no", failure_report=FailureReport.PARTIAL)
    bob.receive(wire(alice.outgoing(0.0)), 0.0)
    (response,) = parse_messages(wire(bob.outgoing(0.0)))
    assert isinstance(response, MSRPResponse) and response.code == 415


def answers(bob: MSRPSession, request: bytes) -> tuple[list[SessionEvent], list[object]]:
    events = bob.receive(request, 0.0)
    return events, parse_messages(wire(bob.outgoing(0.0)))


def test_wrong_session_unknown_method_and_refused_type() -> None:
    _, bob = pair(accept_types=("text/plain", "message/cpim"))
    base = MSRPRequest("tid00001", "SEND", (("To-Path", BOB), ("From-Path", ALICE),
                                            ("Message-ID", "m1234567"),
                                            ("Content-Type", "text/plain")), b"x")
    cases = [
        (base.with_headers([("To-Path", OTHER), *base.headers[1:]]), 481),
        (MSRPRequest("tid00002", "AUTH", base.headers[:2]), 501),
        (MSRPRequest("tid00003", "FOO", base.headers[:2]), 501),
        (base.with_headers([*base.headers[:3], ("Content-Type", "image/png")]), 415),
        (base.with_headers([*base.headers[:2], ("Content-Type", "text/plain")]), 400),
    ]
    for request, code in cases:
        events, (response,) = answers(bob, bytes(request))
        assert isinstance(response, MSRPResponse) and response.code == code
        assert response.transaction_id == request.transaction_id
        assert response.to_path == (parse_uri(ALICE),)
        assert events == [RequestRejected(request.transaction_id, code, events[0].reason)]  # type: ignore[union-attr]


def test_malformed_request_gets_400_when_its_from_path_parsed() -> None:
    _, bob = pair()
    bad = (b"MSRP tid00001 SEND\r\nTo-Path: " + BOB.encode() + b"\r\nFrom-Path: "
           + ALICE.encode() + b"\r\nMessage-ID: m1234567\r\nByte-Range: bogus\r\n"
           b"-------tid00001$\r\n")
    events, (response,) = answers(bob, bad)
    assert isinstance(response, MSRPResponse) and response.code == 400
    assert isinstance(events[0], RequestRejected) and events[0].code == 400
    unanswerable = bad.replace(b"From-Path: msrp", b"From-Path: sip")
    events, out = answers(bob, unanswerable)
    assert out == [] and isinstance(events[0], RequestRejected) and events[0].code is None


def test_message_over_the_limit_gets_413() -> None:
    alice, bob = pair(max_message_bytes=100)
    mid = alice.send_message("text/plain", b"x" * 101)
    alice_events, bob_events, _ = pump(alice, bob)
    assert MessageAborted(mid, 413) in bob_events
    assert alice_events == [DeliveryFailed(mid, 413, "Message Too Large", False)]


def test_negative_response_stops_the_rest_of_the_message() -> None:
    alice, bob = pair(max_message_bytes=1500)
    mid = alice.send_message("text/plain", b"x" * 5000)
    alice_events, _, sent = pump(alice, bob)
    assert alice_events == [DeliveryFailed(mid, 413, "Message Too Large", False)]
    flags = [m.continuation for chunk in sent for m in parse_messages(chunk)
             if isinstance(m, MSRPRequest)]
    assert flags[-1] == "#" and len(flags) < 6


def test_sender_abort_reaches_the_receiver() -> None:
    alice, bob = pair()
    mid = alice.send_message("application/octet-stream", b"y" * 3000, priority=FILE)
    bob.receive(wire(alice.outgoing(0.0)), 0.0)
    alice.abort(mid)
    events = bob.receive(wire(alice.outgoing(0.0)), 0.0)
    assert events == [MessageAborted(mid, None)]


def test_no_response_gives_a_local_408() -> None:
    alice, _ = pair()
    mid = alice.send_message("text/plain", b"hello")
    alice.outgoing(10.0)
    deadline = alice.next_deadline()
    assert deadline == 40.0
    assert alice.tick(39.0) == []
    assert alice.tick(deadline) == [DeliveryFailed(mid, 408, "Request Timeout", True)]
    assert alice.next_deadline() is None


def test_close_fails_what_is_outstanding() -> None:
    alice, _ = pair()
    mid = alice.send_message("text/plain", b"hello")
    alice.outgoing(0.0)
    assert alice.close() == [DeliveryFailed(mid, 408, "Request Timeout", True)]


def test_keepalive_is_an_empty_send() -> None:
    alice = MSRPSession(parse_uri(ALICE), (parse_uri(BOB),), keepalive_interval=15)
    _, bob = pair()
    alice.send_message("text/plain", b"hi")
    bob.receive(wire(alice.outgoing(0.0)), 0.0)
    alice.receive(wire(bob.outgoing(0.0)), 0.0)
    assert alice.next_deadline() == 15.0
    assert alice.tick(15.0) == []
    (keepalive,) = parse_messages(wire(alice.outgoing(15.0)))
    assert isinstance(keepalive, MSRPRequest) and keepalive.body is None
    assert keepalive.header("Byte-Range") == "1-0/0"
    assert bob.receive(bytes(keepalive), 15.0) == []  # no message for the user
    (response,) = parse_messages(wire(bob.outgoing(15.0)))
    assert isinstance(response, MSRPResponse) and response.code == 200
    assert alice.receive(bytes(response), 15.0) == []
    alice.keepalive()
    alice.outgoing(16.0)
    failed = alice.tick(46.0)
    assert len(failed) == 1 and isinstance(failed[0], DeliveryFailed)
    assert failed[0].code == 408


def test_garbage_breaks_the_stream() -> None:
    _, bob = pair()
    assert bob.receive(b"GET / HTTP/1.1\r\n\r\n", 0.0) == [
        StreamBroken("invalid MSRP first line b'GET / HTTP/1.1'")]


def test_duplicate_chunk_is_answered_but_not_delivered_twice() -> None:
    alice, bob = pair()
    alice.send_message("text/plain", b"once")
    chunk = wire(alice.outgoing(0.0))
    first = bob.receive(chunk, 0.0)
    again = bob.receive(chunk, 0.0)
    assert [type(e) for e in first] == [MessageReceived] and again == []
    responses = parse_messages(wire(bob.outgoing(0.0)))
    assert [r.code for r in responses] == [200, 200]  # type: ignore[union-attr]


def test_failure_report_partial_times_out_silently() -> None:
    alice, _ = pair()
    alice.send_message("text/plain", b"quiet", failure_report=FailureReport.PARTIAL)
    alice.outgoing(0.0)
    assert alice.next_deadline() == 30.0  # a negative response may still come
    assert alice.tick(30.0) == [] and alice.next_deadline() is None


def test_chunk_over_the_parser_limit_gets_413() -> None:
    alice = MSRPSession(parse_uri(ALICE), (parse_uri(BOB),), chunk_size=10_000)
    bob = MSRPSession(parse_uri(BOB), (parse_uri(ALICE),), limits=Limits(max_chunk_bytes=500),
                      stream_types=("application/*",))
    mid = alice.send_message("application/octet-stream", b"z" * 2000, priority=FILE)
    alice_events, bob_events, _ = pump(alice, bob)
    assert MessageAborted(mid, 413) in bob_events
    assert sum(len(e.data) for e in bob_events if isinstance(e, IncomingData)) <= 500
    assert alice_events == [DeliveryFailed(mid, 413, "Message Too Large", False)]


@given(st.lists(st.tuples(st.binary(max_size=2000), st.sampled_from([CHAT, FILE])),
                min_size=1, max_size=5),
       st.integers(1, 700), st.integers(1, 5000))
def test_any_messages_chunk_sizes_and_reads_arrive_whole(
    messages: list[tuple[bytes, int]], chunk_size: int, read_size: int
) -> None:
    alice = MSRPSession(parse_uri(ALICE), (parse_uri(BOB),), chunk_size=chunk_size)
    bob = MSRPSession(parse_uri(BOB), (parse_uri(ALICE),))
    sent = {alice.send_message("text/plain", data, priority=priority): data
            for data, priority in messages}
    received: dict[str, bytes | None] = {}
    delivered: set[str] = set()
    while True:
        to_bob = wire(alice.outgoing(0.0))
        for start in range(0, len(to_bob), read_size):
            for event in bob.receive(to_bob[start : start + read_size], 0.0):
                if isinstance(event, MessageReceived):
                    received[event.message_id] = event.body
        to_alice = wire(bob.outgoing(0.0))
        for event in alice.receive(to_alice, 0.0):
            if isinstance(event, MessageDelivered):
                delivered.add(event.message_id)
        if not to_bob and not to_alice:
            break
    assert received == sent and delivered == set(sent)


def test_a_resumed_file_starts_at_its_offset_and_completes_with_the_rest() -> None:
    # RFC 5547 8.2: bob kept the first 2500 bytes; alice sends from there.
    alice, bob = pair(stream_types=("application/*",))
    data = bytes(range(256)) * 20
    bob.resume_next(2500)
    file_id = alice.start_message("application/octet-stream", total=len(data), offset=2500,
                                  priority=FILE)
    alice.supply(file_id, data[2500:], final=True)
    alice_events, bob_events, sent = pump(alice, bob)
    (first, *_) = parse_messages(sent[0])
    assert isinstance(first, MSRPRequest) and first.byte_range == ByteRange(2501, 3500, 5120)
    pieces = [e for e in bob_events if isinstance(e, IncomingData)]
    assert pieces[0].offset == 2500
    assert b"".join(bytes(p.data) for p in pieces) == data[2500:]
    received = [e for e in bob_events if isinstance(e, MessageReceived)]
    assert [(e.message_id, e.size) for e in received] == [(file_id, 5120)]
    assert MessageDelivered(file_id) in alice_events
    # the resume is used once: the next file starts from nothing
    other = alice.send_message("application/octet-stream", b"x" * 10, priority=FILE)
    _, bob_events, _ = pump(alice, bob)
    assert [(e.message_id, e.size) for e in bob_events if isinstance(e, MessageReceived)] == [
        (other, 10)]


def test_the_response_to_a_request_of_the_caller_is_handed_out() -> None:
    """The connection layer's own AUTH (RFC 4976 refresh) gets its response this way;
    a response nobody awaits is dropped."""
    alice, _ = pair()
    response = MSRPResponse("relayauth01", 200, "OK",
                            (("To-Path", ALICE), ("From-Path", BOB)))
    assert alice.receive(bytes(response), 0.0) == []
    alice.expect_response("relayauth01")
    assert alice.receive(bytes(response), 0.0) == [ResponseUnmatched(response)]
    assert alice.receive(bytes(response), 0.0) == []  # once


@given(nicknames, st.sampled_from([200, 403, 424, 425]))
def test_nickname_asked_and_answered_by_the_caller(nickname: str, code: int) -> None:
    alice, bob = pair()
    tid = alice.send_nickname(nickname)
    alice_events, bob_events, sent = pump(alice, bob)
    (request,) = parse_messages(sent[0])
    assert isinstance(request, MSRPRequest) and request.method == "NICKNAME"
    assert request.use_nickname == nickname and request.body is None
    assert bob_events == [NicknameRequested(tid, nickname)] and alice_events == []
    assert alice.next_deadline() is not None  # the answer is awaited
    bob.answer_nickname(tid, code)
    alice_events, bob_events, _ = pump(alice, bob)
    assert alice_events == [NicknameAnswered(tid, code, alice_events[0].comment, False)]  # type: ignore[union-attr]
    assert bob_events == [] and alice.next_deadline() is None
    with pytest.raises(MSRPError):  # answered once
        bob.answer_nickname(tid, 200)


def test_nickname_unanswered_gives_a_local_408_and_close_too() -> None:
    alice, bob = pair()
    tid = alice.send_nickname("Al", transaction_id="nick0001")
    assert tid == "nick0001"
    with pytest.raises(MSRPError):  # still awaited
        alice.send_nickname("Al", transaction_id="nick0001")
    pump(alice, bob)
    deadline = alice.next_deadline()
    assert deadline is not None
    assert alice.tick(deadline + 0.1) == [NicknameAnswered(tid, 408, "Request Timeout", True)]
    other = alice.send_nickname("Bo")
    alice.outgoing(100.0)
    assert alice.close() == [NicknameAnswered(other, 408, "Request Timeout", True)]
    with pytest.raises(MSRPParseError):
        alice.send_nickname("two\r\nlines")


def test_nickname_requests_the_session_answers_itself() -> None:
    _, bob = pair()
    events, (response,) = answers(bob, RFC_NICKNAME.replace(BOB.encode(), OTHER.encode(), 1))
    assert isinstance(response, MSRPResponse) and response.code == 481
    missing = RFC_NICKNAME.replace(b'Use-Nickname: "Alice the great"\r\n', b"")
    events, (response,) = answers(bob, missing)
    assert isinstance(response, MSRPResponse) and response.code == 424
    malformed = RFC_NICKNAME.replace(b'"Alice the great"', b"Alice")
    events, (response,) = answers(bob, malformed)
    assert isinstance(response, MSRPResponse) and response.code == 424
    assert isinstance(events[0], RequestRejected) and events[0].code == 424
    for index in range(16):  # unanswered ones pile up to a bound, then 403
        request = RFC_NICKNAME.replace(b"dd3a8hjw", f"nick{index:04d}".encode())
        assert bob.receive(request, 0.0) == [
            NicknameRequested(f"nick{index:04d}", "Alice the great")]
    events, (response,) = answers(bob, RFC_NICKNAME)
    assert isinstance(response, MSRPResponse) and response.code == 403
    bob.answer_nickname("nick0003", 425)
    (response,) = parse_messages(wire(bob.outgoing(0.0)))
    assert isinstance(response, MSRPResponse) and (response.code, response.transaction_id) == (
        425, "nick0003")
    assert response.comment == "Nickname Reserved or Already in Use"


def test_a_large_chunk_gets_the_longest_transaction_id() -> None:
    # The end-line search through a large body (both ends) skips ahead by up to the
    # end-line's length: a large chunk's transaction id is as long as an ident goes.
    alice = MSRPSession(parse_uri(ALICE), (parse_uri(BOB),), chunk_size=128 * 1024)
    alice.send_message("application/octet-stream", b"x" * (128 * 1024 + 100))
    requests = [m for m in parse_messages(wire(alice.outgoing(0.0)) + wire(alice.outgoing(0.0)))
                if isinstance(m, MSRPRequest)]
    assert [len(r.body or b"") for r in requests] == [128 * 1024, 100]
    assert [len(r.transaction_id) for r in requests] == [32, 16]
