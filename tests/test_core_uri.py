"""sipsimple.core.uri: SIPURI parsing, serialization, validation."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core import SIPURI, Route, SIPURIError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:example.com", SIPURI("example.com")),
        ("sip:alice@example.com", SIPURI("example.com", user="alice")),
        ("sips:alice@example.com", SIPURI("example.com", user="alice", secure=True)),
        ("SIP:alice@Example.COM", SIPURI("Example.COM", user="alice")),
        ("sip:alice:secret@example.com:5070",
         SIPURI("example.com", user="alice", password="secret", port=5070)),
        ("sip:alice:@example.com", SIPURI("example.com", user="alice", password="")),
        ("sip:al%20ice@example.com", SIPURI("example.com", user="al ice")),
        ("sip:%E2%82%AC@example.com", SIPURI("example.com", user="\u20ac")),
        ("sip:+1-212-555-1212;phone-context=x@example.com",
         SIPURI("example.com", user="+1-212-555-1212;phone-context=x")),
        ("sip:a?b@example.com", SIPURI("example.com", user="a?b")),
        ("sip:192.0.2.1", SIPURI("192.0.2.1")),
        ("sip:192.0.2.1:5061", SIPURI("192.0.2.1", port=5061)),
        ("sip:[::1]", SIPURI("::1")),
        ("sip:bob@[2001:db8::10]:5070", SIPURI("2001:db8::10", user="bob", port=5070)),
        ("sip:example.com.", SIPURI("example.com.")),
        ("sip:example.com;transport=tcp;lr",
         SIPURI("example.com", parameters={"transport": "tcp", "lr": None})),
        ("sip:example.com;maddr=[::1]", SIPURI("example.com", parameters={"maddr": "[::1]"})),
        ("sip:example.com?subject=hi%20there&priority=urgent",
         SIPURI("example.com", headers={"subject": "hi there", "priority": "urgent"})),
        ("sip:example.com?x=", SIPURI("example.com", headers={"x": ""})),
        ("sip:alice@example.com;lr?h=v",
         SIPURI("example.com", user="alice", parameters={"lr": None}, headers={"h": "v"})),
    ],
)
def test_parse(text: str, expected: SIPURI) -> None:
    assert SIPURI.parse(text) == expected
    assert SIPURI.parse(str(expected)) == expected


@pytest.mark.parametrize(
    ("uri", "text"),
    [
        (SIPURI("example.com"), "sip:example.com"),
        (SIPURI("::1", port=5061, secure=True), "sips:[::1]:5061"),
        (SIPURI("[::1]"), "sip:[::1]"),
        (SIPURI("h", user="a b@c", password="p:w"), "sip:a%20b%40c:p%3Aw@h"),
        (SIPURI("h", parameters={"transport": "tls", "lr": None}), "sip:h;transport=tls;lr"),
        (SIPURI("h", headers={"a": "1 2", "b": "&"}), "sip:h?a=1%202&b=%26"),
    ],
)
def test_str(uri: SIPURI, text: str) -> None:
    assert str(uri) == text


@pytest.mark.parametrize(
    "text",
    [
        "", "sip:", "sip", "http://example.com", "sip:@example.com", "sip:alice@",
        "sip:[::1", "sip:[::1]x", "sip:[1.2.3.4]", "sip:[example.com]", "sip:::1",
        "sip:fe80::1%eth0", "sip:[fe80::1%25eth0]", "sip:1.2.3.256", "sip:1.2.3",
        "sip:-bad.com", "sip:bad-.com", "sip:exa mple.com", "sip:example.123",
        "sip:host:", "sip:host:0", "sip:host:65536", "sip:host:99999999", "sip:host:x",
        "sip:host;", "sip:host;;lr", "sip:host;a=", "sip:host;a=1;A=2", "sip:host?",
        "sip:host?a", "sip:host?a=1&a=2", "sip:host?=1", "sip:a b@host", "sip:%zz@host",
        "sip:%ff@host", "sip:a:b:c@host", "sip:host\x00", "sip:h\u00e9st",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(SIPURIError):
        SIPURI.parse(text)


@pytest.mark.parametrize("value", [None, 42, b"sip:\xff", ["sip:x"]])
def test_parse_non_text(value: object) -> None:
    with pytest.raises(SIPURIError):
        SIPURI.parse(value)


def test_parse_bytes() -> None:
    assert SIPURI.parse(b"sip:alice@example.com") == SIPURI("example.com", user="alice")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"host": ""}, {"host": "bad host"}, {"host": 5}, {"host": "h", "port": 0},
        {"host": "h", "port": 70000}, {"host": "h", "port": True}, {"host": "h", "user": ""},
        {"host": "h", "password": "x"}, {"host": "h", "secure": 1},
        {"host": "h", "parameters": {"": "x"}}, {"host": "h", "parameters": {"a": ""}},
        {"host": "h", "parameters": {"a": "1", "A": "2"}}, {"host": "h", "headers": {"a": None}},
        {"host": "h", "parameters": []}, {"host": "h", "user": "\ud800"},
    ],
)
def test_invalid_construction(kwargs: dict[str, object]) -> None:
    with pytest.raises(SIPURIError):
        SIPURI(**kwargs)  # type: ignore[arg-type]


def test_accessors_and_immutability() -> None:
    uri = SIPURI.parse("sips:alice@example.com;Transport=TCP;maddr=10.0.0.1")
    assert uri.scheme == "sips"
    assert uri.transport == "tcp"
    assert uri.maddr == "10.0.0.1"
    assert uri.parameter("TRANSPORT") == "TCP"
    assert not uri.is_address
    assert SIPURI("10.0.0.1").is_address and SIPURI("::1").is_address
    with pytest.raises(TypeError):
        uri.parameters["lr"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        uri.host = "other"  # type: ignore[misc]
    params = {"a": "1"}
    copy = SIPURI("h", parameters=params)
    params["b"] = "2"
    assert dict(copy.parameters) == {"a": "1"}


def test_equality_and_hash() -> None:
    one = SIPURI("h", parameters={"a": "1", "b": None})
    two = SIPURI("h", parameters={"b": None, "a": "1"})
    assert one == two and hash(one) == hash(two)
    assert len({one, two, SIPURI("h")}) == 2
    assert one != "sip:h;a=1;b"


def test_route() -> None:
    route = Route("::1", 5061, "tls", "example.com")
    assert str(route) == "tls:[::1]:5061"
    assert str(Route("127.0.0.1", 5060)) == "udp:127.0.0.1:5060"
    with pytest.raises(AttributeError):
        route.port = 1  # type: ignore[misc]


# --- properties --------------------------------------------------------------

_label = st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hostname = st.lists(_label, min_size=1, max_size=4).map(".".join)
_ipv4 = st.ip_addresses(v=4).map(str)
_ipv6 = st.ip_addresses(v=6).map(str)
_text = st.text(min_size=1, max_size=12)


@st.composite
def sip_uris(draw: st.DrawFn) -> SIPURI:
    user = draw(st.none() | _text)
    params = draw(st.dictionaries(_text, st.none() | _text, max_size=3))
    lowered: dict[str, str | None] = {}
    for name, value in params.items():  # names are case-insensitively unique
        if name.lower() not in {k.lower() for k in lowered}:
            lowered[name] = value
    headers = draw(st.dictionaries(_text, st.text(max_size=8), max_size=3))
    unique_headers: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() not in {k.lower() for k in unique_headers}:
            unique_headers[name] = value
    return SIPURI(
        host=draw(_hostname | _ipv4 | _ipv6),
        user=user,
        password=draw(st.none() | st.text(max_size=8)) if user is not None else None,
        port=draw(st.none() | st.integers(1, 65535)),
        secure=draw(st.booleans()),
        parameters=lowered,
        headers=unique_headers,
    )


@given(sip_uris())
def test_round_trip(uri: SIPURI) -> None:
    text = str(uri)
    assert SIPURI.parse(text) == uri
    assert str(SIPURI.parse(text)) == text


@given(st.text(max_size=60))
def test_random_text_raises_only_sipuri_error(text: str) -> None:
    with contextlib.suppress(SIPURIError):
        SIPURI.parse(text)


@given(st.text(alphabet="sip:@[]:;=?&%0123456789abcdefABCDEF.-+", max_size=40))
def test_uri_like_text_raises_only_sipuri_error(text: str) -> None:
    try:
        uri = SIPURI.parse(text)
    except SIPURIError:
        return
    assert SIPURI.parse(str(uri)) == uri


@given(st.binary(max_size=40))
def test_random_bytes_raise_only_sipuri_error(data: bytes) -> None:
    with contextlib.suppress(SIPURIError):
        SIPURI.parse(data)
