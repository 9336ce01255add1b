"""The Redis client the click stream expects, and the check that a given client fits."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def stream_client(url: str, *, timeout: float = 1.0) -> Redis:
    """A Redis client for the click stream: raw bytes, bounded waits, no hidden retries.

    redis-py retries a failed command by default (10 times, with backoff). For XADD a retry after
    a timeout may append the same events twice, and while Redis is down it delays the fall-back
    to the spool by seconds; the publisher and the worker retry on their own terms instead.
    """
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=False,
    )


def require_bytes_client(redis: Redis) -> None:
    """Refuse a client that decodes replies: payloads are opaque bytes, not text."""
    if redis.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError("the click stream needs a Redis client with decode_responses=False")
