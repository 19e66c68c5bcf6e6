"""Safe unique names for received files (`sipsimple_services.msrp.files.names`)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipsimple_services.msrp.files.names import MAX_NAME_BYTES, safe_name

HOSTILE = [
    ("../../etc/passwd", "passwd"),
    ("/etc/shadow", "shadow"),
    ("..\\..\\Windows\\system.ini", "system.ini"),
    ("C:\\boot.ini", "boot.ini"),
    ("a\0b.txt", "a_b.txt"),
    ("line\r\nbreak.txt", "line_break.txt"),
    ("..", "file"),
    (".", "file"),
    ("", "file"),
    ("\0", "file"),
    ("dir/", "file"),
    (".bashrc", "bashrc"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1.tar.gz", "_com1.tar.gz"),
    ("LPT9", "_LPT9"),
    ("console.txt", "console.txt"),
    ("trailing. . ", "trailing"),
    ("what?<>|*.txt", "what_.txt"),
    ("invoice\u202etxt.exe", "invoice_txt.exe"),
    ("caf\u0065\u0301.txt", "caf\u00e9.txt"),
]


@pytest.mark.parametrize(("proposed", "expected"), HOSTILE)
def test_hostile_names_become_plain_names(proposed: str, expected: str) -> None:
    assert safe_name(proposed) == expected


def test_a_taken_name_gets_a_number_before_the_extension() -> None:
    assert safe_name("a.txt", ["a.txt"]) == "a (1).txt"
    assert safe_name("a.txt", ["A.TXT", "a (1).txt"]) == "a (2).txt"
    assert safe_name("README", ["README"]) == "README (1)"
    assert safe_name("../a.txt", ["b.txt"]) == "a.txt"


def test_an_over_long_name_is_cut_keeping_its_extension() -> None:
    name = safe_name("é" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= MAX_NAME_BYTES
    assert name[:-4] == "é" * ((MAX_NAME_BYTES - 4) // 2)
    taken = safe_name("x" * 400 + ".pdf", [name, "x" * 251 + ".pdf"])
    assert taken == "x" * 247 + " (1).pdf"


def test_a_long_suffix_is_no_extension() -> None:
    name = safe_name("a." + "b" * 300)
    assert len(name.encode()) == MAX_NAME_BYTES and name.startswith("a.bbb")


def test_max_bytes_may_be_lowered_but_not_below_a_name() -> None:
    assert safe_name("abcdefghij" * 10 + ".txt", max_bytes=40) == "abcdefghij" * 3 + "abcdef.txt"
    with pytest.raises(ValueError):
        safe_name("a", max_bytes=10)


@given(st.text(), st.lists(st.text(max_size=20), max_size=5),
       st.integers(min_value=32, max_value=MAX_NAME_BYTES))
def test_any_name_stays_one_safe_unique_component(proposed: str, existing: list[str],
                                                  max_bytes: int) -> None:
    existing += [safe_name(proposed, max_bytes=max_bytes)]
    name = safe_name(proposed, existing, max_bytes)
    assert name and name not in (".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert not any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name)
    assert len(name.encode("utf-8")) <= max_bytes
    assert name.casefold() not in {entry.casefold() for entry in existing}
    assert name.split(".")[0].upper() not in ("CON", "PRN", "AUX", "NUL")
