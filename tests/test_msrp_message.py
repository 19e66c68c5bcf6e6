"""MSRP messages: serialization, header order, accessors, responses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msrp_strategies import ALICE, BOB, RFC_RESPONSE, RFC_SEND, messages

from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.headers import ByteRange, FailureReport, Status
from sipsimple_services.msrp.protocol.message import (
    MSRPRequest,
    MSRPResponse,
    contains_end_line,
    make_response,
)
from sipsimple_services.msrp.protocol.parser import parse_messages
from sipsimple_services.msrp.protocol.uri import parse_uri


def rfc_send() -> MSRPRequest:
    return MSRPRequest(
        "a786hjs2", "SEND",
        (("Content-Type", "text/plain"), ("Message-ID", "87652491"),
         ("From-Path", "msrp://atlanta.example.com:7654/jshA7weztas;tcp"),
         ("Byte-Range", "1-25/25"),
         ("To-Path", "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp")),
        b"Hey Bob, are you there?",
    )


def test_serializes_the_rfc_example_with_paths_first_and_content_type_last() -> None:
    assert bytes(rfc_send()) == RFC_SEND


def test_accessors() -> None:
    request = rfc_send()
    assert request.to_path == (parse_uri("msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"),)
    assert request.message_id == "87652491"
    assert request.byte_range == ByteRange(1, 25, 25)
    assert request.content_type == "text/plain"
    assert request.success_report is False
    assert request.failure_report is FailureReport.YES
    assert request.status is None and request.expires is None
    assert request.header("content-type") == "text/plain"


def test_response_per_section_7_2() -> None:
    response = make_response(rfc_send(), 200)
    assert bytes(response) == RFC_RESPONSE
    custom = make_response(rfc_send(), 415, "nope", local_uri=parse_uri(BOB),
                           headers=(("X-A", "b"),))
    assert custom.comment == "nope" and custom.from_path == (parse_uri(BOB),)
    assert custom.header("X-A") == "b"


def test_empty_send_has_no_content_section() -> None:
    request = MSRPRequest("k3eJx9aa", "SEND", (("To-Path", BOB), ("From-Path", ALICE),
                                               ("Message-ID", "abcd1234"),
                                               ("Byte-Range", "1-0/0")))
    assert bytes(request).endswith(b"Byte-Range: 1-0/0\r\n-------k3eJx9aa$\r\n")


def test_report_status_accessor() -> None:
    report = MSRPRequest("abcd1234", "REPORT", (("To-Path", BOB), ("From-Path", ALICE),
                                                ("Status", "000 413 too big")))
    assert report.status == Status(413, "too big")


@pytest.mark.parametrize(
    "build",
    [
        lambda: MSRPRequest("ab", "SEND", ()),
        lambda: MSRPRequest("abcd1234", "send", ()),
        lambda: MSRPRequest("abcd1234", "SEND", (), None, "!"),
        lambda: MSRPRequest("abcd1234", "SEND", (("Bad Name", "x"),)),
        lambda: MSRPRequest("abcd1234", "SEND", (("X", "a\r\nb"),)),
        lambda: MSRPResponse("abcd1234", 20, None, ()),
        lambda: MSRPResponse("abcd1234", 200, "a\nb", ()),
        lambda: bytes(MSRPRequest("abcd1234", "SEND", (("To-Path", BOB),), b"body")),
        lambda: bytes(MSRPRequest("abcd1234", "SEND", (("Content-Type", "a/b"),),
                                  b"x\r\n-------abcd1234$")),
        lambda: make_response(MSRPRequest("abcd1234", "SEND", ()), 200),
    ],
)
def test_invalid_messages_raise(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(MSRPError):
        build()


@given(messages)
def test_serialize_then_parse_gives_the_same_message(message: MSRPRequest | MSRPResponse) -> None:
    assert parse_messages(bytes(message)) == [message]


def _reference_contains_end_line(body: bytes, tid: str) -> bool:
    return re.search(b"\r\n-------" + re.escape(tid.encode()) + rb"[$+#](?:\r\n|\Z)",
                     body) is not None


@given(st.lists(st.sampled_from([b"\r\n", b"-------", b"abcd", b"abce", b"$", b"+", b"#",
                                 b"x", b"\r"]), max_size=14),
       st.sampled_from(["abcd", "abce"]))
def test_contains_end_line_finds_exactly_what_the_parser_would_end_on(
        parts: list[bytes], tid: str) -> None:
    body = b"".join(parts)
    expected = _reference_contains_end_line(body, tid)
    assert contains_end_line(body, tid) is expected
    assert contains_end_line(memoryview(body), tid) is expected
    # A view of part of larger bytes (a chunk of a file's read piece): what lies
    # around it, an end-line included, does not count.
    around = b"\r\n-------" + tid.encode() + b"$\r\n"
    whole = around + body + around
    assert contains_end_line(memoryview(whole)[len(around):-len(around)], tid) is expected
