"""An in-process TTL + LRU cache for the redirect hot path, with negative entries.

A hit costs one dict lookup and one ``move_to_end`` (both O(1) in C): the redirect path measured
about 2 µs per request for an LRU hit. The caller passes ``now`` (monotonic seconds), so expiry is
testable without sleeping and a request reads the clock once.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final, Generic, Literal, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing(enum.Enum):
    """The type of ``MISSING``: "not cached", as opposed to a cached negative (``None``)."""

    MISSING = "MISSING"


MISSING: Final = Missing.MISSING


class TTLCache(Generic[K, V]):
    """Bounded LRU whose entries expire; ``None`` is reserved for "known not to exist"."""

    __slots__ = (
        "_data",
        "evictions",
        "hits",
        "maxsize",
        "misses",
        "negative_hits",
        "negative_ttl",
        "ttl",
    )

    def __init__(self, *, maxsize: int, ttl: float, negative_ttl: float) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        # key -> (expires_at, value); insertion order is recency order, oldest first.
        self._data: OrderedDict[K, tuple[float, V | None]] = OrderedDict()
        self.hits = 0
        self.negative_hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: K, now: float) -> V | Literal[Missing.MISSING] | None:
        """The value, ``None`` for a cached negative, or ``MISSING`` if not cached (or expired)."""
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return MISSING
        if entry[0] <= now:
            del self._data[key]
            self.misses += 1
            return MISSING
        self._data.move_to_end(key)
        value = entry[1]
        if value is None:
            self.negative_hits += 1
        else:
            self.hits += 1
        return value

    def put(self, key: K, value: V, now: float, *, ttl: float | None = None) -> None:
        """Cache ``value`` for ``ttl`` seconds (default: the cache's ``ttl``)."""
        self._store(key, value, now + (self.ttl if ttl is None else ttl))

    def put_negative(self, key: K, now: float) -> None:
        """Remember for ``negative_ttl`` seconds that ``key`` does not exist."""
        self._store(key, None, now + self.negative_ttl)

    def invalidate(self, key: K) -> None:
        """Forget ``key`` (positive or negative)."""
        self._data.pop(key, None)

    def clear(self) -> None:
        """Forget everything; counters are kept."""
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def _store(self, key: K, value: V | None, expires_at: float) -> None:
        data = self._data
        data[key] = (expires_at, value)
        data.move_to_end(key)
        if len(data) > self.maxsize:
            data.popitem(last=False)
            self.evictions += 1
