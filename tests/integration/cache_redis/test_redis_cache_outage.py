"""RedisTier when Redis is down: the database answers and the breaker skips Redis for a while."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog
from redis.asyncio import Redis

from linkhop.cache.breaker import CircuitBreaker
from linkhop.cache.codec import RecordCodec
from linkhop.cache.redis_keys import cache_client
from linkhop.cache.redis_tier import RedisTier
from linkhop.redirects.decision import LinkRecord

if TYPE_CHECKING:
    from conftest import RedisServer  # this folder's fixtures (not a package)

KEY = ("lh.to", "abc")
RECORD = LinkRecord(
    id="lnk_1",
    org_id="org_1",
    domain="lh.to",
    key="abc",
    url="https://example.com/a",
    expires_at=datetime(2040, 1, 1, tzinfo=UTC),
    expired_url=None,
    max_clicks=None,
    clicks=0,
    password_hash=None,
    archived=False,
    redirect_status=302,
    forward_query=True,
)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Database:
    def __init__(self) -> None:
        self.loads = 0

    async def load(self) -> LinkRecord | None:
        self.loads += 1
        return RECORD


def make_tier(client: Redis, clock: Clock) -> RedisTier[LinkRecord]:
    return RedisTier(
        client,
        codec=RecordCodec(LinkRecord),
        namespace="outage",
        breaker=CircuitBreaker(cooldown=30.0),
        clock=clock,
    )


async def test_unreachable_redis_falls_back_and_is_then_skipped(
    refused_url: Callable[[str], str],
) -> None:
    client = cache_client(refused_url("redis"), timeout=0.1)
    clock, db = Clock(), Database()
    tier = make_tier(client, clock)
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(5):
                assert await tier.get_or_load(KEY, db.load) == RECORD
            assert (db.loads, tier.errors, tier.bypassed) == (5, 1, 4)
            assert tier.breaker.is_open
            clock.now += 31  # cooldown over: one request probes Redis again, and fails
            assert await tier.get_or_load(KEY, db.load) == RECORD
            assert await tier.get_or_load(KEY, db.load) == RECORD
            assert (tier.errors, tier.bypassed) == (2, 5)
        # One line per outage, however many requests and probes it lasted.
        assert [e["event"] for e in logs] == ["redis_cache_unavailable"]
    finally:
        await client.aclose()


async def test_breaker_closes_when_redis_returns(redis_server: RedisServer) -> None:
    client = cache_client(redis_server.url, timeout=2.0)
    clock, db = Clock(), Database()
    tier = make_tier(client, clock)
    try:
        await tier.get_or_load(KEY, db.load)
        assert await tier.get_or_load(KEY, db.load) == RECORD
        assert (db.loads, tier.hits) == (1, 1)

        redis_server.kill()
        assert await tier.get_or_load(KEY, db.load) == RECORD
        assert tier.breaker.is_open and db.loads == 2

        redis_server.start()  # empty: it kept nothing
        assert await tier.get_or_load(KEY, db.load) == RECORD
        assert tier.bypassed == 1  # still inside the cooldown
        clock.now += 31
        with structlog.testing.capture_logs() as logs:
            assert await tier.get_or_load(KEY, db.load) == RECORD  # the probe: miss, reload
        assert not tier.breaker.is_open
        assert [e["event"] for e in logs] == ["redis_cache_recovered"]
        assert await tier.get_or_load(KEY, db.load) == RECORD
        assert (db.loads, tier.hits) == (4, 2)
    finally:
        await client.aclose()


async def test_a_redis_that_dies_between_lookup_and_store_still_answers(
    redis_server: RedisServer,
) -> None:
    client = cache_client(redis_server.url, timeout=2.0)
    clock = Clock()
    tier = make_tier(client, clock)

    async def load_while_redis_dies() -> LinkRecord | None:
        redis_server.kill()
        return RECORD

    try:
        assert await tier.get_or_load(KEY, load_while_redis_dies) == RECORD
        assert tier.errors == 1 and tier.breaker.is_open
    finally:
        await client.aclose()
