"""The peer's files of one MSRP session (RFC 5547): those its SDP announced, taken
in order as their messages come, streamed to disk (`IncomingFile`), and what
happens to them as the bus events ``file_data``, ``file_progress``,
``file_received`` and ``file_failed``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from sipsimple_services.msrp.protocol.session import IncomingData, MessageAborted, MessageReceived
from sipsimple_services.msrp.transport.files import FileExpectation, IncomingFile, TransferError

__all__ = ["Emit", "FileReceiver", "have"]

Emit = Callable[[str, dict[str, Any]], None]  # a bus event's name and data


def have(expectation: FileExpectation) -> int:
    """The bytes of a kept partial file to continue (0: a new file)."""
    if expectation.partial is None:
        return 0
    return os.stat(expectation.partial).st_size


class FileReceiver:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.announced: list[FileExpectation] = []  # not begun yet, taken in order
        self._incoming: dict[str, IncomingFile] = {}  # being written

    def interrupt(self, reason: str) -> None:
        """The session ended: the files being written are kept as partial ones."""
        for incoming in self._incoming.values():
            self._interrupted(incoming, reason)
        self._incoming.clear()

    def handle(self, event: IncomingData | MessageAborted | MessageReceived) -> None:
        """A message of a file (its data, its end, its abort): to disk, and its events."""
        message_id = event.message_id
        incoming = self._incoming.get(message_id)
        if incoming is None:
            if isinstance(event, MessageAborted) or not self.announced:
                return
            try:
                incoming = IncomingFile(message_id, self.announced.pop(0))
            except (OSError, TransferError) as exc:
                self._emit("file_failed", {"message_id": message_id, "partial": None,
                                           "received": 0,
                                           "reason": f"cannot write the file: {exc}"})
                return
            self._incoming[message_id] = incoming
        if isinstance(event, MessageAborted):
            del self._incoming[message_id]
            if event.status is None:
                self._interrupted(incoming, "aborted by the sender")
            else:
                incoming.discard()
                self._emit("file_failed", {"message_id": message_id, "partial": None,
                                           "received": 0, "reason": f"refused ({event.status})"})
            return
        if isinstance(event, IncomingData):
            try:
                incoming.write(event.offset, event.data)
            except (OSError, TransferError) as exc:
                del self._incoming[message_id]
                incoming.discard()
                self._emit("file_failed", {"message_id": message_id, "partial": None,
                                           "received": 0, "reason": str(exc)})
                return
            total = incoming.expectation.size
            if incoming.expectation.content:  # asked for: the bytes cross the bus
                self._emit("file_data", {"message_id": message_id, "offset": event.offset,
                                         "data": bytes(event.data)})
            if incoming.progress.due():
                self._emit("file_progress", {"message_id": message_id,
                                             "transferred": incoming.received, "total": total})
            return
        del self._incoming[message_id]
        try:
            path = incoming.finish(event.size)
        except (OSError, TransferError) as exc:
            self._emit("file_failed", {"message_id": message_id, "partial": None,
                                           "received": 0, "reason": str(exc)})
            return
        self._emit("file_received", {"message_id": message_id, "path": path,
                                     "size": event.size, "content_type": event.content_type})

    def _interrupted(self, incoming: IncomingFile, reason: str) -> None:
        kept = incoming.keep()
        self._emit("file_failed", {"message_id": incoming.message_id,
                                   "partial": kept[0] if kept else None,
                                   "received": kept[1] if kept else 0, "reason": reason})
