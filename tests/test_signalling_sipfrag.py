"""message/sipfrag status lines: round trip, and only SipFragError for anything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.signalling.sip.message.sipfrag import (
    SipFrag,
    SipFragError,
    build_sipfrag,
    parse_sipfrag,
)

REASON = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=60,
).map(lambda text: text.strip(" \t"))


@given(st.integers(100, 699), REASON)
def test_round_trip(code: int, reason: str) -> None:
    assert parse_sipfrag(build_sipfrag(code, reason)) == SipFrag(code, reason)


@given(st.binary(max_size=300))
def test_garbage_gives_only_the_clear_error(body: bytes) -> None:
    try:
        frag = parse_sipfrag(body)
    except SipFragError:
        return
    assert 100 <= frag.code <= 699


@given(st.text(max_size=200))
def test_text_garbage(text: str) -> None:
    with contextlib.suppress(SipFragError):
        parse_sipfrag(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("body", [
    b"SIP/2.0 100 Trying", b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"SIP/2.0 503 Service Unavailable\n",
])
def test_examples(body: bytes) -> None:
    assert parse_sipfrag(body).code in (100, 200, 503)


@pytest.mark.parametrize("body", [
    b"", b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 99 Low", b"SIP/2.0 700 High",
    b"SIP/1.0 200 OK", b"\xff\xfe", b"SIP/2.0 200 OK" + b"x" * 9000, b"SIP/2.0 200\x00OK",
])
def test_invalid(body: bytes) -> None:
    with pytest.raises(SipFragError):
        parse_sipfrag(body)


@pytest.mark.parametrize(("code", "reason"), [(99, "x"), (700, "x"), (200, "a\r\nb")])
def test_build_refuses(code: int, reason: str) -> None:
    with pytest.raises(SipFragError):
        build_sipfrag(code, reason)
