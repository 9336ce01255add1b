"""Fixtures for the Redis Streams click queue: the machine's Redis, and private servers.

Most tests share the Redis on 127.0.0.1:6379 (``LINKHOP_TEST_REDIS_URL``) with stream names of
their own. Crash and restart tests start their own ``redis-server`` on a free port, with an
AOF in ``tmp_path`` (or without persistence, to show what that loses), and SIGKILL it; a
restart reuses the same port and folder, so it loads the AOF.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis
from stream_checks import GIVE_UP_S, REDIS_URL, Names, RedisServer
from tests.conftest import unavailable

from linkhop.queue.redis_streams import stream_client

Eventually = Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]]


def _server(tmp_path: Path, *, appendfsync: str | None) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    assert binary is not None
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(binary, workdir, appendfsync=appendfsync)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis with AOF, killed at the end of the test.

    ``appendfsync always``, not production's ``everysec``: measured here, ``everysec`` lost
    acknowledged writes on ``kill -9`` in 5 of 25 tries under disk load (while a background
    fsync runs, Redis postpones writing the AOF buffer for up to 2 s but answers clients), so a
    test counting exactly across a Redis kill would fail at random for reasons not in our code.
    """
    yield from _server(tmp_path, appendfsync="always")


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis with no persistence at all (the machine default): kill -9 loses all."""
    yield from _server(tmp_path, appendfsync=None)


@pytest.fixture
async def shared_redis() -> AsyncIterator[Redis]:
    """A stream client on the machine's Redis (skip locally, fail on CI if it is down)."""
    client = stream_client(REDIS_URL, timeout=2.0)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def names(shared_redis: Redis) -> AsyncIterator[Names]:
    """Stream names of this test alone; deleted afterwards."""
    tag = uuid.uuid4().hex[:12]
    made = Names(stream=f"lh:test:{{{tag}}}:clicks", dlq=f"lh:test:{{{tag}}}:clicks:dlq")
    yield made
    await shared_redis.delete(made.stream, made.dlq)


@pytest.fixture
def eventually() -> Eventually:
    """Await until ``predicate()`` holds, failing after a generous deadline (no speed claim)."""

    async def wait(predicate: Callable[[], Awaitable[bool]]) -> None:
        deadline = time.monotonic() + GIVE_UP_S
        while not await predicate():
            assert time.monotonic() < deadline, f"condition not reached within {GIVE_UP_S} s"
            await asyncio.sleep(0.02)

    return wait
