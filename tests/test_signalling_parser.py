"""The message parser: datagrams, streams, limits, keep-alives; hypothesis properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core import headers as h
from sipsimple_services.signalling.sip.message.parser import (
    KeepAlive,
    Limits,
    ParseFailure,
    StreamParser,
    check_message,
    parse_message,
)
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse

BASE = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKabc\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:bob@example.com>\r\n"
    b"From: <sip:alice@example.com>;tag=1\r\n"
    b"Call-ID: c1@example.com\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Content-Length: 5\r\n"
    b"\r\n"
    b"hello"
)
RESPONSE = (
    b"SIP/2.0 200 OK\r\nv: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bKabc\r\nt: <sip:b@x>;tag=2\r\n"
    b"f: <sip:a@x>;tag=1\r\ni: c1\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n"
)


def test_datagram_basics() -> None:
    message = parse_message(BASE)
    assert isinstance(message, SIPRequest) and message.body == b"hello"
    response = parse_message(b"\r\n\r\n" + RESPONSE)
    assert isinstance(response, SIPResponse) and response.code == 200
    assert response.call_id == "c1" and response.to is not None and response.to.tag == "2"
    # Content-Length is optional on a datagram: the body is the rest.
    no_length = BASE.replace(b"Content-Length: 5\r\n", b"")
    assert parse_message(no_length).body == b"hello"
    # Octets beyond Content-Length are dropped (RFC 3261 18.3).
    assert parse_message(BASE + b"junk").body == b"hello"


def test_comma_separated_values_are_split() -> None:
    data = BASE.replace(
        b"Max-Forwards: 70\r\n",
        b"Max-Forwards: 70\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\n"
        b'Contact: "A, B" <sip:a@h>, <sip:b@h>;q=0.5\r\n'
        b'WWW-Authenticate: Digest realm="a, b", nonce="n"\r\nX-List: a, b\r\n'
        b"Via: SIP/2.0/UDP p1, SIP/2.0/UDP p2\r\n",
    )
    message = parse_message(data)
    assert [str(r.uri) for r in message.route] == ["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"]
    assert [c.display_name for c in message.contact] == ["A, B", None]
    assert len(message.headers_named("WWW-Authenticate")) == 1
    assert str(message.header("x-list")) == "a, b"
    assert len(message.via) == 3


@pytest.mark.parametrize(
    ("old", "new", "status"),
    [
        (b"OPTIONS sip", b"OPTIONS  sip", 400),
        (b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia", 505),
        (b"SIP/2.0\r\nVia", b"HTTP/1.1\r\nVia", 400),
        (b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE", 400),
        (b"Max-Forwards: 70\r\n", b"", 400),
        (b"Call-ID: c1@example.com\r\n", b"", 400),
        (b"Call-ID: c1@example.com\r\n", b"Call-ID: a\r\ni: b\r\n", 400),
        (b"Content-Length: 5", b"Content-Length: 6", 400),
        (b"Content-Length: 5", b"Content-Length: 5\r\nl: 4", 400),
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\n bad continuation\r\n", 400),
        (b"To: <sip:bob@example.com>", b"To: <sip:b\xffob@example.com>", 400),
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\nX: y\r\n", 400),
        (b"Max-Forwards: 70\r\n", b"Bad Header: x\r\n", 400),
        (b"Max-Forwards: 70\r\n", b"NoColon\r\n", 400),
    ],
)
def test_invalid_datagrams(old: bytes, new: bytes, status: int) -> None:
    with pytest.raises(SIPParseError) as info:
        parse_message(BASE.replace(old, new, 1))
    assert info.value.status == status


def test_folding_and_partial_for_400() -> None:
    folded = BASE.replace(
        b"To: <sip:bob@example.com>", b"To:\r\n  <sip:bob@example.com>\r\n\t;tag=x"
    )
    message = parse_message(folded)
    assert message.to is not None and message.to.tag == "x"
    with pytest.raises(SIPParseError) as info:
        parse_message(BASE.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"))
    partial = info.value.partial
    assert partial.can_respond and partial.method == "OPTIONS"
    with pytest.raises(SIPParseError) as info:
        parse_message(b"GARBAGE\r\n\r\n")
    assert not info.value.partial.can_respond


def test_limits() -> None:
    limits = Limits(max_header_bytes=200, max_headers=5, max_body_bytes=4)
    for data in (BASE, BASE.replace(b"Max-Forwards: 70", b"X: " + b"a" * 300)):
        with pytest.raises(SIPParseError):
            parse_message(data, limits=limits)
    many = BASE.replace(b"\r\n\r\n", b"\r\n" + b"X: 1\r\n" * 300 + b"\r\n")
    with pytest.raises(SIPParseError):
        parse_message(many)
    with pytest.raises(SIPParseError):
        parse_message(b"OPTIONS sip:a@b SIP/2.0\r\n")
    with pytest.raises(SIPParseError):
        parse_message("text")  # type: ignore[arg-type]


def test_stream_keepalives_and_errors() -> None:
    parser = StreamParser()
    assert parser.feed(b"\r\n\r\n") == [KeepAlive(ping=True)]
    assert parser.feed(b"\r\nOPT") == [KeepAlive(ping=False)]
    events = parser.feed(BASE[3:])
    assert events == [parse_message(BASE)]
    # A bad message with good framing is skipped; parsing goes on.
    bad = BASE.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE")
    events = parser.feed(bad + RESPONSE)
    assert isinstance(events[0], ParseFailure) and not events[0].fatal
    assert events[0].error.partial.can_respond
    assert isinstance(events[1], SIPResponse)
    # Without Content-Length the framing is lost.
    events = parser.feed(BASE.replace(b"Content-Length: 5\r\n", b""))
    assert isinstance(events[0], ParseFailure) and events[0].fatal and parser.failed


def test_stream_never_ending_header_is_bounded() -> None:
    parser = StreamParser(Limits(max_header_bytes=4096))
    parser.feed(b"INVITE sip:a@b SIP/2.0\r\n")
    events: list[object] = []
    for _ in range(1000):
        events += parser.feed(b"X-Junk: " + b"a" * 100 + b"\r\n")
        assert parser.buffered <= 4096 + 200
        if parser.failed:
            break
    assert parser.failed and isinstance(events[-1], ParseFailure) and events[-1].fatal
    assert parser.buffered == 0


def test_stream_body_limit() -> None:
    parser = StreamParser(Limits(max_body_bytes=4))
    [event] = parser.feed(BASE)
    assert isinstance(event, ParseFailure) and event.fatal


# --- properties ---------------------------------------------------------------

_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,10}", fullmatch=True)
_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"), max_size=15
)


@st.composite
def messages(draw: st.DrawFn) -> SIPRequest | SIPResponse:
    uri = SIPURI(draw(st.sampled_from(["example.com", "10.1.2.3", "::1"])), user=draw(_token))
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "OPTIONS", "MESSAGE", "X-NEW"]))
    headers: list[h.Header] = [
        h.ViaHeader(
            draw(st.sampled_from(["UDP", "TCP", "TLS"])),
            "h.example.com",
            draw(st.none() | st.integers(1, 65535)),
            {"branch": "z9hG4bK" + draw(_token)},
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    headers += [
        h.MaxForwardsHeader(draw(st.integers(0, 255))),
        h.FromHeader(uri, draw(st.none() | _text), {"tag": draw(_token)}),
        h.ToHeader(uri, draw(st.none() | _text)),
        h.CallIDHeader(draw(_token)),
        h.CSeqHeader(draw(st.integers(0, 2**32 - 1)), method),
    ]
    headers += [
        h.GenericHeader("X-" + draw(_token), draw(_text).strip())
        for _ in range(draw(st.integers(0, 3)))
    ]
    headers += [h.ContactHeader(uri, None, {"q": "0.5"})] * draw(st.integers(0, 2))
    if draw(st.booleans()):
        headers.append(h.SubjectHeader(draw(_text).strip()))
    headers = draw(st.permutations(headers))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        return SIPRequest(method, uri, tuple(headers), body)
    return SIPResponse(draw(st.integers(100, 699)), draw(_text).strip(), tuple(headers), body)


def _with_length(message: SIPRequest | SIPResponse) -> SIPRequest | SIPResponse:
    """What the parser returns: the serializer adds a Content-Length header."""
    return parse_message(bytes(message))


@given(messages())
def test_round_trip(message: SIPRequest | SIPResponse) -> None:
    parsed = parse_message(bytes(message))
    without_length = tuple(x for x in parsed.headers if not isinstance(x, h.ContentLengthHeader))
    assert without_length == message.headers
    assert parsed.body == message.body
    assert type(parsed) is type(message)
    check_message(parsed)
    assert parse_message(bytes(parsed)) == parsed


@settings(max_examples=50)
@given(st.lists(messages(), min_size=1, max_size=4), st.data())
def test_stream_chunking(batch: list[SIPRequest | SIPResponse], data: st.DataObject) -> None:
    stream = b"".join(b"\r\n\r\n" * data.draw(st.integers(0, 1)) + bytes(m) for m in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    parser = StreamParser()
    events: list[object] = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        events += parser.feed(stream[previous:cut])
        previous = cut
    assert [e for e in events if not isinstance(e, KeepAlive)] == [_with_length(m) for m in batch]


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(SIPParseError):
        parse_message(data)
    parser = StreamParser()
    for event in parser.feed(data):
        assert isinstance(event, SIPRequest | SIPResponse | KeepAlive | ParseFailure)


def test_stream_parser_says_when_a_message_is_under_way() -> None:
    """The transport's per-message deadline runs while `in_message` (headers in, body due)."""
    parser = StreamParser()
    assert not parser.in_message
    head = (b"MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\n"
            b"CSeq: 1 MESSAGE\r\n"
            b"Content-Length: 4\r\n\r\n")
    assert parser.feed(head[:10]) == [] and parser.in_message
    assert parser.feed(head[10:]) == [] and parser.in_message and parser.buffered == 0
    (message,) = parser.feed(b"body")
    assert isinstance(message, SIPRequest) and not parser.in_message
