"""InvalidationBus: Redis deletes plus pub/sub to every replica, and the listener's recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from redis.asyncio import Redis

from linkhop.cache.invalidation import Identity, InvalidationBus, decode_message, encode_message
from linkhop.cache.redis_keys import cache_client, record_keys

if TYPE_CHECKING:
    from conftest import Eventually, RedisServer  # this folder's fixtures (not a package)

Received = list[list[Identity] | None]


@asynccontextmanager
async def replica(
    client: Redis, channel: str, **kwargs: float
) -> AsyncIterator[tuple[InvalidationBus, Received]]:
    """A listening bus, as in one redirect process; yields it and what its callback got."""
    bus = InvalidationBus(client, channel=channel, **kwargs)  # type: ignore[arg-type]
    received: Received = []
    stop = asyncio.Event()
    task = asyncio.create_task(bus.listen(received.append, stop=stop))
    try:
        yield bus, received
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_messages_round_trip_and_foreign_ones_mean_clear_all() -> None:
    identities = [("lh.to", "abc"), ("例え.jp", "Ключ:}{")]
    assert decode_message(encode_message(identities)) == identities
    assert decode_message(encode_message([])) == []
    for foreign in [b"", b"{}", b'"x"', b"[1]", b'[["a", 2]]', b"\xff", b'{"v": 2, "links": []}']:
        assert decode_message(foreign) is None


async def test_two_replicas_hear_an_invalidation(
    shared_client: Redis, shared_url: str, channel: str, eventually: Eventually
) -> None:
    other = cache_client(shared_url, timeout=1.0)
    try:
        async with (
            replica(shared_client, channel) as (_, first),
            replica(other, channel) as (_, second),
        ):
            # Each starts with "clear everything": it could not hear anything before.
            await eventually(lambda: first == [None] and second == [None])
            api = InvalidationBus(shared_client, channel=channel)
            await api.publish([("lh.to", "abc"), ("lh.to", "x:y")])
            expected = [None, [("lh.to", "abc"), ("lh.to", "x:y")]]
            await eventually(lambda: first == expected and second == expected)
    finally:
        await other.aclose()


async def test_publish_deletes_records_and_leases(
    shared_client: Redis, namespace: str, channel: str
) -> None:
    keys = [("lh.to", "a"), ("lh.to", "b")]
    for identity in [*keys, ("lh.to", "kept")]:
        for name in record_keys(namespace, identity):
            await shared_client.set(name, b"x")
    bus = InvalidationBus(shared_client, namespace=namespace, channel=channel)
    await bus.publish(keys)
    for identity in keys:
        assert await shared_client.exists(*record_keys(namespace, identity)) == 0
    assert await shared_client.exists(*record_keys(namespace, ("lh.to", "kept"))) == 2


async def test_bulk_publish_is_chunked_and_all_delivered(
    shared_client: Redis, channel: str, eventually: Eventually
) -> None:
    keys = [("lh.to", f"k{i}") for i in range(2500)]
    async with replica(shared_client, channel) as (_, received):
        await eventually(lambda: received == [None])
        await InvalidationBus(shared_client, channel=channel).publish(keys)
        await eventually(lambda: sum(len(m or []) for m in received) == len(keys))
    assert len(received) == 1 + 3  # chunks of 1000
    assert [k for m in received[1:] for k in m or []] == keys


async def test_a_foreign_message_flushes_everything(
    shared_client: Redis, channel: str, eventually: Eventually
) -> None:
    async with replica(shared_client, channel) as (bus, received):
        await eventually(lambda: received == [None])
        await shared_client.publish(channel, b'{"v": 2}')
        await eventually(lambda: received == [None, None])
        await bus.publish_reset()
        await eventually(lambda: received == [None, None, None])
    assert bus.resets == 3


async def test_a_failing_callback_does_not_stop_the_listener(
    shared_client: Redis, channel: str, eventually: Eventually
) -> None:
    calls: Received = []

    def callback(identities: list[Identity] | None) -> None:
        calls.append(identities)
        if identities and identities[0][1] == "boom":
            raise RuntimeError("bug in the callback")

    bus = InvalidationBus(shared_client, channel=channel)
    stop = asyncio.Event()
    task = asyncio.create_task(bus.listen(callback, stop=stop))
    try:
        await eventually(lambda: calls == [None])
        with structlog.testing.capture_logs() as logs:
            await bus.publish([("d", "boom")])
            await bus.publish([("d", "fine")])
            await eventually(lambda: len(calls) == 3)
        assert calls[2] == [("d", "fine")]
        assert [e["event"] for e in logs] == ["cache_invalidation_callback_failed"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_listener_reconnects_after_a_restart_and_clears_everything(
    redis_server: RedisServer, eventually: Eventually
) -> None:
    client = cache_client(redis_server.url, timeout=2.0)
    try:
        with structlog.testing.capture_logs() as logs:
            async with replica(client, "lh:invalidate") as (bus, received):
                await eventually(lambda: received == [None])
                redis_server.kill()
                await asyncio.sleep(1.0)  # an outage long enough for several retries
                redis_server.start()
                # Messages may have been missed while down: the callback is told to clear all.
                await eventually(lambda: received == [None, None])
                await InvalidationBus(client).publish([("lh.to", "abc")])
                await eventually(lambda: received == [None, None, [("lh.to", "abc")]])
        events = [e["event"] for e in logs]
        # One line when the outage starts and one when it ends, not one per retry.
        assert events == [
            "cache_invalidation_listener_lost",
            "cache_invalidation_listener_recovered",
        ]
        assert bus.resets == 2
    finally:
        await client.aclose()


async def test_listener_notices_a_silent_connection_and_clears_everything(
    redis_server: RedisServer, eventually: Eventually
) -> None:
    client = cache_client(redis_server.url, timeout=2.0)
    admin = cache_client(redis_server.url, timeout=2.0)
    try:
        async with replica(client, "lh:invalidate", ping_interval=0.5) as (bus, received):
            await eventually(lambda: received == [None])
            # The server stops answering anyone (like a dead link that sends no RST).
            await admin.client_pause(3000, all=True)
            await eventually(lambda: len(received) >= 2)
        assert all(r is None for r in received)
        assert bus.resets >= 2
    finally:
        await client.aclose()
        await admin.aclose()


async def test_publish_nowait_retries_until_redis_is_back(redis_server: RedisServer) -> None:
    client = cache_client(redis_server.url, timeout=2.0)
    try:
        redis_server.kill()
        api = InvalidationBus(client)
        with structlog.testing.capture_logs() as logs:
            api.publish_nowait([("lh.to", "abc")])
            api.publish_nowait([("lh.to", "abc"), ("lh.to", "def")])  # queued once each
            await asyncio.sleep(0.5)  # several failed attempts
            assert api.published == 0
            redis_server.start()
            assert await api.aclose(grace=10) is True
        assert api.published == 2
        assert [e["event"] for e in logs] == [
            "cache_invalidation_publish_failed",
            "cache_invalidation_publish_recovered",
        ]
    finally:
        await client.aclose()


async def test_publish_nowait_bounds_its_queue(refused_url: Callable[[str], str]) -> None:
    client = cache_client(refused_url("redis"), timeout=0.1)
    bus = InvalidationBus(client, max_pending=3)
    try:
        with structlog.testing.capture_logs() as logs:
            bus.publish_nowait([("d", str(i)) for i in range(5)])
        assert bus.dropped == 2
        assert [e["event"] for e in logs] == ["cache_invalidations_dropped"]
        assert await bus.aclose(grace=0.2) is False
    finally:
        await client.aclose()


async def test_an_unpublishable_identity_is_dropped_not_retried_forever(
    shared_client: Redis, channel: str
) -> None:
    bus = InvalidationBus(shared_client, channel=channel)
    with structlog.testing.capture_logs() as logs:
        bus.publish_nowait([("lh.to", "bad\ud800")])  # orjson refuses lone surrogates
        assert await bus.aclose(grace=5) is True
    assert (bus.dropped, bus.published) == (1, 0)
    assert [e["event"] for e in logs] == ["cache_invalidations_dropped"]
