"""A small TTL cache for DNS answers (positive and negative)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["MAX_TTL", "TTLCache"]

MAX_TTL = 3600  # never trust an answer longer than an hour, whatever its TTL says

V = TypeVar("V")


class TTLCache(Generic[V]):
    def __init__(
        self, max_entries: int = 4096, max_ttl: float = MAX_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_ttl = max_ttl
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self.clock():
            del self._entries[key]
            return None
        return value

    def put(self, key: Hashable, value: V, ttl: float) -> None:
        ttl = min(ttl, self.max_ttl)
        if ttl <= 0:  # TTL 0 means "do not cache" (RFC 1035 3.2.1)
            self._entries.pop(key, None)
            return
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)  # the oldest insertion goes first

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
