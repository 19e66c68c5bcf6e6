"""The ids a client chooses for the objects it asks a media worker to make, and
the ids it ended before they were made.

The facade names each stream and port it creates (`create_stream`'s
`stream_id`, `create_port`'s `port_id`; docs/media.md, "Media workers"), so that
a create it gave up waiting for can still be undone: it sends `end_stream` (or
`destroy_port`) naming the id. If that comes first, the worker keeps the id as
cancelled and refuses the create when it comes, so nothing is made that no
client knows of. Asking again for an id the same client made is answered as
the first time (a create is idempotent).
"""

from __future__ import annotations

import re
from collections import OrderedDict

__all__ = ["CANCELLED_LIMIT", "Cancelled", "check_port_id", "check_stream_id",
           "is_port_id", "is_stream_id"]

_STREAM_ID = re.compile(r"[0-9a-f]{32}")
_PORT_ID = re.compile(r"([a-z]+)-[0-9a-f]{16,32}")  # never "<mixer>-device"
# Ends of unknown ids remembered; a create comes at most seconds after its end.
CANCELLED_LIMIT = 4096


def is_stream_id(value: str) -> bool:
    return _STREAM_ID.fullmatch(value) is not None


def is_port_id(value: str, kind: str | None = None) -> bool:
    match = _PORT_ID.fullmatch(value)
    return match is not None and (kind is None or match.group(1) == kind)


def check_stream_id(value: str) -> None:
    if not is_stream_id(value):
        raise ValueError(f"stream_id {value[:80]!r}: 32 lowercase hex digits")


def check_port_id(value: str, kind: str) -> None:
    if not is_port_id(value, kind):
        raise ValueError(f"port_id {value[:80]!r}: {kind!r}, '-' and 16 to 32 lowercase "
                         f"hex digits")


class Cancelled:
    """The last CANCELLED_LIMIT ids ended before they existed, oldest dropped first."""

    def __init__(self, limit: int = CANCELLED_LIMIT) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, object_id: str) -> None:
        self._ids[object_id] = None
        self._ids.move_to_end(object_id)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, object_id: object) -> bool:
        return object_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)
