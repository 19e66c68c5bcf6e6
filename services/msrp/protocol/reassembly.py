"""The receiver's side of messages: chunks put together by Message-ID and Byte-Range.

RFC 4975 section 7.3 (receiving SEND): chunks of one message share its
Message-ID; each Byte-Range says where its bytes go (1-based). Chunks may
come out of order or twice (a relay resends); a total of ``*`` is learnt
from a later chunk or from the last one's end (``$``); a chunk ending with
``#`` aborts the message. A message is complete when every byte from 1 to
its total has arrived, whatever the order.

`Reassembler` tracks the ranges of every message in progress; it keeps the
bytes itself (``buffered``, for chat messages, bounded by `max_bytes`: more
is a 413, section 10) or leaves them to the caller, who writes each piece at
its offset (files), so that a large message never sits in memory.
A kept message's chunk that overlaps bytes already received must carry the
same bytes there (a resent chunk); different ones refuse the message (400):
the sender cannot mean both. A streamed one is checked at its end by its
owner (a file's size and hash).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass, field

from sipsimple_services.msrp.protocol.errors import MSRPParseError
from sipsimple_services.msrp.protocol.headers import ByteRange

__all__ = [
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_MAX_MESSAGES",
    "Aborted",
    "Completed",
    "Progress",
    "Ranges",
    "Reassembler",
]

DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024
DEFAULT_MAX_MESSAGES = 64
FINISHED_MEMORY = 1024  # finished Message-IDs remembered, so that a late duplicate is ignored


class Ranges:
    """A set of byte ranges [start, end) kept merged and sorted."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        # Every range that touches or overlaps [start, end) merges with it.
        low = bisect.bisect_left(self._ends, start)
        high = bisect.bisect_right(self._starts, end)
        if low < high:
            start = min(start, self._starts[low])
            end = max(end, self._ends[high - 1])
        self._starts[low:high] = [start]
        self._ends[low:high] = [end]

    def overlapping(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) already in the set."""
        low = bisect.bisect_right(self._ends, start)
        high = bisect.bisect_left(self._starts, end)
        return [(max(start, self._starts[i]), min(end, self._ends[i])) for i in range(low, high)]

    def covers(self, start: int, end: int) -> bool:
        index = bisect.bisect_right(self._starts, start) - 1
        return end <= start or (index >= 0 and self._ends[index] >= end)

    @property
    def size(self) -> int:
        return sum(end - start for start, end in zip(self._starts, self._ends, strict=True))

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(zip(self._starts, self._ends, strict=True))

    def __repr__(self) -> str:
        return f"Ranges({list(self)})"


@dataclass(frozen=True)
class Progress:
    """A chunk of `message_id` ended; `received` of `total` bytes are in."""

    message_id: str
    received: int
    total: int | None


@dataclass(frozen=True)
class Completed:
    """Every byte of the message arrived; `body` when the reassembler kept it."""

    message_id: str
    total: int
    body: bytes | None


@dataclass(frozen=True)
class Aborted:
    """The sender gave the message up (``#``), or it broke a rule (status)."""

    message_id: str
    status: int | None = None  # None: the sender's abort; 413 too large...


@dataclass
class _Incoming:
    message_id: str
    buffered: bool
    total: int | None = None
    ranges: Ranges = field(default_factory=Ranges)
    data: bytearray = field(default_factory=bytearray)
    # The current chunk:
    chunk_start: int = 0  # 0-based offset of the chunk's first byte
    chunk_size: int = 0


class Reassembler:
    """Messages in progress on one session.

    ``max_bytes`` bounds the bytes kept for all messages in progress together
    (one message may use all of it), ``max_messages`` how many messages may be
    in progress at once: beyond either, the chunk that would pass it gets a
    413 and its message is refused.
    """

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BUFFERED, max_messages: int = DEFAULT_MAX_MESSAGES
    ) -> None:
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self._messages: dict[str, _Incoming] = {}
        self._kept = 0  # bytes kept for the messages in progress
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._refused: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._messages

    def received(self, message_id: str) -> Ranges | None:
        message = self._messages.get(message_id)
        return None if message is None else message.ranges

    def start(
        self, message_id: str, byte_range: ByteRange | None, *, buffered: bool = True,
        have: int = 0,
    ) -> int | None:
        """A chunk of `message_id` begins; the 0-based offset of its first byte.

        None for a chunk of a message that already completed or was aborted
        (a late duplicate): ignore it. A missing Byte-Range means the whole
        message in one chunk (section 7.1.1). Raises `MSRPParseError` (413)
        when a kept message would pass `max_bytes`, or (400) when the range
        contradicts an earlier total. `have`: for a new streamed message, its
        first bytes the caller has already (a resumed file).
        """
        refused = self._refused.get(message_id)
        if refused is not None:  # its later chunks get the same answer
            raise MSRPParseError(f"message {message_id} was refused", status=refused)
        if message_id in self._finished:
            return None
        byte_range = byte_range or ByteRange(1, None, None)
        message = self._messages.get(message_id)
        if message is None:
            if len(self._messages) >= self.max_messages:
                raise self._refuse(
                    message_id, f"more than {self.max_messages} messages in progress", 413)
            message = self._messages[message_id] = _Incoming(message_id, buffered)
            if have and not buffered:
                message.ranges.add(0, have)
        if byte_range.total is not None:
            if message.total is not None and message.total != byte_range.total:
                raise self._refuse(message_id, f"message {message_id}: total changed", 400)
            message.total = byte_range.total
        if message.buffered and message.total is not None and message.total > self.max_bytes:
            raise self._refuse(
                message_id, f"message {message_id} larger than {self.max_bytes} bytes", 413)
        message.chunk_start = byte_range.start - 1
        message.chunk_size = 0
        return message.chunk_start

    def data(self, message_id: str, data: bytes | memoryview) -> int:
        """A piece of the current chunk; the message offset where it goes.

        Kept messages store it; for the others the caller writes it there.
        """
        message = self._messages[message_id]
        offset = message.chunk_start + message.chunk_size
        end = offset + len(data)
        if message.total is not None and end > message.total:
            raise self._refuse(message_id, f"message {message_id}: data beyond its total", 400)
        if message.buffered:
            growth = max(0, end - len(message.data))
            if end > self.max_bytes or self._kept + growth > self.max_bytes:
                raise self._refuse(
                    message_id, f"messages in progress larger than {self.max_bytes} bytes", 413)
            for low, high in message.ranges.overlapping(offset, end):
                if message.data[low:high] != data[low - offset:high - offset]:
                    raise self._refuse(
                        message_id, f"message {message_id}: overlapping Byte-Ranges with "
                        "different bytes", 400)
            if len(message.data) < offset:
                message.data.extend(bytes(offset - len(message.data)))
            message.data[offset:end] = data
            self._kept += growth
        message.chunk_size += len(data)
        return offset

    def end(self, message_id: str, continuation: str) -> Progress | Completed | Aborted:
        """The current chunk ended with `continuation`."""
        message = self._messages[message_id]
        start, end = message.chunk_start, message.chunk_start + message.chunk_size
        if continuation == "#":
            self._finish(message_id)
            return Aborted(message_id)
        message.ranges.add(start, end)
        if continuation == "$":
            if message.total is None:
                message.total = end
            elif end != message.total:
                # "$" ends the message at its total (section 7.1.1)
                self._finish(message_id)
                return Aborted(message_id, 400)
        total = message.total
        if total is not None and message.ranges.covers(0, total):
            self._finish(message_id)
            body = bytes(memoryview(message.data)[:total]) if message.buffered else None
            return Completed(message_id, total, body)
        return Progress(message_id, message.ranges.size, total)

    def drop(self, message_id: str) -> None:
        """Forget a message (refused); its later chunks start it afresh."""
        self._forget(message_id)

    def _forget(self, message_id: str) -> _Incoming | None:
        message = self._messages.pop(message_id, None)
        if message is not None:
            self._kept -= len(message.data)
        return message

    def _refuse(self, message_id: str, text: str, status: int) -> MSRPParseError:
        self._forget(message_id)
        self._refused[message_id] = status
        if len(self._refused) > FINISHED_MEMORY:
            self._refused.popitem(last=False)
        return MSRPParseError(text, status=status)

    def _finish(self, message_id: str) -> None:
        self._forget(message_id)
        self._finished[message_id] = None
        if len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)
