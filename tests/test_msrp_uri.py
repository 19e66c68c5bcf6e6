"""MSRP URIs: parsing, serialization and RFC 4975 section 6.1 comparison."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.uri import DEFAULT_PORT, MSRPURI, parse_uri


def test_rfc_example_uri() -> None:
    uri = parse_uri("msrp://atlanta.example.com:7654/jshA7weztas;tcp")
    assert uri == MSRPURI("atlanta.example.com", 7654, "jshA7weztas", "tcp")
    assert not uri.secure and uri.scheme == "msrp"
    assert str(uri) == "msrp://atlanta.example.com:7654/jshA7weztas;tcp"


def test_msrps_userinfo_ipv6_and_parameters() -> None:
    uri = parse_uri("MSRPS://bob@[2001:db8::1]:9000/s1d;TCP;foo=bar;flag")
    assert uri.secure and uri.user == "bob" and uri.host == "[2001:db8::1]"
    assert uri.port == 9000 and uri.session_id == "s1d" and uri.transport == "tcp"
    assert uri.parameters == (("foo", "bar"), ("flag", None))
    assert str(uri) == "msrps://bob@[2001:db8::1]:9000/s1d;tcp;foo=bar;flag"


def test_relay_uri_without_session_id_and_default_port() -> None:
    uri = parse_uri("msrps://relay.example.net;tcp")
    assert uri.session_id is None and uri.port is None
    assert uri.effective_port == DEFAULT_PORT


@pytest.mark.parametrize(
    "text",
    [
        "msrp://host/sess",  # no transport
        "sip://host/sess;tcp",
        "msrp://host:0/s;tcp",
        "msrp://host:70000/s;tcp",
        "msrp://[zz::1]/s;tcp",
        "msrp://ho st/s;tcp",
        "msrp://host/s;tcp;a=b=c",
        "msrp://host/s;",
        "msrp:///s;tcp",
        "",
    ],
)
def test_invalid_uris(text: str) -> None:
    with pytest.raises(MSRPParseError):
        parse_uri(text)


def test_comparison_rules() -> None:
    base = parse_uri("msrp://Alice.Example.com:7654/jshA7weztas;tcp")
    assert base.matches(parse_uri("MSRP://alice.example.COM:7654/jshA7weztas;TCP"))
    # userinfo and other parameters take no part
    assert base.matches(parse_uri("msrp://u@alice.example.com:7654/jshA7weztas;tcp;x=1"))
    # the session id is case-sensitive
    assert not base.matches(parse_uri("msrp://alice.example.com:7654/JSHA7WEZTAS;tcp"))
    # an explicit port never equals an absent one, even the default
    assert not parse_uri("msrp://h:2855/s;tcp").matches(parse_uri("msrp://h/s;tcp"))
    assert not base.matches(parse_uri("msrps://alice.example.com:7654/jshA7weztas;tcp"))
    assert not base.matches(parse_uri("msrp://alice.example.com:7655/jshA7weztas;tcp"))
    # IPv6 addresses compare by value
    assert parse_uri("msrp://[2001:DB8:0::1]:1/s;tcp").matches(
        parse_uri("msrp://[2001:db8::1]:1/s;tcp"))


_label = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,8}[a-z0-9])?", fullmatch=True)
uris = st.builds(
    MSRPURI,
    host=st.lists(_label, min_size=1, max_size=3).map(".".join),
    port=st.none() | st.integers(1, 65535),
    session_id=st.none() | st.from_regex(r"[A-Za-z0-9+=/\-]{1,20}", fullmatch=True),
    transport=st.sampled_from(["tcp", "ws", "sctp"]),
    secure=st.booleans(),
    user=st.none() | st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    parameters=st.lists(st.tuples(st.from_regex(r"[a-z]{1,5}", fullmatch=True),
                                  st.none() | st.from_regex(r"[a-z0-9]{1,5}", fullmatch=True)),
                        max_size=2).map(tuple),
)


@given(uris)
def test_round_trip(uri: MSRPURI) -> None:
    parsed = parse_uri(str(uri))
    assert parsed == uri
    assert parsed.matches(uri)


def test_built_uris_are_checked_too() -> None:
    for bad in (
        dict(host="ho st"), dict(host="[1::2::3]"), dict(host="h", port=0),
        dict(host="h", transport=""), dict(host="h", session_id="a b"),
        dict(host="h", user="a@b"), dict(host="h", parameters=(("a", "b=c"),)),
    ):
        with pytest.raises(MSRPParseError):
            MSRPURI(**bad)  # type: ignore[arg-type]
    assert str(MSRPURI("h", user="u:p")) == "msrp://u:p@h;tcp"
