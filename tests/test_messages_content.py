"""sipsimple.messages.content: reading incoming MESSAGE bodies and wrapping outgoing ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.core import SIPURI, FromHeader, ToHeader
from sipsimple.messages.content import (
    DEFAULT_ACCEPTED_TYPES,
    Received,
    Refusal,
    accepts,
    check_types,
    read_message,
    wrap_cpim,
)
from sipsimple.payloads.iscomposing import IsComposingMessage

ALICE = FromHeader(SIPURI(user="alice", host="example.com"), "Alice")
BOB = ToHeader(SIPURI(user="bob", host="example.org"))


def test_plain_text() -> None:
    result = read_message("text/plain; charset=UTF-8", b"hi", DEFAULT_ACCEPTED_TYPES)
    assert result == Received("text/plain", "UTF-8", b"hi")


@pytest.mark.parametrize(("content_type", "body", "code", "why"), [
    ("text/plain", b"", 400, "no body"),
    (None, b"x", 400, "no Content-Type"),
    ("text", b"x", 400, "invalid Content-Type"),
    ("image/png", b"x", 415, "image/png"),
    ("message/cpim", b"garbage without headers", 400, "malformed CPIM"),
])
def test_refusals(content_type: str | None, body: bytes, code: int, why: str) -> None:
    result = read_message(content_type, body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Refusal) and result.code == code
    assert why in (result.warning or "")
    if code == 415:
        assert result.accept == DEFAULT_ACCEPTED_TYPES


def test_cpim_round_trip_with_imdn() -> None:
    when = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    body = wrap_cpim("text/plain; charset=utf-8", "grüße".encode(), ALICE, BOB, timestamp=when,
                     dispositions=["positive-delivery"], message_id="m1")
    result = read_message("message/cpim", body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Received)
    assert (result.content_type, result.charset, result.body.decode()) == (
        "text/plain", "utf-8", "grüße")
    assert result.cpim is not None and result.cpim.timestamp == when
    assert result.cpim.sender is not None and result.cpim.sender.display_name == "Alice"
    assert [str(r.uri) for r in result.cpim.recipients] == ["sip:bob@example.org"]
    assert result.imdn is not None
    assert (result.imdn.message_id, result.imdn.notifications) == ("m1", ("positive-delivery",))


def test_cpim_checks_the_wrapped_type() -> None:
    body = wrap_cpim("image/png", b"\x89PNG", ALICE, BOB)
    result = read_message("message/cpim", body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Refusal) and result.code == 415
    assert isinstance(read_message("message/cpim", body, (*DEFAULT_ACCEPTED_TYPES, "image/*")),
                      Received)
    nested = wrap_cpim("message/cpim", body, ALICE, BOB)
    result = read_message("message/cpim", nested, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Refusal) and result.code == 400


def test_an_imdn_request_without_message_id_is_malformed() -> None:
    body = (b"From: <sip:a@b>\r\nNS: imdn <urn:ietf:params:imdn>\r\n"
            b"DateTime: 2026-12-06T10:00:00Z\r\nimdn.Disposition-Notification: positive-delivery"
            b"\r\n\r\nContent-Type: text/plain\r\n\r\nx")
    result = read_message("message/cpim", body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Refusal) and result.code == 400


def test_composing() -> None:
    body = IsComposingMessage("idle", refresh=None).encode()
    result = read_message("application/im-iscomposing+xml", body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Received) and result.composing is not None
    assert result.composing.state == "idle"


def test_accepts_and_check_types() -> None:
    assert accepts(("text/*",), "text/html") and accepts(("*/*",), "image/png")
    assert not accepts(("text/plain",), "text/html")
    assert check_types([" Text/Plain", "text/plain", "image/*"]) == ("text/plain", "image/*")
    for bad in ("text", "*/plain", "te xt/plain", "/plain", 7):
        with pytest.raises(ValueError):
            check_types([bad])  # type: ignore[list-item]


def test_wrap_refuses_what_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        wrap_cpim("text/plain", b"x", ALICE, BOB, dispositions=["everything"])


@given(st.sampled_from(["message/cpim", "application/im-iscomposing+xml", "text/plain",
                        "message/imdn+xml", "application/x-unknown", "text/plain;;", ""]),
       st.binary(max_size=2000))
def test_any_body_gets_an_answer(content_type: str, body: bytes) -> None:
    """Bytes from the network never raise: taken, or refused with 400/415."""
    result = read_message(content_type, body, DEFAULT_ACCEPTED_TYPES)
    if isinstance(result, Refusal):
        assert result.code in (400, 415)
    else:
        assert isinstance(result, Received)


@given(st.lists(st.sampled_from(["From: <sip:a@b>", "To: x", "DateTime: 2026-12-06T10:00:00Z",
                                 "", "Content-Type: text/plain", "NS: imdn <urn:ietf:params:imdn>",
                                 "imdn.Message-ID: 1", "imdn.Disposition-Notification: display",
                                 "Content-Type: message/cpim", "\x00", "héllo"]),
                max_size=12))
def test_any_cpim_shaped_body_gets_an_answer(lines: list[str]) -> None:
    body = "\r\n".join(lines).encode()
    result = read_message("message/cpim", body, DEFAULT_ACCEPTED_TYPES)
    assert isinstance(result, Received | Refusal)
    if isinstance(result, Refusal):
        assert result.code in (400, 415)
