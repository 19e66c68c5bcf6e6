"""RFC 4975 header values: typed parsing, formatting, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import (
    ByteRange,
    FailureReport,
    Status,
    canonical_name,
    check_header,
    format_path,
    format_use_nickname,
    is_ident,
    parse_byte_range,
    parse_expires,
    parse_failure_report,
    parse_path,
    parse_status,
    parse_success_report,
    parse_use_nickname,
)


def test_byte_range_forms() -> None:
    assert parse_byte_range("1-25/25") == ByteRange(1, 25, 25)
    assert parse_byte_range("1-*/8") == ByteRange(1, None, 8)
    assert parse_byte_range("5-*/*") == ByteRange(5, None, None)
    assert parse_byte_range("1-0/0") == ByteRange(1, 0, 0)  # an empty SEND
    assert str(ByteRange(1, None, None)) == "1-*/*"


@pytest.mark.parametrize("text", ["0-5/5", "1-5/4", "5-2/9", "1-5", "a-b/c", "-1-5/5", ""])
def test_byte_range_invalid(text: str) -> None:
    with pytest.raises(MSRPParseError):
        parse_byte_range(text)


@given(st.integers(1, 10**12), st.integers(0, 10**6), st.integers(0, 10**6), st.booleans(),
       st.booleans())
def test_byte_range_round_trip(start: int, length: int, extra: int, end_known: bool,
                               total_known: bool) -> None:
    end = start + length - 1
    value = ByteRange(start, end if end_known else None, end + extra if total_known else None)
    assert parse_byte_range(str(value)) == value


def test_report_headers() -> None:
    assert parse_failure_report("Partial") is FailureReport.PARTIAL
    assert parse_success_report("yes") is True and parse_success_report("no") is False
    for bad in ("maybe", ""):
        with pytest.raises(MSRPParseError):
            parse_failure_report(bad)
        with pytest.raises(MSRPParseError):
            parse_success_report(bad)
    with pytest.raises(MSRPParseError):
        parse_success_report("partial")  # only Failure-Report has partial


def test_status() -> None:
    assert parse_status("000 200 OK") == Status(200, "OK")
    assert parse_status("000 408") == Status(408)
    assert str(Status(413, "Message Too Large")) == "000 413 Message Too Large"
    for bad in ("200 OK", "000 20", "0000 200"):
        with pytest.raises(MSRPParseError):
            parse_status(bad)


def test_paths() -> None:
    text = ("msrps://relay.example.net:2855/abc;tcp "
            "msrp://bob.example.com:8888/9di4eae923wzd;tcp")
    path = parse_path(text)
    assert len(path) == 2 and path[0].secure and path[1].session_id == "9di4eae923wzd"
    assert format_path(path) == text
    with pytest.raises(MSRPParseError):
        parse_path("  ")
    with pytest.raises(MSRPParseError):
        parse_path("msrp://a/b;tcp nonsense")


def test_expires_idents_and_names() -> None:
    assert parse_expires("900") == 900
    with pytest.raises(MSRPParseError):
        parse_expires("-1")
    assert is_ident("a786hjs2") and not is_ident("abc") and not is_ident("a" * 33)
    assert not is_ident("-abc")
    assert canonical_name("message-id") == "Message-ID"
    assert canonical_name("www-authenticate") == "WWW-Authenticate"
    assert canonical_name("X-Other") == "X-Other"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Message-ID", "ab"),
        ("Byte-Range", "1-x/3"),
        ("Content-Type", "text"),
        ("To-Path", "sip:bob@example.com"),
        ("Min-Expires", "soon"),
        ("Status", "200"),
        ("X-Anything", "bad\x00byte"),
        ("Use-Nickname", "Alice"),
    ],
)
def test_check_header_rejects(name: str, value: str) -> None:
    with pytest.raises(MSRPParseError):
        check_header(name, value)


def test_check_header_accepts_every_rfc_header() -> None:
    for name, value in [
        ("To-Path", "msrp://a.example/s;tcp"),
        ("From-Path", "msrp://b.example:1/t;tcp"),
        ("Use-Path", "msrps://relay.example;tcp"),
        ("Message-ID", "87652491"),
        ("Byte-Range", "1-*/*"),
        ("Success-Report", "yes"),
        ("Failure-Report", "partial"),
        ("Status", "000 200 OK"),
        ("Content-Type", 'message/cpim; charset="utf-8"'),
        ("Content-ID", "<x@y>"),
        ("Content-Description", "a file"),
        ("Content-Disposition", "attachment; filename=a.txt"),
        ("Expires", "900"),
        ("Min-Expires", "60"),
        ("Max-Expires", "3600"),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n"'),
        ("Authorization", 'Digest username="u", response="x"'),
        ("Authentication-Info", 'nextnonce="n2"'),
        ("Use-Nickname", '"Alice the Great"'),
    ]:
        check_header(name, value)


def test_long_paths_parse_without_the_cache() -> None:
    uris = [f"msrps://relay{index}.example.net:2855/session{index};tcp" for index in range(40)]
    text = " ".join(uris)
    assert len(text) > 1024
    path = parse_path(text)
    assert len(path) == 40 and format_path(path) == text
    assert parse_path(uris[0]) is parse_path(uris[0])  # short ones are shared


def test_use_nickname_forms() -> None:
    assert parse_use_nickname('"Alice the Great"') == "Alice the Great"
    assert parse_use_nickname(' "say \\"hi\\" \\\\o/" ') == 'say "hi" \\o/'
    assert parse_use_nickname('""') == ""  # the original SDK sends it to drop a nickname
    assert parse_use_nickname('"Zoë\t🙂"') == "Zoë\t🙂"
    assert format_use_nickname('a "b" \\c') == '"a \\"b\\" \\\\c"'


@pytest.mark.parametrize("text", [
    "Alice", '"unterminated', '"a"b"', '"bad \\x escape"', '"bell\x07"', '"del\x7f"',
    '"' + "x" * 257 + '"', '"a"  "b"'])
def test_use_nickname_invalid_is_424(text: str) -> None:
    with pytest.raises(MSRPParseError) as error:
        parse_use_nickname(text)
    assert error.value.status == 424
    with pytest.raises(MSRPParseError):
        check_header("Use-Nickname", text)


@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t"),
               max_size=256))
def test_use_nickname_round_trip(nickname: str) -> None:
    value = format_use_nickname(nickname)
    check_header("Use-Nickname", value)
    assert parse_use_nickname(value) == nickname


def test_use_nickname_refuses_what_it_cannot_carry() -> None:
    for nickname in ("line\r\nbreak", "nul\x00", "x" * 257):
        with pytest.raises(MSRPParseError):
            format_use_nickname(nickname)
