"""TTLCache: LRU eviction order, expiry with an injected clock, negative entries, counters."""

from __future__ import annotations

import pytest

from linkhop.cache.lru import MISSING, TTLCache


def make(maxsize: int = 3) -> TTLCache[str, str]:
    return TTLCache(maxsize=maxsize, ttl=10.0, negative_ttl=2.0)


def test_evicts_the_least_recently_used_entry() -> None:
    cache = make(maxsize=3)
    for key in "abc":
        cache.put(key, key.upper(), now=0.0)
    assert cache.get("a", now=1.0) == "A"  # a is now the most recently used
    cache.put("d", "D", now=1.0)
    assert cache.get("b", now=1.0) is MISSING
    assert [cache.get(k, now=1.0) for k in "acd"] == ["A", "C", "D"]
    assert cache.evictions == 1
    assert len(cache) == 3


def test_overwriting_refreshes_recency_without_evicting() -> None:
    cache = make(maxsize=2)
    cache.put("a", "1", now=0.0)
    cache.put("b", "1", now=0.0)
    cache.put("a", "2", now=0.0)
    cache.put("c", "1", now=0.0)
    assert cache.get("a", now=0.0) == "2"
    assert cache.get("b", now=0.0) is MISSING
    assert cache.evictions == 1


def test_entries_expire_after_their_ttl() -> None:
    cache = make()
    cache.put("a", "A", now=100.0)
    cache.put("short", "S", now=100.0, ttl=1.0)
    assert cache.get("a", now=109.9) == "A"
    assert cache.get("short", now=100.5) == "S"
    assert cache.get("short", now=101.0) is MISSING
    assert cache.get("a", now=110.0) is MISSING
    assert len(cache) == 0  # expired entries are dropped when seen


def test_negative_entries_are_distinct_from_missing_and_expire_sooner() -> None:
    cache = make()
    assert cache.get("ghost", now=0.0) is MISSING
    cache.put_negative("ghost", now=0.0)
    assert cache.get("ghost", now=1.9) is None
    assert cache.get("ghost", now=2.0) is MISSING
    assert (cache.hits, cache.negative_hits, cache.misses) == (0, 1, 2)


def test_counters_invalidate_and_clear() -> None:
    cache = make()
    cache.put("a", "A", now=0.0)
    cache.put("b", "B", now=0.0)
    assert cache.get("a", now=0.0) == "A"
    cache.invalidate("a")
    cache.invalidate("never-there")
    assert cache.get("a", now=0.0) is MISSING
    cache.clear()
    assert cache.get("b", now=0.0) is MISSING
    assert (cache.hits, cache.negative_hits, cache.misses) == (1, 0, 2)


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        TTLCache[str, str](maxsize=0, ttl=1.0, negative_ttl=1.0)
