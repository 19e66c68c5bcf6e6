"""transport/files.py in this process: `WriteBehind` writes and hashes on the hub's thread
pool while the loop runs on, an `IncomingFile` built on it ends whole or not at all, an
`OutgoingFile` reads the next piece ahead, and kept parts for a resume."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import gevent
import pytest

from sipsimple_services.msrp.transport.files import (
    PARTIAL_NAME,
    WRITE_BEHIND_PIECES,
    FileExpectation,
    IncomingFile,
    OutgoingFile,
    TransferError,
    WriteBehind,
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


class HeldDigest:
    """A SHA-1 whose updates wait until the test lets them go (on the pool's thread)."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.digest = hashlib.sha1()

    def update(self, data: Any) -> None:
        assert self.go.wait(30)
        self.digest.update(data)


def test_the_loop_runs_while_a_batch_is_written(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    held = HeldDigest()
    writer = WriteBehind(fd, held)
    writer.put(0, memoryview(b"abc"), True)  # its batch waits on the thread: put returned
    ran = gevent.spawn(lambda: "ran")
    assert ran.get(timeout=10) == "ran"  # another greenlet ran meanwhile
    writer.put(3, memoryview(b"def"), True)  # joins the next batch
    held.go.set()
    writer.wait()
    assert os.pread(fd, 10, 0) == b"abcdef"
    assert held.digest.digest() == hashlib.sha1(b"abcdef").digest()
    os.close(fd)


def test_too_much_waiting_makes_put_wait_for_the_batch(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    held = HeldDigest()
    writer = WriteBehind(fd, held)
    writer.put(0, memoryview(b"x"), True)

    def fill() -> None:
        for index in range(1, WRITE_BEHIND_PIECES + 1):
            writer.put(index, memoryview(b"x"), True)

    filling = gevent.spawn(fill)
    gevent.sleep(0)  # it runs until it waits: the batch on the thread cannot end yet
    assert not filling.ready()  # the last put waits for that batch
    held.go.set()
    filling.get(timeout=10)
    writer.wait()
    assert os.pread(fd, 100, 0) == b"x" * (WRITE_BEHIND_PIECES + 1)
    os.close(fd)


def test_a_buffer_its_owner_may_reuse_is_copied(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_RDWR | os.O_CREAT)
    held = HeldDigest()
    writer = WriteBehind(fd, held)
    writer.put(0, memoryview(b"first"), False)
    buffer = bytearray(b"hello")
    writer.put(5, memoryview(buffer), False)
    buffer[:] = b"XXXXX"
    held.go.set()
    writer.wait()
    assert os.pread(fd, 20, 0) == b"firsthello"
    os.close(fd)


def test_a_failed_write_comes_out_of_wait(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "out", os.O_RDONLY | os.O_CREAT)  # pwrite fails: EBADF
    writer = WriteBehind(fd, hashlib.sha1())
    writer.put(0, memoryview(b"data"), True)
    with pytest.raises(OSError):
        writer.wait()
    os.close(fd)


def expecting(tmp_path: Path, data: bytes) -> FileExpectation:
    return FileExpectation(str(tmp_path), "file.bin", len(data), hashlib.sha1(data).digest())


def test_pieces_out_of_order_end_whole(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    incoming = IncomingFile("m1", expecting(tmp_path, data))
    for start in (100_000, 0, 200_000):
        incoming.write(start, memoryview(data)[start:start + 100_000])
    path = incoming.finish(len(data))
    assert Path(path).read_bytes() == data and os.listdir(tmp_path) == ["file.bin"]


def test_a_kept_partial_holds_every_piece_given(tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024)
    incoming = IncomingFile("m1", expecting(tmp_path, data))
    for start in range(0, 4 * 1024 * 1024, 65536):
        incoming.write(start, memoryview(data)[start:start + 65536])
    kept = incoming.keep()  # at once: the writes still under way are waited for
    assert kept is not None and kept[1] == 4 * 1024 * 1024
    assert Path(kept[0]).read_bytes() == data[:4 * 1024 * 1024]


def test_a_failed_write_fails_the_file_and_leaves_nothing(tmp_path: Path) -> None:
    data = b"x" * 100
    incoming = IncomingFile("m1", expecting(tmp_path, data))
    assert incoming.fd is not None
    os.close(incoming.fd)  # the descriptor goes bad under the writer
    incoming.fd = os.open(os.devnull, os.O_RDONLY)  # taken by something else, unwritable
    incoming.write(0, memoryview(data))
    with pytest.raises((OSError, TransferError)):
        incoming.finish(len(data))
    assert os.listdir(tmp_path) == []


def test_a_file_is_read_ahead_piece_after_piece(tmp_path: Path) -> None:
    data = os.urandom(250_000)
    (tmp_path / "out.bin").write_bytes(data)
    outgoing = OutgoingFile("m1", str(tmp_path / "out.bin"), offset=10)
    pieces, last = [], False
    while not last:
        piece, last = outgoing.read(100_000)  # the next one is read meanwhile
        pieces.append(piece)
    outgoing.close()
    assert [len(piece) for piece in pieces] == [100_000, 100_000, 49_990]
    assert b"".join(pieces) == data[10:]


def test_a_file_that_shrinks_while_read_ahead_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(os.urandom(300_000))
    outgoing = OutgoingFile("m1", str(path))
    outgoing.read(100_000)  # the second piece is being read ahead
    os.truncate(path, 150_000)
    with pytest.raises(TransferError, match="shrank"):
        while True:
            outgoing.read(100_000)
    outgoing.close()


def test_a_read_ahead_cut_short_keeps_the_file_open_until_it_lands(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A greenlet killed while it waits for the read ahead (a session ending) must not
    # let close() pull the descriptor from under the pool thread still reading it.
    path = tmp_path / "out.bin"
    path.write_bytes(os.urandom(300_000))
    release, reading = threading.Event(), threading.Event()
    results: list[BaseException | int] = []
    pread = os.pread

    def slow_pread(fd: int, size: int, offset: int) -> bytes:
        if threading.current_thread() is threading.main_thread():
            return pread(fd, size, offset)
        reading.set()
        release.wait(30)
        try:
            data = pread(fd, size, offset)
        except OSError as exc:
            results.append(exc)
            raise
        results.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", slow_pread)
    outgoing = OutgoingFile("m1", str(path))
    outgoing.read(100_000)  # the second piece is now being read ahead
    waiter = gevent.spawn(outgoing.read, 100_000)
    gevent.sleep(0)
    assert reading.wait(30)
    waiter.kill()
    outgoing.close()
    assert not outgoing.file.closed  # the pool thread still reads it
    release.set()
    with gevent.Timeout(30):
        while not outgoing.file.closed:
            gevent.sleep(0.01)
    assert results == [100_000]
    with pytest.raises(TransferError, match="closed"):
        outgoing.read(100_000)
