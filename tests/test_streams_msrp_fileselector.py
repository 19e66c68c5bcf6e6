"""RFC 5547 attributes (`sipsimple.streams.msrp.fileselector`): reading and writing."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple.streams.msrp.fileselector import (
    FileRange,
    FileSelector,
    format_file_range,
    parse_file_disposition,
    parse_file_range,
    parse_file_transfer_id,
)

DIGEST = bytes.fromhex("60A1BE8D71DBE38E84C92C629EF299789D6879F6")


def test_the_seed_example_reads() -> None:
    # The original SDK's spelling, sha1 without the dash.
    value = ('name:"reblink.pdf" type:com.adobe.pdf size:268759 '
             'hash:sha1:60:A1:BE:8D:71:DB:E3:8E:84:C9:2C:62:9E:F2:99:78:9D:68:79:F6')
    # com.adobe.pdf has no slash: not a MIME type, so no type.
    assert FileSelector.parse(value) == FileSelector("reblink.pdf", None, 268759, DIGEST)
    selector = FileSelector.parse(value.replace("com.adobe.pdf", "application/pdf"))
    assert selector == FileSelector("reblink.pdf", "application/pdf", 268759, DIGEST)


def test_written_as_rfc_5547_says() -> None:
    selector = FileSelector('my "report" 100%.pdf', "application/pdf", 268759, DIGEST)
    assert str(selector) == (
        'name:"my %22report%22 100%25.pdf" type:application/pdf size:268759 '
        'hash:sha-1:60:A1:BE:8D:71:DB:E3:8E:84:C9:2C:62:9E:F2:99:78:9D:68:79:F6')
    assert FileSelector.parse(str(selector)) == selector
    assert str(FileSelector()) == ""


def test_non_ascii_names_read_raw_or_encoded() -> None:
    assert FileSelector.parse('name:"r%C3%A9sum%C3%A9.txt"').name == "résumé.txt"
    assert FileSelector.parse('name:"résumé.txt"').name == "résumé.txt"
    assert str(FileSelector("é")) == 'name:"%C3%A9"'


def test_unknown_selectors_and_hash_algorithms_are_skipped() -> None:
    selector = FileSelector.parse(f'  hash:md5:00:11 date:"x y" name:"a b"  '
                                  f'HASH:SHA-1:{FileSelector(hash=DIGEST).hash_text}')
    assert selector == FileSelector(name="a b", hash=DIGEST)


def test_type_parameters_are_kept() -> None:
    assert FileSelector.parse('type:text/plain;charset="utf-8" size:0') == \
        FileSelector(type='text/plain;charset="utf-8"', size=0)


@pytest.mark.parametrize("value", [
    'name:"unterminated', "name:bare", 'name:""', 'name:"a%zz"', 'name:"%00"',
    'name:"%FF"', "size:-1", "size:1.5", "size:\u0661", "hash:sha-1:AB:CD", "hash:sha-1:ABCD",
    "noColon", ':"x"',
])
def test_bad_selectors_are_value_errors(value: str) -> None:
    with pytest.raises(ValueError):
        FileSelector.parse(value)


@pytest.mark.parametrize("kwargs", [
    {"size": -1}, {"hash": b"short"}, {"type": "x"}, {"name": ""}, {"name": "a\0"},
    {"name": "\udc80"},
])
def test_bad_fields_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FileSelector(**kwargs)  # type: ignore[arg-type]


names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), min_size=1)
types = st.sampled_from([None, "application/octet-stream", "text/plain", "image/png"])


@given(st.one_of(st.none(), names), types, st.one_of(st.none(), st.integers(0, 2**63)),
       st.one_of(st.none(), st.binary(min_size=20, max_size=20)))
def test_any_selector_round_trips(name: str | None, type_: str | None, size: int | None,
                                  digest: bytes | None) -> None:
    selector = FileSelector(name, type_, size, digest)
    text = str(selector)
    assert "\r" not in text and "\n" not in text and "\0" not in text
    assert FileSelector.parse(text) == selector


@given(st.text())
def test_any_text_reads_or_is_a_value_error(value: str) -> None:
    with contextlib.suppress(ValueError):
        FileSelector.parse(value)


def test_file_range_is_one_based_and_inclusive() -> None:
    assert parse_file_range("1-*") == FileRange(0, None)
    assert parse_file_range("1001-2000") == FileRange(1000, 2000)
    assert parse_file_range("5-4") == FileRange(4, 4)  # empty
    assert format_file_range(FileRange(1000, 2000)) == "1001-2000"
    assert format_file_range(FileRange(65536)) == "65537-*"
    for bad in ("0-*", "1-", "-5", "3-1", "a-b", "1-*-2", ""):
        with pytest.raises(ValueError):
            parse_file_range(bad)


@given(st.integers(0, 2**63), st.one_of(st.none(), st.integers(0, 2**63)))
def test_any_file_range_round_trips(start: int, length: int | None) -> None:
    file_range = FileRange(start, None if length is None else start + length)
    assert parse_file_range(format_file_range(file_range)) == file_range


def test_transfer_id_and_disposition() -> None:
    assert parse_file_transfer_id(" 1f2e-ab ") == "1f2e-ab"
    assert parse_file_disposition("Attachment") == "attachment"
    for bad in ("", "a b", "a\"b"):
        with pytest.raises(ValueError):
            parse_file_transfer_id(bad)
        with pytest.raises(ValueError):
            parse_file_disposition(bad)


def test_hash_text_is_the_sha1_in_colon_hex() -> None:
    digest = hashlib.sha1(b"").digest()
    assert FileSelector(hash=digest).hash_text == ":".join(f"{b:02X}" for b in digest)
