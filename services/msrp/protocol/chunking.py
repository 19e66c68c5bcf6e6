"""The sender's side of messages: chunks, priorities, interruption, abort.

RFC 4975 section 7.1.1: a message may go in chunks, each a SEND with the
same Message-ID and its own Byte-Range; a chunk ends with ``+`` when more
follow, ``$`` on the last, ``#`` when the sender gives the message up. So
that a chat message is never stuck behind a file, `Chunker.next_chunk`
always takes the most urgent message with data ready (lowest `priority`,
then the oldest), and a large message goes at most `chunk_size` bytes at a
time: a chat message added meanwhile goes between two chunks of the file,
waiting at most one chunk.

A message's data is given whole (`add` with ``data``) or as it is read
(`add` with ``data=None`` and its `total` if known, then `supply`), so that
a file never sits in memory whole: `wants_data` names the messages whose
buffered data fell below one chunk. Chunks hand out memoryviews of the data
given, with no copy.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

from sipsimple_services.msrp.protocol.errors import MSRPError
from sipsimple_services.msrp.protocol.headers import ByteRange, is_ident

__all__ = ["CHAT", "DEFAULT_CHUNK_SIZE", "FILE", "Chunk", "Chunker"]

DEFAULT_CHUNK_SIZE = 64 * 1024
CHAT = 0  # priorities: lower goes first
FILE = 10


@dataclass(frozen=True, eq=False)
class Chunk:
    """One SEND's worth of a message: bytes ``start`` (1-based) to ``start + len - 1``."""

    message_id: str
    content_type: str
    start: int
    data: memoryview
    total: int | None
    continuation: str  # "$" last, "+" more follow, "#" aborted
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def byte_range(self) -> ByteRange:
        end = self.start + len(self.data) - 1
        if self.continuation == "+" and self.total is None:
            return ByteRange(self.start, end, None)
        return ByteRange(self.start, end, self.total)


@dataclass
class _Outgoing:
    message_id: str
    content_type: str
    priority: int
    order: int
    total: int | None
    headers: tuple[tuple[str, str], ...]
    pieces: deque[memoryview] = field(default_factory=deque)
    buffered: int = 0
    sent: int = 0
    complete: bool = False  # every byte supplied
    aborted: bool = False


class Chunker:
    """Outgoing messages of one session, cut into chunks by priority."""

    def __init__(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size < 1:
            raise MSRPError("chunk size must be positive")
        self.chunk_size = chunk_size
        self._messages: dict[str, _Outgoing] = {}
        self._order = itertools.count()

    def __contains__(self, message_id: object) -> bool:
        return message_id in self._messages

    def __len__(self) -> int:
        return len(self._messages)

    def add(
        self,
        message_id: str,
        content_type: str,
        data: bytes | None = None,
        *,
        total: int | None = None,
        priority: int = CHAT,
        headers: tuple[tuple[str, str], ...] = (),
        offset: int = 0,
    ) -> None:
        """Queue a message; with ``data=None`` its bytes come through `supply`.

        `offset`: the bytes before it are not sent (a resumed file, RFC 5547
        8.2): the first chunk's Byte-Range starts at ``offset + 1``."""
        if not is_ident(message_id):
            raise MSRPError(f"invalid Message-ID {message_id!r}")
        if message_id in self._messages:
            raise MSRPError(f"message {message_id} already queued")
        if offset < 0 or (offset and (data is not None or total is None or offset > total)):
            raise MSRPError("an offset needs a known total, data supplied later, and to be "
                            "within the total")
        if data is not None:
            if total is not None and total != len(data):
                raise MSRPError("total differs from the data's length")
            total = len(data)
        message = _Outgoing(message_id, content_type, priority, next(self._order), total,
                            headers, sent=offset)
        self._messages[message_id] = message
        if data is not None:
            self._append(message, data)
            message.complete = True

    def supply(self, message_id: str, data: bytes, *, final: bool = False) -> None:
        """More bytes of a message added without data; ``final`` after its last."""
        message = self._get(message_id)
        if message.complete:
            raise MSRPError(f"message {message_id} already has all its data")
        self._append(message, data)
        supplied = message.sent + message.buffered
        if message.total is not None and supplied > message.total:
            raise MSRPError(f"message {message_id}: more data than its total {message.total}")
        if final:
            if message.total is not None and supplied != message.total:
                raise MSRPError(f"message {message_id}: {supplied} bytes of {message.total}")
            message.total = supplied
            message.complete = True

    def abort(self, message_id: str) -> None:
        """Give a message up: its next chunk is an empty one ending with ``#``."""
        message = self._get(message_id)
        message.aborted = True
        message.pieces.clear()
        message.buffered = 0

    def wants_data(self) -> list[str]:
        """Messages that hold less than one chunk of data and expect more."""
        return [
            message.message_id for message in self._messages.values()
            if not message.complete and not message.aborted
            and message.buffered < self.chunk_size
        ]

    def has_chunk(self) -> bool:
        return any(self._ready(message) for message in self._messages.values())

    def next_chunk(self) -> Chunk | None:
        """The next chunk to send (the most urgent message first), or None."""
        ready = [message for message in self._messages.values() if self._ready(message)]
        if not ready:
            return None
        message = min(ready, key=lambda item: (item.priority, item.order))
        start = message.sent + 1
        if message.aborted:
            del self._messages[message.message_id]
            return Chunk(message.message_id, message.content_type, start, memoryview(b""),
                         message.total, "#", message.headers)
        data = self._take(message, self.chunk_size)
        message.sent += len(data)
        last = message.complete and message.buffered == 0
        if last:
            del self._messages[message.message_id]
        return Chunk(message.message_id, message.content_type, start, data, message.total,
                     "$" if last else "+", message.headers)

    def _get(self, message_id: str) -> _Outgoing:
        try:
            return self._messages[message_id]
        except KeyError:
            raise MSRPError(f"no message {message_id} queued") from None

    def _ready(self, message: _Outgoing) -> bool:
        # An empty complete message still sends one (empty) chunk.
        return message.aborted or message.buffered > 0 or message.complete

    @staticmethod
    def _append(message: _Outgoing, data: bytes) -> None:
        if data:
            message.pieces.append(memoryview(data))
            message.buffered += len(data)

    @staticmethod
    def _take(message: _Outgoing, size: int) -> memoryview:
        if not message.pieces:
            return memoryview(b"")
        first = message.pieces[0]
        if len(first) > size:
            message.pieces[0] = first[size:]
            message.buffered -= size
            return first[:size]
        if len(first) == size or len(message.pieces) == 1:
            message.pieces.popleft()
            message.buffered -= len(first)
            return first
        # Small pieces (a file read in little bits): join up to one chunk.
        parts = []
        taken = 0
        while message.pieces and taken < size:
            piece = message.pieces.popleft()
            if taken + len(piece) > size:
                message.pieces.appendleft(piece[size - taken :])
                piece = piece[: size - taken]
            parts.append(piece)
            taken += len(piece)
        message.buffered -= taken
        return memoryview(b"".join(parts))
