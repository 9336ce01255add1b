"""RedisTier against the machine's Redis: read-through, negative entries, TTLs, leases."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from linkhop.cache.codec import RecordCodec
from linkhop.cache.invalidation import InvalidationBus
from linkhop.cache.loader import CachedLoader
from linkhop.cache.lru import TTLCache
from linkhop.cache.redis_keys import record_keys
from linkhop.cache.redis_tier import NEGATIVE, RedisTier
from linkhop.db.engine import make_engine, make_sessionmaker
from linkhop.redirects.decision import LinkRecord
from linkhop.redirects.service import load_link

CODEC = RecordCodec(LinkRecord)
KEY = ("lh.to", "abc")


def record(url: str = "https://example.com/a", key: str = "abc") -> LinkRecord:
    return LinkRecord(
        id="lnk_1",
        org_id="org_1",
        domain="lh.to",
        key=key,
        url=url,
        expires_at=None,
        expired_url=None,
        max_clicks=None,
        clicks=0,
        password_hash=None,
        archived=False,
        redirect_status=302,
        forward_query=True,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


class Database:
    """The database side of the tier: answers from a dict and counts its loads."""

    def __init__(self, rows: dict[tuple[str, ...], LinkRecord]) -> None:
        self.rows = rows
        self.loads = 0

    def loader(self, key: tuple[str, ...]) -> Callable[[], Awaitable[LinkRecord | None]]:
        async def load() -> LinkRecord | None:
            self.loads += 1
            return self.rows.get(key)

        return load


def tier(client: Redis, namespace: str, **kwargs: float) -> RedisTier[LinkRecord]:
    return RedisTier(client, codec=CODEC, namespace=namespace, **kwargs)  # type: ignore[arg-type]


async def test_miss_loads_once_then_redis_answers(shared_client: Redis, namespace: str) -> None:
    db = Database({KEY: record()})
    cache = tier(shared_client, namespace, ttl=60)
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    # A second process (another RedisTier) is served by Redis as well.
    assert await tier(shared_client, namespace).get_or_load(KEY, db.loader(KEY)) == record()
    assert db.loads == 1
    assert (cache.misses, cache.hits) == (1, 1)
    record_key, lease_key = record_keys(namespace, KEY)
    assert 0 < await shared_client.pttl(record_key) <= 60_000
    assert await shared_client.exists(lease_key) == 0


async def test_unknown_keys_are_cached_as_negative(shared_client: Redis, namespace: str) -> None:
    db = Database({})
    cache = tier(shared_client, namespace, ttl=60, negative_ttl=30)
    assert await cache.get_or_load(KEY, db.loader(KEY)) is None
    assert await cache.get_or_load(KEY, db.loader(KEY)) is None
    assert (db.loads, cache.negative_hits) == (1, 1)
    record_key, _ = record_keys(namespace, KEY)
    assert await shared_client.get(record_key) == NEGATIVE
    assert 0 < await shared_client.pttl(record_key) <= 30_000


async def test_negative_entries_expire_soon(shared_client: Redis, namespace: str) -> None:
    db = Database({})
    cache = tier(shared_client, namespace, ttl=60, negative_ttl=0.2)
    assert await cache.get_or_load(KEY, db.loader(KEY)) is None
    await asyncio.sleep(0.4)
    db.rows[KEY] = record()
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    assert db.loads == 2


async def test_positive_entries_expire_after_their_ttl(
    shared_client: Redis, namespace: str
) -> None:
    db = Database({KEY: record()})
    cache = tier(shared_client, namespace, ttl=0.3)
    await cache.get_or_load(KEY, db.loader(KEY))
    await asyncio.sleep(0.5)
    db.rows[KEY] = record(url="https://example.com/b")
    assert (await cache.get_or_load(KEY, db.loader(KEY))) == record(url="https://example.com/b")
    assert db.loads == 2


async def test_keys_with_any_unicode_do_not_collide(shared_client: Redis, namespace: str) -> None:
    keys: list[tuple[str, ...]] = [
        ("a:b", "c"),
        ("a", "b:c"),
        ("例え.jp", "ключ}{"),
        ("d", "k\ud800"),
    ]
    db = Database({k: record(key=str(i)) for i, k in enumerate(keys)})
    cache = tier(shared_client, namespace)
    for k in keys:
        await cache.get_or_load(k, db.loader(k))
    for i, k in enumerate(keys):
        found = await cache.get_or_load(k, db.loader(k))
        assert found is not None and found.key == str(i)
    assert (db.loads, cache.hits) == (len(keys), len(keys))


async def test_a_record_redis_cannot_hold_is_served_uncached(
    shared_client: Redis, namespace: str
) -> None:
    db = Database({KEY: record(key="k\ud800")})  # not UTF-8: orjson refuses it
    cache = tier(shared_client, namespace)
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record(key="k\ud800")
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record(key="k\ud800")
    assert db.loads == 2
    assert cache.errors == 0


async def test_entries_of_another_schema_are_reloaded(shared_client: Redis, namespace: str) -> None:
    @dataclasses.dataclass(frozen=True)
    class LinkRecord:  # a later release's record: one field more
        id: str
        url: str
        variant: str | None

    record_key, _ = record_keys(namespace, KEY)
    await shared_client.set(record_key, RecordCodec(LinkRecord).encode(LinkRecord("x", "u", None)))
    db = Database({KEY: record()})
    cache = tier(shared_client, namespace)
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    assert cache.undecodable == 1
    # Our release rewrote the entry in its own format; the next read is a hit.
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    assert db.loads == 1
    await shared_client.set(record_key, b"\x00garbage")
    assert await cache.get_or_load(KEY, db.loader(KEY)) == record()
    assert (cache.undecodable, db.loads) == (2, 2)
    stored = await shared_client.get(record_key)
    assert isinstance(stored, bytes) and orjson.loads(stored)[0] == CODEC.schema


async def test_a_load_that_raced_an_edit_caches_nothing(
    shared_client: Redis, namespace: str, channel: str
) -> None:
    old, new = record(url="https://example.com/old"), record(url="https://example.com/new")
    read, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> LinkRecord | None:
        read.set()
        await release.wait()
        return old  # what the database said before the edit committed

    cache = tier(shared_client, namespace)
    loading = asyncio.create_task(cache.get_or_load(KEY, slow_load))
    await read.wait()
    # The edit commits and the API publishes its invalidation while the load is in flight.
    await InvalidationBus(shared_client, namespace=namespace, channel=channel).publish([KEY])
    release.set()
    assert await loading == old  # this request still gets an answer...
    db = Database({KEY: new})
    # ...but the old record was not put back into Redis for its whole TTL.
    assert await cache.get_or_load(KEY, db.loader(KEY)) == new
    assert db.loads == 1


async def test_database_errors_propagate_when_redis_has_nothing(
    shared_client: Redis, namespace: str, refused_url: Callable[[str], str]
) -> None:
    engine = make_engine(refused_url("postgresql+asyncpg"))
    sessionmaker = make_sessionmaker(engine)
    cache = tier(shared_client, namespace)
    try:
        with pytest.raises((DBAPIError, OSError)):
            await cache.get_or_load(KEY, lambda: load_link(sessionmaker, *KEY))
        assert cache.errors == 0  # a database failure is not a Redis failure
        assert not cache.breaker.is_open
    finally:
        await engine.dispose()


async def test_links_in_redis_keep_redirecting_while_the_database_is_down(
    shared_client: Redis, namespace: str, refused_url: Callable[[str], str]
) -> None:
    cache = tier(shared_client, namespace)
    db = Database({KEY: record()})
    await cache.get_or_load(KEY, db.loader(KEY))
    engine = make_engine(refused_url("postgresql+asyncpg"))
    sessionmaker = make_sessionmaker(engine)
    try:
        # The real loader against a PostgreSQL that refuses connections.
        assert await cache.get_or_load(KEY, lambda: load_link(sessionmaker, *KEY)) == record()
        other = ("lh.to", "uncached")
        with pytest.raises((DBAPIError, OSError)):
            await cache.get_or_load(other, lambda: load_link(sessionmaker, *other))
    finally:
        await engine.dispose()


async def test_under_the_lru_concurrent_misses_load_once(
    shared_client: Redis, namespace: str
) -> None:
    db = Database({KEY: record()})
    cache = tier(shared_client, namespace)
    links: CachedLoader[tuple[str, str], LinkRecord] = CachedLoader(
        lambda k: cache.get_or_load(k, db.loader(k)),
        cache=TTLCache(maxsize=100, ttl=5.0, negative_ttl=1.0),
    )
    found = await asyncio.gather(*(links.get(KEY) for _ in range(50)))
    assert found == [record()] * 50
    assert (db.loads, cache.misses, links.loads) == (1, 1, 1)
