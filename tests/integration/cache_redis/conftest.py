"""Fixtures for the Redis cache tier: the machine's Redis, and private Redis servers to kill.

Tests share the Redis on 127.0.0.1:6379 (``LINKHOP_TEST_REDIS_URL``) through a unique key
namespace and channel each. Outage tests start their own ``redis-server`` on a free port
(no persistence) and kill or restart it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis
from tests.conftest import unavailable

from linkhop.cache.redis_keys import cache_client

REDIS_URL = os.environ.get("LINKHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
Eventually = Callable[[Callable[[], bool]], Awaitable[None]]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` process (no RDB, no AOF) that a test may kill and restart."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_timeout=0.2, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    if probe.ping():
                        return
                except redis.RedisError:  # refused while starting, or slow on a busy machine
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.02)
        finally:
            probe.close()

    def kill(self) -> None:
        """SIGKILL the server and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running private Redis server, killed at the end of the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    assert binary is not None
    server = RedisServer(binary, tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def shared_url() -> str:
    """The URL of the machine's Redis that tests share."""
    return REDIS_URL


@pytest.fixture
async def shared_client() -> AsyncIterator[Redis]:
    """A cache client for the machine's Redis (skip locally, fail on CI if it is down)."""
    client = cache_client(REDIS_URL, timeout=1.0)
    try:
        await client.ping()
    except (redis.RedisError, OSError) as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def namespace(shared_client: Redis) -> AsyncIterator[str]:
    """A key namespace of this test alone; its keys are deleted afterwards."""
    name = f"test{uuid.uuid4().hex[:12]}"
    yield name
    async for key in shared_client.scan_iter(match=f"lh:{name}:*", count=500):
        await shared_client.delete(key)


@pytest.fixture
def refused_url() -> Callable[[str], str]:
    """``refused_url("redis")``: a URL of that scheme whose port refuses connections."""
    return lambda scheme: f"{scheme}://127.0.0.1:{free_port()}/0"


@pytest.fixture
def channel() -> str:
    """A pub/sub channel of this test alone."""
    return f"lh:invalidate:test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def eventually() -> Eventually:
    """Await until ``predicate()`` holds, failing after a generous deadline (no speed claim)."""

    async def wait(predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not predicate():
            assert time.monotonic() < deadline, "condition not reached within 10 s"
            await asyncio.sleep(0.01)

    return wait
