"""Shared pieces of the Redis stream tests: private servers, names, payloads, draining.

A plain module (imported by ``conftest.py`` and the tests) rather than fixtures, because the
subprocess scripts use ``event`` too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from linkhop.queue.base import Batch, ClickConsumer

REDIS_URL = os.environ.get("LINKHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# A safety net against a hang, not a timing assertion.
GIVE_UP_S = 30.0


@dataclass(frozen=True)
class Names:
    """Key names of one test: its stream, dead-letter stream and group."""

    stream: str
    dlq: str
    group: str = "workers"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private ``redis-server`` a test may SIGKILL and restart on the same port and folder."""

    def __init__(self, binary: str, workdir: Path, *, appendfsync: str | None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.appendfsync = appendfsync  # None: no AOF at all
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (loading its AOF if there is one) and wait until it answers."""
        fsync = self.appendfsync
        persistence = ["no"] if fsync is None else ["yes", "--appendfsync", fsync]
        self.proc = subprocess.Popen(
            [
                *(self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", *persistence, "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + GIVE_UP_S
        try:
            while True:
                try:
                    if probe.ping():
                        return
                except redis.BusyLoadingError:  # still loading the AOF
                    pass
                except redis.ConnectionError:
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


def event(tag: str, number: int) -> bytes:
    """A recognisable opaque payload: ``tag:number:`` then up to 199 binary bytes."""
    return f"{tag}:{number}:".encode() + bytes(range(256))[: number % 200]


async def drain(consumer: ClickConsumer, max_items: int = 1000) -> tuple[list[bytes], list[str]]:
    """Read and ack until the queue is empty: every item and every batch token seen."""
    items: list[bytes] = []
    tokens: list[str] = []
    for _ in range(100_000):  # bounded: a cursor bug must fail the test, not hang it
        batch: Batch | None = await consumer.read_batch(max_items)
        if batch is None:
            return items, tokens
        items += batch.items
        tokens.append(batch.token)
        await consumer.ack(batch)
    raise AssertionError("the queue never drained")
