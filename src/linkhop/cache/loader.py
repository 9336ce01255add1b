"""Read-through loading in front of a ``TTLCache``: one load per key however many requests miss.

Concurrent misses for a key await ONE shared load task (no stampede on the database or Redis). A
``None`` result is cached as a negative entry; an error reaches every waiter and is not cached, so
the next request retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic

from linkhop.cache.lru import MISSING, K, TTLCache, V


class CachedLoader(Generic[K, V]):
    """``get`` from the cache, else from ``load`` with single-flight per key."""

    def __init__(
        self,
        load: Callable[[K], Awaitable[V | None]],
        *,
        cache: TTLCache[K, V],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self._load = load
        self._clock = clock
        self._inflight: dict[K, asyncio.Task[V | None]] = {}
        self.loads = 0
        self.load_errors = 0

    async def get(self, key: K) -> V | None:
        """The value for ``key``, or ``None`` if it does not exist."""
        cached = self.cache.get(key, self._clock())
        if cached is not MISSING:
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._load_and_store(key))
            task.add_done_callback(_mark_retrieved)
            self._inflight[key] = task
        # shield: one waiter being cancelled must not cancel the load the others are awaiting.
        return await asyncio.shield(task)

    def clear(self) -> None:
        """Forget everything; loads already running will not store their results."""
        self.cache.clear()
        self._inflight.clear()

    def invalidate(self, key: K) -> None:
        """Forget ``key``; a load already running for it will not store its (stale) result."""
        self.cache.invalidate(key)
        self._inflight.pop(key, None)

    async def _load_and_store(self, key: K) -> V | None:
        this = asyncio.current_task()
        self.loads += 1
        try:
            value = await self._load(key)
        except Exception:
            self.load_errors += 1
            raise
        finally:
            # Still ours unless invalidate() ran meanwhile; then the result may be stale.
            current = self._inflight.get(key) is this
            if current:
                del self._inflight[key]
        if current:
            now = self._clock()
            if value is None:
                self.cache.put_negative(key, now)
            else:
                self.cache.put(key, value, now)
        return value


def _mark_retrieved(task: asyncio.Task[object]) -> None:
    # Every waiter gets the error through its await; this keeps asyncio from logging
    # "exception was never retrieved" when all waiters were cancelled first.
    if not task.cancelled():
        task.exception()
