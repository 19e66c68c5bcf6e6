"""The disk side of file transfer (transport/files.py): kept parts for a resume."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sipsimple_services.msrp.transport.files import (
    PARTIAL_NAME,
    FileExpectation,
    IncomingFile,
    find_partial,
    resume_name,
)

DATA = os.urandom(10_000)
DIGEST = hashlib.sha1(DATA).digest()


def received(directory: Path, count: int, digest: bytes | None = DIGEST) -> IncomingFile:
    incoming = IncomingFile("m1", FileExpectation(str(directory), "a.bin", len(DATA), digest))
    incoming.write(0, memoryview(DATA[:count]))
    return incoming


def test_a_kept_part_is_named_after_the_files_hash(tmp_path: Path) -> None:
    kept = received(tmp_path, 4000).keep()
    assert kept == (str(tmp_path / resume_name(DIGEST)), 4000)
    assert PARTIAL_NAME.fullmatch(resume_name(DIGEST))
    assert os.listdir(tmp_path) == [resume_name(DIGEST)]
    assert find_partial(str(tmp_path), len(DATA), DIGEST) == kept
    assert find_partial(str(tmp_path), len(DATA), bytes(20)) is None  # another file


def test_of_two_kept_parts_of_one_file_the_longer_stays(tmp_path: Path) -> None:
    received(tmp_path, 6000).keep()
    assert received(tmp_path, 2000).keep() == (str(tmp_path / resume_name(DIGEST)), 6000)
    assert received(tmp_path, 8000).keep() == (str(tmp_path / resume_name(DIGEST)), 8000)
    assert os.listdir(tmp_path) == [resume_name(DIGEST)]


def test_without_a_hash_the_part_keeps_its_own_name(tmp_path: Path) -> None:
    partial, count = received(tmp_path, 3000, digest=None).keep() or ("", 0)
    assert count == 3000 and PARTIAL_NAME.fullmatch(Path(partial).name)
    assert Path(partial).name != resume_name(DIGEST)


def test_a_kept_part_continues_to_the_whole_file(tmp_path: Path) -> None:
    partial, count = received(tmp_path, 4000).keep() or ("", 0)
    resumed = IncomingFile("m2", FileExpectation(str(tmp_path), "a.bin", len(DATA), DIGEST,
                                                 partial))
    resumed.write(count, memoryview(DATA[count:]))
    final = resumed.finish(len(DATA))
    assert Path(final).read_bytes() == DATA and os.listdir(tmp_path) == ["a.bin"]


def test_find_partial_takes_only_a_real_part(tmp_path: Path) -> None:
    named = tmp_path / resume_name(DIGEST)
    for content in (b"", DATA):  # nothing, or all of it: no part to continue
        named.write_bytes(content)
        assert find_partial(str(tmp_path), len(DATA), DIGEST) is None
    named.unlink()
    (tmp_path / "elsewhere").write_bytes(b"x" * 10)
    named.symlink_to(tmp_path / "elsewhere")  # a link is no part we made
    assert find_partial(str(tmp_path), len(DATA), DIGEST) is None
    assert find_partial(str(tmp_path / "missing"), len(DATA), DIGEST) is None
