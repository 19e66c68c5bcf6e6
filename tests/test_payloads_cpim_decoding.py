"""sipsimple.payloads.cpim.decoding: reading CPIM bytes, lenient forms, malformed input, limits."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipsimple.payloads.cpim import (
    CPIM_NAMESPACE,
    MAX_HEADER_BYTES,
    CPIMMessage,
    CPIMParseError,
)


def test_lenient_input_forms() -> None:
    data = (
        b"From: <sip:a@b>\n"
        b"To: <sip:b@c>\n"
        b"X-Folded: one\n"
        b"  two\n"
        b"\n"
        b"Content-Type: text/plain;\n"
        b' charset="UTF-8"\n'
        b"\n"
        b"body"
    )
    message = CPIMMessage.decode(data)
    assert message.header("X-Folded") == "one two"
    assert message.charset == "UTF-8"
    assert message.content == b"body"
    # No MIME header block at all: the content defaults to text/plain and is empty.
    bare = CPIMMessage.decode(b"From: <sip:a@b>\r\n\r\n")
    assert (bare.content_type, bare.content) == ("text/plain", b"")
    # MIME headers ended by the end of the data.
    ended = CPIMMessage.decode(b"From: <sip:a@b>\r\n\r\nContent-Type: text/html")
    assert (ended.content_type, ended.content) == ("text/html", b"")


def test_namespaces_scope_and_default() -> None:
    data = b"NS: a <urn:one>\r\na.X: 1\r\nNS: a <urn:two>\r\na.X: 2\r\nOther: 3\r\n\r\n\r\n"
    message = CPIMMessage.decode(data)
    assert message.header("X", "urn:one") == "1"
    assert message.header("X", "urn:two") == "2"
    assert message.header("Other") == "3"
    assert message.header("Other", CPIM_NAMESPACE) == "3"
    assert message.header("Missing") is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"From: <sip:a@b>\r\n",  # headers never end
        b"From <sip:a@b>\r\n\r\n\r\n",
        b"Fr om: <sip:a@b>\r\n\r\n\r\n",
        b"From: <sip:a@b>\r\nFrom: <sip:c@d>\r\n\r\n\r\n",
        b"DateTime: yesterday\r\n\r\n\r\n",
        b"DateTime: 2000-12-13T13:40:00\r\n\r\n\r\n",  # no offset
        b"DateTime: 2000-02-30T13:40:00Z\r\n\r\n\r\n",
        b"DateTime: 2000-12-13T13:40:00Z\r\nDateTime: 2000-12-13T13:40:00Z\r\n\r\n\r\n",
        b"x.Foo: 1\r\n\r\n\r\n",  # undeclared prefix
        b"NS: bad prefix <urn:x>\r\n\r\n\r\n",
        b"NS: p urn:x\r\n\r\n\r\n",
        b"NS: p <>\r\n\r\n\r\n",
        b"Require: a b\r\n\r\n\r\n",
        b"Subject:;lang=fr x\r\nSubject:;lang=FR y\r\n\r\n\r\n",
        b"Subject: x\r\nSubject: y\r\n\r\n\r\n",
        b"Subject:;lang=f_r x\r\n\r\n\r\n",
        b"Subject:;lang x\r\n\r\n\r\n",
        b'Subject:;lang="fr x\r\n\r\n\r\n',
        b" continuation first\r\n\r\n\r\n",
        b"From: \xff\xfe\r\n\r\n\r\n",
        b"From: <sip:a@b>\x00\r\n\r\n\r\n",
        b"X: a\rb\r\n\r\n\r\n",
        b"\r\nContent-Type: text\r\n\r\n",
        b"\r\nContent-Type: text/plain; charset\r\n\r\n",
        b"\r\nContent-Type: text/plain; charset=a b\r\n\r\n",
        b"\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\n",
        b"\r\nbad header line\r\n\r\n",
    ],
)
def test_malformed_messages_raise_cpim_parse_error(data: bytes) -> None:
    with pytest.raises(CPIMParseError):
        CPIMMessage.decode(data)


def test_size_limits() -> None:
    big = b"\r\n\r\n" + b"x" * 1000
    assert CPIMMessage.decode(big, max_size=1004).content == b"x" * 1000
    with pytest.raises(CPIMParseError, match="exceeds the limit"):
        CPIMMessage.decode(big, max_size=1003)
    with pytest.raises(CPIMParseError, match="exceed"):
        CPIMMessage.decode(b"X: " + b"y" * MAX_HEADER_BYTES + b"\r\n\r\n\r\n")
    with pytest.raises(CPIMParseError, match="more than"):
        CPIMMessage.decode(b"X: y\r\n" * 300 + b"\r\n\r\n")
    with pytest.raises(CPIMParseError, match="expected bytes"):
        CPIMMessage.decode("text")  # type: ignore[arg-type]
    # A large body is fine: the limit is on the whole message, headers separately.
    body = b"z\n" * (MAX_HEADER_BYTES * 2)
    assert CPIMMessage.decode(b"\r\n\r\n" + body).content == body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_input_raises_only_cpim_parse_error(data: bytes) -> None:
    with contextlib.suppress(CPIMParseError):
        CPIMMessage.decode(data)


def test_datetime_digits_are_ascii() -> None:
    with pytest.raises(CPIMParseError, match="DateTime"):
        CPIMMessage.decode("DateTime: ٢٠٠٠-12-13T13:40:00Z\r\n\r\n\r\n".encode())
