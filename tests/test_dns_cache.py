"""sipsimple_services.dns.cache: TTL expiry, the one-hour cap, size bound."""

from __future__ import annotations

from sipsimple_services.dns.cache import MAX_TTL, TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expiry() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(clock=clock)
    cache.put("k", "v", 10)
    assert cache.get("k") == "v"
    clock.now += 9.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert len(cache) == 0


def test_ttl_is_capped_at_an_hour() -> None:
    clock = Clock()
    cache: TTLCache[str] = TTLCache(clock=clock)
    cache.put("k", "v", 86400)
    clock.now += MAX_TTL - 1
    assert cache.get("k") == "v"
    clock.now += 2
    assert cache.get("k") is None


def test_zero_ttl_is_not_cached_and_replaces() -> None:
    cache: TTLCache[str] = TTLCache(clock=Clock())
    cache.put("k", "v", 100)
    cache.put("k", "w", 0)
    assert cache.get("k") is None


def test_size_bound_drops_oldest() -> None:
    cache: TTLCache[int] = TTLCache(max_entries=3, clock=Clock())
    for index in range(5):
        cache.put(index, index, 100)
    assert len(cache) == 3
    assert cache.get(0) is None and cache.get(1) is None and cache.get(4) == 4
    cache.clear()
    assert len(cache) == 0
