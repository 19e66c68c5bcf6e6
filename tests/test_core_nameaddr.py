"""sipsimple.core.nameaddr, URI comparison (RFC 3261 19.1.4), tel and other URIs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core import (
    SIPURI,
    AbsoluteURI,
    NameAddress,
    SIPParseError,
    TelURI,
    equivalent,
    parse_uri,
)


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ("sip:a@b", None, "sip:a@b", {}),
        ("sip:a@b;tag=1", None, "sip:a@b", {"tag": "1"}),
        ("<sip:a@b;lr>;tag=1", None, "sip:a@b;lr", {"tag": "1"}),
        ('"Alice" <sip:a@b>', "Alice", "sip:a@b", {}),
        ('"" <sip:a@b>', "", "sip:a@b", {}),
        ('  Alice  Smith   <sip:a@b> ; x = "q;v" ', "Alice Smith", "sip:a@b", {"x": '"q;v"'}),
        ("caller<sip:a@b>", "caller", "sip:a@b", {}),
        ('"a \\"b\\" \\\\" <tel:+1-212>', 'a "b" \\', "tel:+1-212", {}),
        ("<http://example.com/x?y>", None, "http://example.com/x?y", {}),
        ("<sip:a@b?subject=x>", None, "sip:a@b?subject=x", {}),
        ("<sip:[::1]:5060>;p=[::2]", None, "sip:[::1]:5060", {"p": "[::2]"}),
    ],
)
def test_parse(text: str, display: str | None, uri: str, params: dict[str, str]) -> None:
    value = NameAddress.parse(text)
    assert value.display_name == display
    assert value.uri == parse_uri(uri)
    assert value.parameters == params
    assert NameAddress.parse(str(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<>",
        "<sip:a@b",
        '"unterminated <sip:a@b>',
        "Bell, A <sip:a@b>",
        "< sip:a@b >",
        "sip:a@b?h=v",
        "sip:a@b;;x",
        "<sip:a@b>;",
        "<sip:a@b> junk",
        "<sip:a@b>;x=",
        "<sip:a@b>;x=a b",
        '"a" sip:a@b',
        "<sip:a b@c>",
        '<sip:a@b>;x="open',
        "<bad scheme:x>",
        "sip:a@b,c",
        "<sip:a@b>;t@g=1",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(SIPParseError):
        NameAddress.parse(text)


@pytest.mark.parametrize(
    ("one", "two", "same"),
    [
        # RFC 3261 19.1.4 examples of equivalent URIs.
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp", True),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5", True),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5", True),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            True,
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            True,
        ),
        # ... and of non-equivalent ones.
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP", False),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060", False),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp", False),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp", False),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting", False),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4", False),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off", False),
        ("sip:a@b", "sips:a@b", False),
        ("sip:a:x@b", "sip:a:y@b", False),
        ("sip:a@[::1]", "sip:a@[0:0::1]", True),
        ("sip:a@b;maddr=x", "sip:a@b", False),
        ("tel:+1-212-555-0101", "tel:+12125550101", True),
        ("tel:+1-212;a=1;b=2", "tel:+1212;B=2;a=1", True),
        ("tel:+1212", "tel:+1213", False),
        ("urn:x:y", "URN:x:y", True),
        ("urn:x:y", "sip:x@y", False),
    ],
)
def test_equivalence(one: str, two: str, same: bool) -> None:
    a, b = parse_uri(one), parse_uri(two)
    assert equivalent(a, b) is same
    assert equivalent(b, a) is same


def test_tel_and_absolute() -> None:
    tel = TelURI.parse("tel:+1-212-555-0101;phone-context=example.com")
    assert tel.is_global and tel.parameters == {"phone-context": "example.com"}
    assert str(tel) == "tel:+1-212-555-0101;phone-context=example.com"
    assert not TelURI.parse("tel:7042;phone-context=example.com").is_global
    for bad in ("tel:", "tel:+", "tel:abc-x", "tel:+1;=x", "mailto:x"):
        with pytest.raises(SIPParseError):
            TelURI.parse(bad)
    uri = AbsoluteURI.parse("isbn:2983792873")
    assert (uri.scheme, uri.opaque, str(uri)) == ("isbn", "2983792873", "isbn:2983792873")
    for bad in ("x", "1x:y", "x:", "x:a b", "x:<y>"):
        with pytest.raises(SIPParseError):
            AbsoluteURI.parse(bad)


def test_construction() -> None:
    value = NameAddress(SIPURI("example.com", user="bob"), 'Bob "B"', {"x": "1"})
    assert str(value) == '"Bob \\"B\\"" <sip:bob@example.com>;x=1'
    with pytest.raises(SIPParseError):
        NameAddress("sip:x")  # type: ignore[arg-type]
    with pytest.raises(SIPParseError):
        NameAddress(SIPURI("h"), "a\r\nb")
    with pytest.raises(SIPParseError):
        NameAddress(SIPURI("h"), parameters={"a b": "1"})


_display = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)
_token = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,10}", fullmatch=True)
_params = st.dictionaries(
    _token, st.none() | _token | _token.map(lambda t: f'"{t} ;,"'), max_size=3
).filter(lambda d: len({k.lower() for k in d}) == len(d))
_uris = st.sampled_from(
    ["sip:a@b", "sips:x@[::1]:5061;transport=tls", "tel:+1-555", "urn:uuid:1", "sip:h?x=1"]
).map(parse_uri)


@given(_uris, _display, _params)
def test_round_trip(uri: object, display: str | None, params: dict[str, str | None]) -> None:
    value = NameAddress(uri, display, params)  # type: ignore[arg-type]
    assert NameAddress.parse(str(value)) == value


@given(st.text(max_size=60))
def test_random_text_raises_only_parse_errors(text: str) -> None:
    with contextlib.suppress(SIPParseError):
        NameAddress.parse(text)
