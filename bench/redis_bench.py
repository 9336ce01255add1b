"""The Redis the benchmarks use: a database and stream names of their own, cleaned up around runs.

``LINKHOP_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/14``) points the Redis rows at a
Redis; the tests use database 0. Each benchmark has its own stream names (they may run at once,
as in the smoke test), and deletes its streams before and after every run: no worker consumes
the redirect benchmark's stream, and memory must not grow over the rounds. The cache tier's
keys (``lh:link:…``) are deleted the same way, so every run starts from a cold Redis cache.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import redis
from redis.exceptions import RedisError

from linkhop.queue.redis_entries import declared_count

URL = os.environ.get("LINKHOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
_CACHE_PATTERN = "lh:link:*"  # RedisTier(namespace="link"): records and their leases


@dataclass(frozen=True)
class Streams:
    """One benchmark's click stream, dead-letter stream and consumer group."""

    bench: str

    @property
    def stream(self) -> str:
        """The click stream (the braces: a cluster hash tag shared with the DLQ, as linkhop's)."""
        return f"linkhop-bench:{{{self.bench}-clicks}}"

    @property
    def dlq(self) -> str:
        """Dead letters of that stream."""
        return f"{self.stream}:dlq"

    @property
    def group(self) -> str:
        """The consumer group the benchmark's worker joins."""
        return f"linkhop-bench-{self.bench}"

    def env(self, *, url: str = URL) -> dict[str, str]:
        """``LINKHOP_*`` settings pointing a linkhop process at this Redis and these streams."""
        return {
            "LINKHOP_REDIS_URL": url,
            "LINKHOP_CLICK_STREAM": self.stream,
            "LINKHOP_CLICK_STREAM_DLQ": self.dlq,
            "LINKHOP_CLICK_STREAM_GROUP": self.group,
        }


def _client() -> redis.Redis:
    return redis.Redis.from_url(URL, socket_timeout=5, socket_connect_timeout=2)


def unavailable() -> str | None:
    """Why the Redis rows cannot run, or None if Redis answers."""
    try:
        with _client() as client:
            client.ping()
    except (RedisError, OSError) as exc:
        return f"Redis at {URL} is not reachable ({type(exc).__name__}: {exc})"
    return None


def clear(streams: Streams, *, cache: bool = True) -> None:
    """Delete the benchmark's streams (and the Redis cache tier's keys)."""
    with _client() as client:
        client.delete(streams.stream, streams.dlq)
        if cache:
            batch: list[bytes] = []
            for key in client.scan_iter(match=_CACHE_PATTERN, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)


def stream_events(streams: Streams) -> int:
    """Events (not entries) in the click stream: the sum of the packed entries' counts."""
    total = 0
    with _client() as client:
        after = "-"
        while True:
            page = client.xrange(streams.stream, min=after, max="+", count=1000)
            total += sum(declared_count(fields) for _, fields in page)
            if len(page) < 1000:
                return total
            after = "(" + page[-1][0].decode()


def cpu_seconds() -> float | None:
    """User + system CPU of the Redis server so far (it may serve others too), or None."""
    with contextlib.suppress(RedisError, OSError), _client() as client:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return None
