"""Files sent and received by an MSRP session (RFC 5547): the disk side.

File bytes stay in the service: `OutgoingFile` reads a file a chunk at a time
as the session asks for data (`MSRPSession.wants_data`), the next one on the
hub's thread pool while this one is sent, so at most about three chunks of it
are in memory; `IncomingFile` writes the streamed bytes
(`IncomingData`) at their offsets into ``.sipsimple-<random>.partial`` in the
receiving directory, hashing them as they come in order (the file is read
again only if they came out of order), and on completion checks size and
SHA-1, then links the file under a safe unique name (`files.names`): what
fails a check, is aborted or is left when the session ends is deleted, so
nothing corrupt or partial ever carries the final name.

The writing and hashing run on the hub's thread pool (`WriteBehind`), a
batch of pieces at a time, while the service's loop reads and parses on: both
release the GIL, so a transfer uses a second core for them instead of
waiting on them (they were two fifths of the loop's time), and a slow disk
holds up that transfer only, never the other sessions or the bus. A write's
failure comes out of the next `write` or of `finish`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from typing import Any

import gevent

from sipsimple_services.msrp.files.names import safe_name

__all__ = ["PARTIAL_NAME", "FileExpectation", "IncomingFile", "OutgoingFile", "TransferError",
           "find_partial", "hash_file", "resume_name"]

READ_SIZE = 64 * 1024
PROGRESS_INTERVAL = 0.25  # seconds between progress events of one transfer
PARTIAL_NAME = re.compile(r"\.sipsimple-[0-9a-f]{16}\.partial")
# What a file's writer holds before the reader waits for it: bytes and pieces (a
# piece is a view that keeps its whole read alive).
WRITE_BEHIND_BYTES = 8 * 1024 * 1024
WRITE_BEHIND_PIECES = 64


class TransferError(Exception):
    pass


def resume_name(digest: bytes) -> str:
    """The name a kept partial file of the file with SHA-1 `digest` takes: a new
    offer of the same file (same hash) finds it by that name (`find_partial`)."""
    return f".sipsimple-{digest.hex()[:16]}.partial"


def find_partial(directory: str, size: int, digest: bytes) -> tuple[str, int] | None:
    """A kept partial file of the file (`size`, `digest`) in `directory` and its
    length, when it holds part of it (more than nothing, less than all)."""
    path = os.path.join(directory, resume_name(digest))
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or not 0 < info.st_size < size:
        return None
    return path, info.st_size


def hash_file(path: str) -> tuple[int, bytes]:
    """Size and SHA-1 of a file, read in bounded pieces."""
    digest = hashlib.sha1()
    size = 0
    with open(path, "rb") as file:
        while piece := file.read(1024 * 1024):
            digest.update(piece)
            size += len(piece)
    return size, digest.digest()


class Progress:
    """At most one progress report per `PROGRESS_INTERVAL`, and always the last."""

    def __init__(self) -> None:
        self._last = 0.0

    def due(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= PROGRESS_INTERVAL:
            self._last = now
            return True
        return False


class OutgoingFile:
    def __init__(self, message_id: str, path: str, offset: int = 0) -> None:
        self.message_id = message_id
        self.file = open(path, "rb")  # noqa: SIM115 (closed at the end of the transfer)
        self.size = os.fstat(self.file.fileno()).st_size
        if not 0 <= offset <= self.size:
            self.file.close()
            raise TransferError(f"offset {offset} is outside the file ({self.size} bytes)")
        self.offset = self.supplied = offset
        self.progress = Progress()
        # The next piece, read on the hub's thread pool while this one is sent:
        # its (offset, size) and the pending read.
        self._ahead: tuple[tuple[int, int], Any] | None = None
        self._closed = False

    def read(self, size: int = READ_SIZE) -> tuple[bytes, bool]:
        """The next piece (at most `size` bytes: a chunk's) and whether it is the last."""
        want = min(size, self.size - self.supplied)
        data: bytes | None = None
        ahead = self._ahead
        if ahead is not None:
            # The transfer may be closed meanwhile. If this wait is cut short (a kill),
            # the read stays pending in `_ahead` for close() to wait for.
            read = ahead[1].get()
            if self._ahead is ahead:
                self._ahead = None
            if ahead[0] == (self.supplied, want):
                data = read
        if self._closed:
            raise TransferError("the transfer was closed")
        if data is None:
            data = os.pread(self.file.fileno(), want, self.supplied)
        self.supplied += len(data)
        if len(data) < want:
            raise TransferError(f"the file shrank to {self.supplied} bytes while being sent")
        last = self.supplied >= self.size
        if not last:
            following = (self.supplied, min(size, self.size - self.supplied))
            self._ahead = (following, gevent.get_hub().threadpool.spawn(
                os.pread, self.file.fileno(), following[1], following[0]))
        return data, last

    def close(self) -> None:
        """Ends the transfer at once; the file is closed when no read of it is pending
        (a read must not land on a closed, or reused, descriptor)."""
        self._closed = True
        ahead, self._ahead = self._ahead, None
        if ahead is not None and not ahead[1].ready():
            ahead[1].rawlink(lambda _result: self.file.close())
        else:
            self.file.close()


def _write_batch(fd: int, digest: Any, batch: list[tuple[int, memoryview, bool]]) -> None:
    """On a pool thread: each piece written at its offset, and hashed if asked."""
    for offset, data, hashed in batch:
        written = 0
        while written < len(data):
            written += os.pwrite(fd, data[written:], offset + written)
        if hashed:
            digest.update(data)


class WriteBehind:
    """The writes of one file, done on the hub's thread pool a batch at a time: `put`
    returns at once unless too much waits (then its greenlet waits, the loop runs on);
    `wait` until all is written. Raises the OSError of a failed batch."""

    def __init__(self, fd: int, digest: Any) -> None:
        self._fd, self._digest = fd, digest
        self._batch: list[tuple[int, memoryview, bool]] = []
        self._batched = 0
        self._running: Any = None  # the batch being written (an AsyncResult)

    def put(self, offset: int, data: memoryview, hashed: bool) -> None:
        if not isinstance(data.obj, bytes):
            data = memoryview(bytes(data))  # a buffer its owner may reuse: copied
        self._batch.append((offset, data, hashed))
        self._batched += len(data)
        if self._running is not None:
            if not self._running.ready() and self._batched < WRITE_BEHIND_BYTES \
                    and len(self._batch) < WRITE_BEHIND_PIECES:
                return  # joins the next batch
            self._collect()
        self._start()

    def wait(self) -> None:
        self._collect()
        if self._batch:
            self._start()
            self._collect()

    def _start(self) -> None:
        batch, self._batch, self._batched = self._batch, [], 0
        self._running = gevent.get_hub().threadpool.spawn(
            _write_batch, self._fd, self._digest, batch)

    def _collect(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.get()


@dataclass(frozen=True)
class FileExpectation:
    """What the SDP said of a file to receive (None: not said)."""

    directory: str
    name: str
    size: int | None
    hash: bytes | None
    partial: str | None = None  # a kept partial file to continue (`IncomingFile.keep`)
    content: bool = False  # the bytes are published too (msrp.file_data)


class IncomingFile:
    def __init__(self, message_id: str, expectation: FileExpectation) -> None:
        self.message_id = message_id
        self.expectation = expectation
        directory = expectation.directory
        if not os.path.isabs(directory) or not os.path.isdir(directory):
            raise TransferError(f"{directory!r} is not an existing absolute directory")
        self.digest = hashlib.sha1()
        self.hashed = 0  # bytes hashed in order from the start
        self.in_order = True
        self.received = 0
        self.progress = Progress()
        self._writer: WriteBehind | None = None
        nofollow = getattr(os, "O_NOFOLLOW", 0)
        if expectation.partial is None:
            self.partial = os.path.join(directory, f".sipsimple-{secrets.token_hex(8)}.partial")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow
            self.fd: int | None = os.open(self.partial, flags, 0o600)
            return
        self.partial = expectation.partial
        self.fd = os.open(self.partial, os.O_RDWR | nofollow)
        # What is there counts, and is hashed now: the rest follows it.
        while piece := os.read(self.fd, 1024 * 1024):
            self.digest.update(piece)
            self.hashed += len(piece)
        self.received = self.hashed

    def write(self, offset: int, data: memoryview) -> None:
        size = self.expectation.size
        if size is not None and offset + len(data) > size:
            raise TransferError(f"more than the {size} bytes announced")
        assert self.fd is not None
        if self._writer is None:
            self._writer = WriteBehind(self.fd, self.digest)
        in_order = offset == self.hashed and self.in_order
        self._writer.put(offset, data, in_order)
        self.received += len(data)
        if in_order:
            self.hashed += len(data)
        else:
            self.in_order = False

    def finish(self, total: int) -> str:
        """Check size and hash; the final path. Raises `TransferError` (the file is gone)."""
        try:
            return self._finish(total)
        except (OSError, TransferError):
            self.discard()
            raise

    def _finish(self, total: int) -> str:
        assert self.fd is not None
        self._written()
        gevent.get_hub().threadpool.apply(os.fsync, (self.fd,))  # seconds for a large file
        os.close(self.fd)
        self.fd = None
        expected = self.expectation
        actual = os.stat(self.partial).st_size
        if actual != total or (expected.size is not None and total != expected.size):
            raise TransferError(f"size {actual} differs from the {expected.size} announced")
        if expected.hash is not None:
            digest = self.digest.digest() if self.in_order else \
                gevent.get_hub().threadpool.apply(hash_file, (self.partial,))[1]
            if digest != expected.hash:
                raise TransferError("the SHA-1 of the file differs from the one announced")
        while True:
            name = safe_name(expected.name, os.listdir(expected.directory))
            final = os.path.join(expected.directory, name)
            try:
                os.link(self.partial, final)  # never replaces: a racing file keeps its name
            except FileExistsError:
                continue
            os.unlink(self.partial)
            return final

    def _written(self) -> None:
        """Until every piece given is written (or raise its OSError)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.wait()

    def keep(self) -> tuple[str, int] | None:
        """An interrupted transfer: the partial file and its length, kept to
        resume from (RFC 5547 8.2), when its bytes came in order; else discarded."""
        if self.fd is not None:
            try:
                self._written()
            except OSError:
                self.in_order = False  # what was written is not known: not kept
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        if not (self.in_order and self.hashed):
            self.discard()
            return None
        if self.expectation.hash is not None:
            self._rename_for_resume(self.expectation.hash)
        return self.partial, self.hashed

    def _rename_for_resume(self, digest: bytes) -> None:
        """Under `resume_name`, so that a new offer of the same file finds it; of two
        kept parts of one file the longer stays."""
        named = os.path.join(self.expectation.directory, resume_name(digest))
        if named == self.partial:
            return
        with contextlib.suppress(OSError):
            if os.stat(named, follow_symlinks=False).st_size > self.hashed:
                self.discard()
                self.partial = named
                self.hashed = os.stat(named).st_size
                return
        try:
            os.replace(self.partial, named)
        except OSError:
            return  # kept under its own name: still resumable by the path file_failed gives
        self.partial = named

    def discard(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self._written()  # no write may land on a closed (or reused) descriptor
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        with contextlib.suppress(OSError):
            os.unlink(self.partial)
