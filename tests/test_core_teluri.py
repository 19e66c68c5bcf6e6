"""Properties of tel: URIs and other absolute URIs (sipsimple.core.teluri): whatever
text a header carries, parsing gives a URI that prints back to itself, or SIPParseError."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core import SIPParseError
from sipsimple.core.teluri import AbsoluteURI, TelURI

DIGITS = st.text("0123456789", min_size=1, max_size=15)
SEPARATOR = st.sampled_from(["", "-", ".", "(", ")"])
PNAME = st.from_regex(r"[A-Za-z0-9-]+", fullmatch=True).filter(lambda n: len(n) <= 20)
PVALUE = st.none() | st.from_regex(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]{1,20}", fullmatch=True)
URI_TEXT = (
    st.text(max_size=60)
    | st.builds("{}:{}".format, st.sampled_from(["tel", "TEL", "urn", "http", "1x"]),
                st.text(max_size=40))
    # well-formed up to a parameter's value, which is anything
    | st.builds("tel:+{};{}={}".format, DIGITS, PNAME, st.text(max_size=10))
)
FORBIDDEN_IN_A_HEADER = set("\r\n\t <>\"")


@st.composite
def visual_number(draw: st.DrawFn, digits: str) -> str:
    """`digits` with visual separators between them."""
    return "".join(draw(SEPARATOR) + digit for digit in digits)


@given(DIGITS, st.lists(st.tuples(PNAME, PVALUE), max_size=4, unique_by=lambda p: p[0].lower()))
def test_a_global_number_round_trips(digits: str, params: list[tuple[str, str | None]]) -> None:
    uri = TelURI("+" + digits, dict(params))
    again = TelURI.parse(str(uri))
    assert again == uri and again.matches(uri) and again.is_global


@given(DIGITS, st.data())
def test_visual_separators_do_not_change_the_number(digits: str, data: st.DataObject) -> None:
    plain = TelURI("+" + digits)
    decorated = TelURI.parse("tel:+" + data.draw(visual_number(digits)))
    assert decorated.matches(plain) and plain.matches(decorated)


@given(URI_TEXT)
def test_any_text_is_a_tel_uri_that_prints_back_or_an_error(text: str) -> None:
    try:
        uri = TelURI.parse(text)
    except SIPParseError:
        return
    assert TelURI.parse(str(uri)) == uri
    assert not FORBIDDEN_IN_A_HEADER & set(str(uri))


@given(URI_TEXT)
def test_any_text_is_an_absolute_uri_that_prints_back_or_an_error(text: str) -> None:
    try:
        uri = AbsoluteURI.parse(text)
    except SIPParseError:
        return
    assert str(uri) == text and AbsoluteURI.parse(str(uri)) == uri and uri.matches(uri)
    assert not FORBIDDEN_IN_A_HEADER & set(text)


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,10}", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9\-_.!~*'()/:@&=+$,;?%]{1,30}", fullmatch=True))
def test_a_valid_absolute_uri_round_trips(scheme: str, opaque: str) -> None:
    uri = AbsoluteURI(scheme, opaque)
    assert AbsoluteURI.parse(str(uri)) == uri
    assert uri.matches(AbsoluteURI(scheme.upper(), opaque))  # schemes are case-insensitive
