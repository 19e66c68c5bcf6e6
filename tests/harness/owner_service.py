"""A service used by the bus tests: it owns objects on behalf of clients.

It is the real Service base with a tiny method table, so the tests exercise
ownership and cleanup exactly as a protocol service would use them.
"""

from __future__ import annotations

import time
from typing import ClassVar

import gevent

from sipsimple.bus.schema import Method, Param
from sipsimple_services.common.service import ErrorCode, Service, ServiceError, main


class OwnerService(Service):
    name = "media"  # borrows a known service name for its endpoints
    methods: ClassVar[dict[str, Method]] = {
        "create": Method("create", (Param("key", (str,)),)),
        "destroy": Method("destroy", (Param("key", (str,)),)),
        "sleep": Method("sleep", (Param("seconds", (float, int)),)),
        "fail": Method("fail"),
        "crash": Method("crash"),
        "emit": Method("emit", (Param("count", (int,)),)),
        "stall": Method("stall", (Param("seconds", (float, int)),)),
    }

    blocking_methods = frozenset({"sleep"})

    def __init__(self) -> None:
        super().__init__()
        self.objects: set[str] = set()

    def rpc_create(self, client: str, key: str) -> list[str]:
        self.objects.add(key)
        self.own(client, key, lambda: self._end(key))
        return sorted(self.objects)

    def rpc_destroy(self, client: str, key: str) -> None:
        if key not in self.objects:
            raise ServiceError(ErrorCode.NOT_FOUND, f"no object {key!r}")
        self.disown(client, key)
        self._end(key)

    def _end(self, key: str) -> None:
        self.objects.discard(key)
        self.publish("test.ended", key, {"key": key})

    def rpc_sleep(self, client: str, seconds: float) -> float:
        gevent.sleep(seconds)
        return seconds

    def rpc_fail(self, client: str) -> None:
        raise ServiceError(ErrorCode.FAILED, "asked to fail")

    def rpc_crash(self, client: str) -> None:
        raise RuntimeError("a bug")

    def rpc_stall(self, client: str, seconds: float) -> None:
        """Answer, then keep the whole process from serving for `seconds` (as an
        overloaded engine greenlet that does not yield would)."""
        gevent.spawn(time.sleep, seconds)  # time is not monkey-patched here

    def rpc_emit(self, client: str, count: int) -> int:
        for index in range(count):
            self.publish("test.tick", "ticker", {"index": index})
        return count


if __name__ == "__main__":
    main(OwnerService)
