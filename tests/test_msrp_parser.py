"""The incremental MSRP parser: RFC 4975 examples, any split of a stream, limits, errors."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from msrp_strategies import (
    ALICE,
    BOB,
    RFC_RESPONSE,
    RFC_SEND,
    RFC_STREAM,
    messages,
)

from sipsimple_services.msrp.protocol.headers import ByteRange, FailureReport, Status
from sipsimple_services.msrp.protocol.message import MSRPRequest, MSRPResponse
from sipsimple_services.msrp.protocol.parser import (
    BodyData,
    Event,
    Limits,
    ParseFailure,
    RequestEnded,
    RequestStarted,
    ResponseReceived,
    StreamParser,
    collect,
    parse_messages,
)


def feed_all(data: bytes, cuts: list[int], limits: Limits | None = None) -> list[Event]:
    parser = StreamParser(limits) if limits else StreamParser()
    events: list[Event] = []
    last = 0
    for cut in sorted(set(cuts)):
        events += parser.feed(data[last:cut])
        last = cut
    events += parser.feed(data[last:])
    return events


def normal(events: list[Event]) -> list[object]:
    """Events with the body pieces joined, so that splits compare equal."""
    return list(collect(events))


def test_rfc_examples() -> None:
    parsed = parse_messages(RFC_STREAM)
    assert [type(item).__name__ for item in parsed] == [
        "MSRPRequest", "MSRPResponse", "MSRPRequest", "MSRPRequest", "MSRPRequest",
        "MSRPRequest", "MSRPRequest", "MSRPRequest"]
    send, response, first, second, report, reports, auth, nickname = parsed
    assert isinstance(send, MSRPRequest) and isinstance(response, MSRPResponse)
    assert send.body == b"Hey Bob, are you there?" and send.continuation == "$"
    assert send.message_id == "87652491" and send.to_path[0].port == 12763
    assert (response.code, response.comment, response.transaction_id) == (200, "OK", "a786hjs2")
    assert isinstance(first, MSRPRequest) and isinstance(second, MSRPRequest)
    assert (first.body, first.continuation, first.byte_range) == (
        b"abcd", "+", ByteRange(1, None, 8))
    assert (second.body, second.continuation, second.byte_range) == (
        b"EFGH", "$", ByteRange(5, 8, 8))
    assert isinstance(report, MSRPRequest) and report.method == "REPORT"
    assert report.body is None and report.status == Status(200, "OK")
    assert isinstance(reports, MSRPRequest)
    assert reports.success_report and reports.failure_report is FailureReport.NO
    assert isinstance(auth, MSRPRequest) and auth.method == "AUTH"
    assert auth.to_path[0].user == "alice" and auth.to_path[0].secure
    assert isinstance(nickname, MSRPRequest) and nickname.method == "NICKNAME"
    assert nickname.use_nickname == "Alice the great" and nickname.body is None


def test_rfc_examples_serialize_back_byte_for_byte() -> None:
    parsed = parse_messages(RFC_STREAM)
    assert b"".join(bytes(item) for item in parsed) == RFC_STREAM  # type: ignore[arg-type]


@given(st.lists(st.integers(0, len(RFC_STREAM)), max_size=12))
def test_any_split_gives_the_same_messages(cuts: list[int]) -> None:
    assert normal(feed_all(RFC_STREAM, cuts)) == parse_messages(RFC_STREAM)


@given(st.lists(messages, min_size=1, max_size=5), st.data())
def test_any_split_of_generated_messages(items: list[object], data: st.DataObject) -> None:
    stream = b"".join(bytes(item) for item in items)  # type: ignore[call-overload]
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert normal(feed_all(stream, cuts)) == items


def test_every_split_point_and_byte_by_byte() -> None:
    expected = parse_messages(RFC_STREAM)
    for cut in range(len(RFC_STREAM) + 1):
        assert normal(feed_all(RFC_STREAM, [cut])) == expected, cut
    assert normal(feed_all(RFC_STREAM, list(range(len(RFC_STREAM))))) == expected


def chunk(tid: str, body: bytes, flag: str = "$") -> bytes:
    return bytes(MSRPRequest(tid, "SEND", (("To-Path", BOB), ("From-Path", ALICE),
                                           ("Message-ID", "mid12345"),
                                           ("Content-Type", "application/octet-stream")),
                             b"", flag)).replace(b"\r\n\r\n\r\n", b"\r\n\r\n" + body + b"\r\n")


def test_body_streams_as_views_of_the_fed_bytes() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, with CRs and dashes in it
    stream = chunk("tid00001", body)
    parser = StreamParser()
    feeds = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]
    pieces: list[BodyData] = []
    ends: list[RequestEnded] = []
    for piece in feeds:
        for event in parser.feed(piece):
            if isinstance(event, BodyData):
                # no copy: a view into the feed (or, at a seam, its few held bytes)
                assert event.data.obj is piece or len(event.data) <= 20
                pieces.append(event)
            elif isinstance(event, RequestEnded):
                ends.append(event)
    assert b"".join(bytes(p.data) for p in pieces) == body
    assert [p.offset for p in pieces] == [
        sum(len(q.data) for q in pieces[:i]) for i in range(len(pieces))]
    assert ends == [RequestEnded("tid00001", "$", len(body))]


def test_lookalike_end_lines_stay_in_the_body() -> None:
    body = (b"a\r\n-------tid00001X\r\nb-------tid00001$\r\n\r\n-------tid00001$x"
            b"\r\n-------tid0000\r\n-------tid000011$\r\n")
    stream = chunk("tid00001", body, "+")
    for cut in range(len(stream)):
        parsed = normal(feed_all(stream, [cut]))
        assert len(parsed) == 1 and isinstance(parsed[0], MSRPRequest), cut
        assert parsed[0].body == body and parsed[0].continuation == "+"


def test_aborted_and_empty_bodies() -> None:
    stream = chunk("tid00001", b"", "#") + chunk("tid00002", b"x")
    first, second = parse_messages(stream)
    assert isinstance(first, MSRPRequest) and first.body == b"" and first.continuation == "#"
    assert isinstance(second, MSRPRequest) and second.body == b"x"


def test_lenient_empty_line_before_end_line_and_crlf_between_messages() -> None:
    stream = (b"\r\n\r\nMSRP abcd1234 SEND\r\nTo-Path: " + BOB.encode() + b"\r\nFrom-Path: "
              + ALICE.encode() + b"\r\nMessage-ID: m1234567\r\n\r\n-------abcd1234$\r\n")
    (request,) = parse_messages(stream)
    assert isinstance(request, MSRPRequest) and request.body is None


def test_head_over_the_limit_is_fatal() -> None:
    parser = StreamParser(Limits(max_head_bytes=200))
    events = parser.feed(b"MSRP abcd1234 SEND\r\nX: " + b"a" * 300)
    assert len(events) == 1 and isinstance(events[0], ParseFailure) and events[0].fatal
    assert events[0].error.transaction_id == "abcd1234"
    assert parser.closed and parser.feed(RFC_SEND) == []
    # a head split over feeds counts whole
    parser = StreamParser(Limits(max_head_bytes=200))
    assert parser.feed(b"MSRP abcd1234 SEND\r\nX: " + b"a" * 150) == []
    assert parser.in_message
    (failure,) = parser.feed(b"a" * 100)
    assert isinstance(failure, ParseFailure) and failure.fatal


def test_chunk_over_the_limit_is_413_and_parsing_goes_on() -> None:
    stream = chunk("tid00001", b"x" * 1000) + RFC_SEND
    for cut in (0, 300, 700, len(stream) - 10):
        events = feed_all(stream, [cut], Limits(max_chunk_bytes=100))
        failures = [event for event in events if isinstance(event, ParseFailure)]
        assert len(failures) == 1 and failures[0].error.status == 413
        assert not failures[0].fatal and failures[0].error.transaction_id == "tid00001"
        assert sum(len(e.data) for e in events if isinstance(e, BodyData)
                   and e.transaction_id == "tid00001") <= 100
        assert not any(isinstance(e, RequestEnded) and e.transaction_id == "tid00001"
                       for e in events)
        assert normal(events)[-1] == parse_messages(RFC_SEND)[0]


def test_malformed_header_is_answerable_and_parsing_goes_on() -> None:
    bad = RFC_SEND.replace(b"Byte-Range: 1-25/25", b"Byte-Range: 1-x/25")
    events = StreamParser().feed(bad + RFC_RESPONSE)
    failure = events[0]
    assert isinstance(failure, ParseFailure) and not failure.fatal
    assert failure.error.status == 400 and failure.error.transaction_id == "a786hjs2"
    assert failure.method == "SEND" and ("From-Path", ALICE) not in failure.headers
    assert dict(failure.headers)["From-Path"].startswith("msrp://atlanta")
    assert isinstance(events[-1], ResponseReceived)
    assert not any(isinstance(event, BodyData) for event in events)


def test_missing_paths_and_content_type() -> None:
    no_to = RFC_SEND.replace(b"To-Path: msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp\r\n",
                             b"")
    no_type = RFC_SEND.replace(b"Content-Type: text/plain\r\n", b"")
    for stream in (no_to, no_type):
        (failure,) = parse_messages(stream)
        assert isinstance(failure, ParseFailure) and failure.error.status == 400


def test_invalid_first_line_is_fatal_unless_its_id_frames_it() -> None:
    for line in (b"HTTP/1.1 200 OK\r\n", b"MSRP ab SEND\r\n", b"MSRP abcd1234\r\n"):
        parser = StreamParser()
        events = parser.feed(line + b"To-Path: x\r\n")
        assert len(events) == 1 and isinstance(events[0], ParseFailure) and events[0].fatal
        assert parser.closed
    for line in (b"MSRP abcd1234 send\r\n", b"MSRP abcd1234 20 OK\r\n"):
        stream = line + b"To-Path: x\r\n\r\nbody\r\n-------abcd1234$\r\n" + RFC_RESPONSE
        for cut in range(len(stream)):
            events = feed_all(stream, [cut])
            failure = events[0]
            assert isinstance(failure, ParseFailure) and not failure.fatal, cut
            assert failure.error.transaction_id == "abcd1234"
            assert isinstance(events[1], ResponseReceived) and len(events) == 2, cut


def test_large_head_in_small_pieces() -> None:
    big = RFC_SEND.replace(b"Content-Type", b"X-Big: " + b"a" * 20000 + b"\r\nContent-Type")
    events = feed_all(big, list(range(0, len(big), 7)))
    (request,) = collect(events)
    assert isinstance(request, MSRPRequest) and request.header("X-Big") == "a" * 20000


def test_bad_end_line_flag_is_fatal() -> None:
    events = StreamParser().feed(RFC_RESPONSE.replace(b"a786hjs2$", b"a786hjs2!"))
    assert isinstance(events[-1], ParseFailure) and events[-1].fatal


def test_response_with_body_is_skipped() -> None:
    stream = (b"MSRP abcd1234 200 OK\r\nTo-Path: " + ALICE.encode() + b"\r\nFrom-Path: "
              + BOB.encode() + b"\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------abcd1234$\r\n")
    events = StreamParser().feed(stream + RFC_RESPONSE)
    assert isinstance(events[0], ParseFailure) and not events[0].fatal
    assert isinstance(events[1], ResponseReceived) and len(events) == 2


def test_bytearray_feeds_are_copied() -> None:
    buffer = bytearray(RFC_SEND)
    parser = StreamParser()
    events = parser.feed(buffer)
    buffer[:] = b"x" * len(buffer)
    (request,) = collect(events)
    assert isinstance(request, MSRPRequest) and request.body == b"Hey Bob, are you there?"


def test_head_then_body_events() -> None:
    events = StreamParser().feed(RFC_SEND)
    assert isinstance(events[0], RequestStarted) and events[0].has_body
    assert events[0].request.body is None
    assert isinstance(events[-1], RequestEnded) and events[-1].size == 23


def test_body_that_begins_like_an_end_line() -> None:
    # Right after the empty line: the lenient "no data" reading needs a whole
    # end-line; a body that merely starts with the dashes and id is a body.
    body = b"-------tid00001xyz"
    stream = chunk("tid00001", body) + RFC_RESPONSE
    for cut in range(len(stream) + 1):
        parsed = normal(feed_all(stream, [cut]))
        assert isinstance(parsed[0], MSRPRequest) and parsed[0].body == body, cut
        assert isinstance(parsed[1], MSRPResponse), cut
