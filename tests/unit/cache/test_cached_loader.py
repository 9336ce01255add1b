"""CachedLoader: single-flight loads, negative caching, errors not cached, invalidation."""

from __future__ import annotations

import asyncio

import pytest

from linkhop.cache.loader import CachedLoader
from linkhop.cache.lru import MISSING, TTLCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A loader that counts its own calls and can be held open or made to fail."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def load(self, key: str) -> str | None:
        self.calls.append(key)
        self.started.set()
        value = self.data.get(key)  # read when the load starts, like a query would
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return value


def make(source: Source, clock: Clock) -> CachedLoader[str, str]:
    cache: TTLCache[str, str] = TTLCache(maxsize=100, ttl=60.0, negative_ttl=5.0)
    return CachedLoader(source.load, cache=cache, clock=clock)


async def test_concurrent_misses_share_one_load() -> None:
    source, clock = Source({"k": "https://example.com/"}), Clock()
    loader = make(source, clock)
    source.gate.clear()
    waiters = [asyncio.create_task(loader.get("k")) for _ in range(100)]
    await source.started.wait()
    source.gate.set()
    assert await asyncio.gather(*waiters) == ["https://example.com/"] * 100
    assert source.calls == ["k"]
    assert await loader.get("k") == "https://example.com/"  # now from the cache
    assert source.calls == ["k"]
    assert loader.loads == 1


async def test_none_is_negative_cached_until_negative_ttl() -> None:
    source, clock = Source({}), Clock()
    loader = make(source, clock)
    assert await loader.get("missing") is None
    clock.now = 4.9
    assert await loader.get("missing") is None
    assert source.calls == ["missing"]
    assert loader.cache.negative_hits == 1
    clock.now = 5.0
    source.data["missing"] = "created meanwhile"
    assert await loader.get("missing") == "created meanwhile"
    assert source.calls == ["missing", "missing"]


async def test_an_error_reaches_every_waiter_and_is_not_cached() -> None:
    source, clock = Source({"k": "v"}), Clock()
    loader = make(source, clock)
    source.gate.clear()
    source.fail = ConnectionError("database down")
    waiters = [asyncio.create_task(loader.get("k")) for _ in range(10)]
    await source.started.wait()
    source.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert source.calls == ["k"]
    assert loader.load_errors == 1
    assert loader.cache.get("k", clock.now) is MISSING

    source.fail = None
    assert await loader.get("k") == "v"  # retried, not served from a cached failure
    assert source.calls == ["k", "k"]


async def test_a_cancelled_waiter_does_not_cancel_the_shared_load() -> None:
    source, clock = Source({"k": "v"}), Clock()
    loader = make(source, clock)
    source.gate.clear()
    impatient = asyncio.create_task(loader.get("k"))
    patient = asyncio.create_task(loader.get("k"))
    await source.started.wait()
    impatient.cancel()
    source.gate.set()
    assert await patient == "v"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert source.calls == ["k"]


async def test_invalidate_during_a_load_keeps_the_stale_result_out_of_the_cache() -> None:
    source, clock = Source({"k": "old"}), Clock()
    loader = make(source, clock)
    source.gate.clear()
    early = asyncio.create_task(loader.get("k"))
    await source.started.wait()
    loader.invalidate("k")  # e.g. the link was edited while we were reading it
    source.data["k"] = "new"
    source.gate.set()
    assert await early == "old"  # asked before the edit: may see the old value
    assert loader.cache.get("k", clock.now) is MISSING
    assert await loader.get("k") == "new"
    assert source.calls == ["k", "k"]


async def test_invalidate_drops_a_cached_value() -> None:
    source, clock = Source({"k": "v1"}), Clock()
    loader = make(source, clock)
    assert await loader.get("k") == "v1"
    source.data["k"] = "v2"
    assert await loader.get("k") == "v1"
    loader.invalidate("k")
    assert await loader.get("k") == "v2"
