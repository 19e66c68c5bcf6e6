"""The parser's fast paths agree with the general ones they short-cut."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.core import SIPURI, SIPParseError
from sipsimple.core import headers as h
from sipsimple.core.grammar import split_commas
from sipsimple_services.signalling.sip.message import parser as parser_module
from sipsimple_services.signalling.sip.message.parser import parse_message
from sipsimple_services.signalling.sip.message.values import SIPRequest, SIPResponse

DATA = Path(__file__).parent / "data" / "rfc4475"

BASE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:alice@client.atlanta.example.com;transport=udp>;expires=60\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: sipsimple 0.1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\r\n"
)


def _outcome(data: bytes, general: bool) -> object:
    original = parser_module._split_fields
    if general:
        parser_module._split_fields = lambda lines: None  # type: ignore[assignment]
    try:
        return ("ok", parse_message(data))
    except SIPParseError as exc:
        partial = exc.partial.headers if exc.partial is not None else None
        return ("error", str(exc), exc.status, partial)
    finally:
        parser_module._split_fields = original


def _check_agreement(data: bytes) -> None:
    fast = _outcome(data, general=False)
    assert fast == _outcome(data, general=True)
    if fast[0] == "ok":
        message = fast[1]
        assert isinstance(message, SIPRequest | SIPResponse)
        # Headers built without __post_init__ equal the validated constructor's.
        for header in message.headers:
            assert dataclasses.replace(header) == header  # type: ignore[type-var]
        if isinstance(message, SIPRequest) and isinstance(message.uri, SIPURI):
            uri = message.uri
            assert dataclasses.replace(
                uri, parameters=dict(uri.parameters), headers=dict(uri.headers)
            ) == uri


@pytest.mark.parametrize("path", sorted(DATA.glob("*.dat")), ids=lambda p: p.stem)
def test_torture_messages_agree(path: Path) -> None:
    _check_agreement(path.read_bytes())


_pieces = st.sampled_from(
    [b" ", b"\t", b",", b";", b":", b"<", b">", b"\"", b"\\", b"\r\n", b"\r\n ", b"\r", b"\n",
     b"=", b"%", b"@", b"%41", b"\xff", b"x", b"0", b"[::1]", b"*"]
)


@settings(max_examples=300)
@given(st.data())
def test_mutations_agree(data: st.DataObject) -> None:
    message = bytearray(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(message)))
        if data.draw(st.booleans()):
            message[position:position] = data.draw(_pieces)
        else:
            del message[position : position + data.draw(st.integers(1, 3))]
    _check_agreement(bytes(message))


@given(st.text(st.sampled_from(" \t,<>\"\\ab;=@:"), max_size=20))
def test_list_elements_agree(text: str) -> None:
    value = text.strip(" \t")
    try:
        expected: object = split_commas(value)
    except SIPParseError:
        expected = SIPParseError
    try:
        got: object = parser_module._list_elements(value)
    except SIPParseError:
        got = SIPParseError
    assert got == expected


def test_header_objects_equal_validated_ones() -> None:
    message = parse_message(BASE)
    assert isinstance(message.headers[0], h.ViaHeader)
    for header in message.headers:
        assert dataclasses.replace(header) == header  # type: ignore[type-var]


def test_value_cache_is_bounded_and_shares_equal_objects() -> None:
    first = parse_message(BASE)
    second = parse_message(BASE)
    assert first == second
    for index in range(parser_module._VALUE_CACHE_SIZE + 10):
        parse_message(BASE.replace(b"sipsimple 0.1.0", b"ua-%d" % index))
    assert len(parser_module._VALUE_CACHE) <= parser_module._VALUE_CACHE_SIZE
    long_value = b"x" * (parser_module._VALUE_CACHE_MAX_LENGTH + 1)
    message = parse_message(BASE.replace(b"sipsimple 0.1.0", long_value))
    assert (h.UserAgentHeader, long_value.decode()) not in parser_module._VALUE_CACHE
    assert message.header("User-Agent") == h.UserAgentHeader(long_value.decode())
    # An invalid value is refused every time, never cached.
    bad = BASE.replace(b"Max-Forwards: 70", b"Max-Forwards: 700")
    for _ in range(2):
        with pytest.raises(SIPParseError):
            parse_message(bad)


def _uri_outcome(parse: object, text: str) -> object:
    try:
        return parse(text)  # type: ignore[operator]
    except SIPParseError as exc:
        return (type(exc), str(exc))


_uri_text = st.one_of(
    st.text(st.sampled_from("sipSIP:@;=.-_~!*'()&+$,/[]?%0123456789abcAZ"), max_size=30),
    st.builds(
        lambda scheme, user, host, port, params: f"{scheme}:{user}{host}{port}{params}",
        st.sampled_from(["sip", "sips", "SIP", "sIpS"]),
        st.sampled_from(["", "alice@", "a.b-c@", "%41@", "a:pw@", "a;b@", "a=b,c@", "@"]),
        st.sampled_from(["example.com", "10.0.0.1", "300.1.1.1", "-bad", "[::1]", "a_b", "h."]),
        st.sampled_from(["", ":5060", ":0", ":65536", ":99999", ":", ":1a"]),
        st.lists(
            st.sampled_from([";lr", ";transport=tcp", ";LR", ";maddr=[::1]", ";x=", ";=y",
                             ";a=b=c", ";user=phone", ";p=%20", ";"]),
            max_size=3,
        ).map("".join),
    ),
)


@given(_uri_text)
def test_simple_uri_path_agrees_with_the_general_one(text: str) -> None:
    assert _uri_outcome(SIPURI.parse, text) == _uri_outcome(SIPURI._parse_general, text)


def test_uri_cache_is_bounded_and_never_holds_errors() -> None:
    from sipsimple.core import anyuri

    first = anyuri.parse_uri("sip:alice@example.com;transport=tcp")
    assert anyuri.parse_uri("sip:alice@example.com;transport=tcp") == first
    for index in range(anyuri._CACHE_SIZE + 10):
        anyuri.parse_uri(f"sip:user{index}@example.com")
    assert len(anyuri._CACHE) <= anyuri._CACHE_SIZE
    for _ in range(2):
        with pytest.raises(SIPParseError):
            anyuri.parse_uri("sip:alice@example.com:0")
    assert "sip:alice@example.com:0" not in anyuri._CACHE


def test_recent_cache_is_bounded() -> None:
    for index in range(parser_module._RECENT_CACHE_SIZE + 10):
        parse_message(BASE.replace(b"3848276298220188511", b"%d" % index))
    assert len(parser_module._RECENT_CACHE) <= parser_module._RECENT_CACHE_SIZE
    # Shared objects compare equal to freshly parsed ones.
    again = parse_message(BASE)
    assert again.call_id == "3848276298220188511@atlanta.example.com"
    assert again.from_ == h.FromHeader.parse(
        '"Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl'
    )


def test_partial_message_keeps_the_list_elements_before_a_bad_one() -> None:
    for _ in range(2):  # and the second time, when the good values are cached
        bad = BASE.replace(
            b"branch=z9hG4bK74bf9;rport\r\n",
            b"branch=z9hG4bK74bf9;rport, SIP/2.0/UDP bad host\r\n",
        )
        with pytest.raises(SIPParseError) as info:
            parse_message(bad)
        partial = info.value.partial
        assert partial is not None and len(partial.via) == 1
        assert partial.via[0].branch == "z9hG4bK74bf9"
        assert partial.can_respond
