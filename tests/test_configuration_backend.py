"""Configuration backends and the file format: round trips, errors, atomic writes."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipsimple.configuration.backend import FileBackend, IConfigurationBackend, MemoryBackend
from sipsimple.configuration.backend.textformat import dumps, loads
from sipsimple.configuration.errors import ConfigurationError, ConfigurationParseError

# -- the format ----------------------------------------------------------------

leaves = st.one_of(st.none(), st.text(), st.lists(st.text(), max_size=4))
trees = st.recursive(
    st.dictionaries(st.text(), leaves, max_size=4),
    lambda children: st.dictionaries(st.text(), st.one_of(leaves, children), max_size=4),
    max_leaves=20,
)
tricky = st.sampled_from(
    [
        "",
        " ",
        " a",
        "a ",
        "a,b",
        '"',
        '""',
        "#",
        "a # b",
        "\\",
        "\n",
        "\r\n",
        "\t",
        "=",
        ":",
        "a: b",
        "\u2028",
        "\x00",
        "\ufeff",
        "é",
        "😀",
        ",",
        "key = value",
        "[x]",
    ]
)


@given(trees)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_arbitrary_trees(data: dict[str, Any]) -> None:
    assert loads(dumps(data)) == data
    assert loads(dumps(data).encode("utf-8")) == data


@given(st.dictionaries(tricky, st.one_of(tricky, st.lists(tricky, max_size=3), st.none())))
def test_round_trip_tricky_strings(data: dict[str, Any]) -> None:
    assert loads(dumps(data)) == data


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (None, "key ="),
        ("", 'key = ""'),
        ("plain words", "key = plain words"),
        (" padded ", 'key = " padded "'),
        ("a, b", 'key = "a, b"'),
        ('say "hi"', 'key = "say \\"hi\\""'),
        ("x # y", 'key = "x # y"'),
        ("line\nbreak", 'key = "line\\nbreak"'),
        ([], "key = ,"),
        (["one"], "key = one,"),
        (["a", "b c", ""], 'key = a, b c, ""'),
    ],
)
def test_written_form_is_readable(value: Any, written: str) -> None:
    assert dumps({"key": value}) == written + "\n"


def test_groups_comments_and_trailing_comments() -> None:
    text = """\
# top comment
SIPSimpleSettings:
    user_agent = my agent   # trailing comment
    sip:
        # inner comment

        transport_list = tls, tcp,
        invite_timeout = 60
    empty:
Accounts:
  "odd key: with colon" = "v"
"""
    assert loads(text) == {
        "SIPSimpleSettings": {
            "user_agent": "my agent",
            "sip": {"transport_list": ["tls", "tcp"], "invite_timeout": "60"},
            "empty": {},
        },
        "Accounts": {"odd key: with colon": "v"},
    }


def test_crlf_and_bom_are_accepted() -> None:
    assert loads("\ufeffa = 1\r\nb:\r\n    c = 2\r\n") == {"a": "1", "b": {"c": "2"}}
    assert loads(b"\xef\xbb\xbfa = x\n") == {"a": "x"}


def test_escapes() -> None:
    assert loads(r'k = "\x41\u00e9\U0001F600\\\"\t"') == {"k": 'Aé😀\\"\t'}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ('a = 1\nb = "open\n', 2, "unterminated"),
        ("a = 1\n  b = 2\n", 2, "unexpected indentation"),
        ("g:\n    a = 1\n  b = 2\n", 3, "indentation does not match"),
        ("a = 1\na = 2\n", 2, "duplicate key"),
        ("a = 1\n\tb = 2\n", 2, "tab in indentation"),
        ("a 1\n", 1, "expected '=' or ':'"),
        ("= 1\n", 1, "expected a key"),
        ("a = x,,y\n", 1, "empty item"),
        ("a = , x\n", 1, "cannot start with ','"),
        ('a = "x" y\n', 1, "expected ','"),
        ('a = x"y\n', 1, "quote the value"),
        ('a = "\\q"\n', 1, "unknown escape"),
        ('a = "\\u12"\n', 1, "hex digits"),
        ('a = "\\UFFFFFFFF"\n', 1, "not a Unicode code point"),
        ("g: x\n", 1, "unexpected text after group"),
    ],
)
def test_errors_name_line_and_problem(text: str, line: int, problem: str) -> None:
    with pytest.raises(ConfigurationParseError) as info:
        loads(text, "/some/config")
    assert info.value.line == line
    assert problem in info.value.problem
    assert str(info.value).startswith(f"/some/config, line {line}: ")


def test_invalid_utf8_names_the_line() -> None:
    with pytest.raises(ConfigurationParseError) as info:
        loads(b"a = 1\nb = \xff\n", "cfg")
    assert (info.value.line, info.value.problem) == (2, "invalid UTF-8")


def test_dumps_rejects_bad_data() -> None:
    for bad in ({"a": 1}, {"a": ["x", 2]}, {1: "x"}, {"a": ("x",)}):
        with pytest.raises(TypeError):
            dumps(bad)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
@settings(max_examples=500)
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        result = loads(data, "fuzz")
    except ConfigurationError:
        return
    assert isinstance(result, dict)


_SAMPLE = dumps(
    {
        "SIPSimpleSettings": {"sip": {"transport_list": ["tls", "udp"], "port": "0"}, "x": None},
        "Accounts": {"a@b": {"auth": {"password": 'p"w\n,#'}, "l": ["one"], "e": []}},
    }
).encode("utf-8")


@given(
    st.lists(
        st.tuples(st.integers(0, len(_SAMPLE) - 1), st.binary(max_size=3), st.integers(0, 3)),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=500)
def test_fuzz_mutated_file(mutations: list[tuple[int, bytes, int]]) -> None:
    data = bytearray(_SAMPLE)
    for position, insert, delete in mutations:
        position = min(position, len(data))
        data[position : position + delete] = insert
    try:
        result = loads(bytes(data), "fuzz")
    except ConfigurationError:
        return
    assert loads(dumps(result)) == result  # anything accepted is also writable


# -- backends ------------------------------------------------------------------


def test_backends_implement_the_interface(tmp_path: Path) -> None:
    assert isinstance(MemoryBackend(), IConfigurationBackend)
    assert isinstance(FileBackend(tmp_path / "config"), IConfigurationBackend)


def test_memory_backend_copies() -> None:
    backend = MemoryBackend()
    assert backend.load() == {}
    data: dict[str, Any] = {"a": {"b": ["c"]}}
    backend.save(data)
    data["a"]["b"].append("mutated")
    loaded = backend.load()
    assert loaded == {"a": {"b": ["c"]}}
    loaded["a"] = None
    assert backend.load() == {"a": {"b": ["c"]}}
    with pytest.raises(TypeError):
        backend.save({"a": 1})


def test_file_backend_round_trip_and_mode(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "sub" / "config")
    assert backend.load() == {}  # missing file: empty configuration
    data = {"g": {"k": "v", "l": ["x", "y"], "n": None}}
    backend.save(data)
    assert backend.load() == data
    assert FileBackend(tmp_path / "sub" / "config").load() == data
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "config").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "sub").st_mode) == 0o700
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["config"]  # no temp files left


def test_file_backend_save_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = FileBackend(tmp_path / "config")
    backend.save({"a": "old"})

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ConfigurationError, match="cannot write"):
        backend.save({"a": "new"})
    monkeypatch.undo()
    assert backend.load() == {"a": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["config"]


def test_corrupt_file_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "config"
    corrupt = b'Accounts:\n    alice@example.com:\n        password = "oops\n'
    path.write_bytes(corrupt)
    backend = FileBackend(path)
    with pytest.raises(ConfigurationParseError) as info:
        backend.load()
    assert info.value.filename == str(path)
    assert info.value.line == 3
    assert str(path) in str(info.value) and "line 3" in str(info.value)
    with pytest.raises(ConfigurationError, match="refusing to overwrite"):
        backend.save({"fresh": "start"})
    assert path.read_bytes() == corrupt
    # A backend that never loaded refuses too: the check is against the disk.
    with pytest.raises(ConfigurationError, match="refusing"):
        FileBackend(path).save({})
    assert path.read_bytes() == corrupt
    backup = backend.reset()
    assert backup is not None and backup.read_bytes() == corrupt
    assert not path.exists()
    backend.save({"fresh": "start"})
    assert backend.load() == {"fresh": "start"}
    assert backend.reset() is not None and FileBackend(path).reset() is None
