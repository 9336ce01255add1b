"""Redis key names for cached records, and the Redis client the cache tier uses.

A record's identity (e.g. ``(domain, key_lookup)``) may hold any Unicode, colons and braces, so
it is hashed: ``lh:{namespace}:v1:{<32 hex>}`` for the record and ``lh:{namespace}:lease:v1:{…}``
for its load lease. Fixed-length keys, nothing to escape, and the braces are a Redis Cluster
hash tag: a record and its lease land in the same slot, as the tier's Lua scripts require.
``v1`` is the key scheme; the value format carries its own schema stamp (``codec.py``).
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def record_keys(namespace: str, identity: tuple[str, ...]) -> tuple[str, str]:
    """(record key, lease key) of one cached record."""
    digest = hashlib.blake2b(digest_size=16)
    for part in identity:
        # Length-prefixed, so ("a:b", "c") and ("a", "b:c") never hash alike; surrogatepass
        # because a key decoded from a URL may hold lone surrogates that UTF-8 rejects.
        raw = part.encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(4, "big"))
        digest.update(raw)
    tag = digest.hexdigest()
    return f"lh:{namespace}:v1:{{{tag}}}", f"lh:{namespace}:lease:v1:{{{tag}}}"


def cache_client(url: str, *, timeout: float) -> Redis:
    """A Redis client for the cache tier and the invalidation bus.

    ``timeout`` bounds connecting and each read, and redis-py's own retries are off (its
    default retries three times with backoff): a failure reaches the circuit breaker at once,
    and the request falls back to the database instead of waiting.
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
