"""The shared Redis tier between the in-process LRU and the database (architecture.md §3).

Used as the ``load`` of a :class:`~linkhop.cache.loader.CachedLoader`, which already makes it
one load per key per process. A Redis hit costs one GET; only a full miss goes to the database.

- Positive records live ``ttl`` seconds (long: while the database is down, a link Redis still
  holds keeps redirecting); "does not exist" lives ``negative_ttl`` seconds.
- Stale writes: a load that read the database before an edit's commit must not put the old
  record back after the edit's invalidation deleted it, or Redis would serve it for ``ttl``.
  A miss therefore takes a lease (a random token under the lease key) BEFORE reading the
  database, and the store is a Lua compare-and-set on that token. Invalidation deletes the
  lease with the record, so a load that raced an edit caches nothing (memcache "leases").
- Redis down or slow: short timeouts, then a :class:`CircuitBreaker` skips Redis for
  ``cooldown`` seconds, so a dead Redis costs one timeout per cooldown, not one per request.
  The database answers meanwhile; if it fails too, its error propagates (the app's 503).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable
from typing import Final, Generic, Literal, TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from linkhop.cache.breaker import CircuitBreaker
from linkhop.cache.codec import RecordCodec, UndecodableError
from linkhop.cache.lru import MISSING, Missing
from linkhop.cache.redis_keys import record_keys
from linkhop.metrics import CACHE_EVENTS

V = TypeVar("V")
log = structlog.get_logger("linkhop.cache")

NEGATIVE: Final = b"-"
"""The stored value meaning "does not exist" (a record is always a JSON array, ``[…``)."""

# KEYS: record, lease. ARGV: token, value, ttl ms. Store only if our lease is still there.
_STORE_IF_LEASED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_REDIS_HIT = CACHE_EVENTS.labels("redis_hit")
_REDIS_NEGATIVE_HIT = CACHE_EVENTS.labels("redis_negative_hit")
_REDIS_MISS = CACHE_EVENTS.labels("redis_miss")
_REDIS_ERROR = CACHE_EVENTS.labels("redis_error")
_REDIS_BYPASS = CACHE_EVENTS.labels("redis_bypass")
_REDIS_UNDECODABLE = CACHE_EVENTS.labels("redis_undecodable")
_REDIS_ERRORS = (RedisError, OSError)  # OSError covers socket errors and asyncio timeouts


class RedisTier(Generic[V]):
    """Read-through Redis cache of records ``V`` keyed by a tuple of strings."""

    def __init__(
        self,
        client: Redis,
        *,
        codec: RecordCodec[V],
        namespace: str = "link",
        ttl: float = 86_400.0,
        negative_ttl: float = 5.0,
        lease_ttl: float = 10.0,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._codec = codec
        self.namespace = namespace
        self._ttl_ms = max(int(ttl * 1000), 1)
        self._negative_ttl_ms = max(int(negative_ttl * 1000), 1)
        # A load slower than this caches nothing (its lease expired); it still answers.
        self._lease_ttl_ms = max(int(lease_ttl * 1000), 1)
        self.breaker = breaker if breaker is not None else CircuitBreaker(cooldown=5.0)
        self._clock = clock
        self._store = client.register_script(_STORE_IF_LEASED)
        # Lease tokens only need to differ between concurrent loaders of one key, in any process.
        self._token_prefix = f"{os.getpid()}.{os.urandom(6).hex()}."
        self._token_count = itertools.count()
        self.hits = 0
        self.negative_hits = 0
        self.misses = 0
        self.errors = 0
        self.bypassed = 0
        self.undecodable = 0

    async def get_or_load(
        self, key: tuple[str, ...], db_load: Callable[[], Awaitable[V | None]]
    ) -> V | None:
        """The record for ``key`` from Redis, else from ``db_load`` (then stored in Redis)."""
        if not self.breaker.allow(self._clock()):
            self.bypassed += 1
            _REDIS_BYPASS.inc()
            return await db_load()
        record_key, lease_key = record_keys(self.namespace, key)
        try:
            raw = await self._client.get(record_key)
            if raw is not None:
                # A client made with decode_responses=True would hand back str.
                found = self._decode(raw.encode() if isinstance(raw, str) else raw)
                if found is not MISSING:
                    self._recovered()
                    return found
            token = f"{self._token_prefix}{next(self._token_count)}"
            await self._client.set(lease_key, token, px=self._lease_ttl_ms)
        except _REDIS_ERRORS as exc:
            self._failed(exc)
            return await db_load()
        self._recovered()
        self.misses += 1
        _REDIS_MISS.inc()
        value = await db_load()  # the database's errors are the caller's: no fallback left
        try:
            payload, ttl_ms = (
                (NEGATIVE, self._negative_ttl_ms)
                if value is None
                else (self._codec.encode(value), self._ttl_ms)
            )
        except TypeError as exc:  # e.g. a lone surrogate: answer from the database, skip Redis
            log.warning("redis_cache_unencodable", key=repr(key)[:200], error=str(exc))
            return value
        try:
            await self._store(keys=[record_key, lease_key], args=[token, payload, ttl_ms])
        except _REDIS_ERRORS as exc:
            self._failed(exc)
        return value

    def _decode(self, raw: bytes) -> V | Literal[Missing.MISSING] | None:
        if raw == NEGATIVE:
            self.negative_hits += 1
            _REDIS_NEGATIVE_HIT.inc()
            return None
        try:
            record = self._codec.decode(raw)
        except UndecodableError:
            # Another version's entry during a rolling deploy (or corruption): reload it.
            self.undecodable += 1
            _REDIS_UNDECODABLE.inc()
            return MISSING
        self.hits += 1
        _REDIS_HIT.inc()
        return record

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        _REDIS_ERROR.inc()
        if self.breaker.failure(self._clock()):
            # One line per outage: the breaker opens once, then probes quietly.
            log.warning(
                "redis_cache_unavailable",
                error=f"{type(exc).__name__}: {exc}"[:300],
                retry_after_s=self.breaker.cooldown,
            )

    def _recovered(self) -> None:
        if self.breaker.success():
            log.info("redis_cache_recovered")
