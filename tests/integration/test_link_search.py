"""GET /links?q=: substring search over key, destination and title, on SQLite and PostgreSQL.

On PostgreSQL the search must be answered from the trigram index of migration 0004, which only
happens when the query repeats the index's expression exactly: the plan is checked here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from linkhop.db.engine import unit_of_work
from linkhop.links.search import SEARCH_INDEX
from tests.integration.harness import Account, Harness

# Every index of links but the trigram one, and whether a constraint owns it.
OTHER_INDEXES = f"""
SELECT i.relname, c.conname IS NOT NULL
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
WHERE x.indrelid = 'links'::regclass AND i.relname <> '{SEARCH_INDEX}'
"""


async def keys_for(h: Harness, who: Account, q: str) -> set[str]:
    r = await h.client.get("/api/v1/links", params={"q": q, "limit": 100}, headers=who.auth)
    assert r.status_code == 200, r.text
    return {x["key"] for x in r.json()["data"]}


async def test_search_matches_key_destination_and_title(harness: Harness) -> None:
    ada = await harness.account("ada@example.com", org="Acme")
    bea = await harness.account("bea@example.com", org="Beta")
    await harness.create_link(ada, url="https://shop.example/Summer-Sale", key="sale")
    await harness.create_link(ada, url="https://blog.example/post", key="launch", title="Big NEWS")
    await harness.create_link(ada, url="https://docs.example/100%_done", key="manual")
    await harness.create_link(bea, url="https://shop.example/summer-sale-beta", key="beta-sale")
    assert await keys_for(harness, ada, "SUMMER") == {"sale"}  # destination, any case
    assert await keys_for(harness, ada, "news") == {"launch"}  # title
    assert await keys_for(harness, ada, "aunc") == {"launch"}  # key
    assert await keys_for(harness, ada, "example") == {"sale", "launch", "manual"}
    assert await keys_for(harness, ada, "100%_") == {"manual"}  # wildcards are literal
    assert await keys_for(harness, ada, "0%d") == set()
    assert await keys_for(harness, bea, "summer") == {"beta-sale"}  # each org its own


async def test_postgresql_answers_search_from_the_trigram_index(
    harness: Harness, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        return  # SQLite scans by design (migration 0004 says why); nothing to check there
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://shop.example/summer", key="sale")
    seen: list[tuple[str, Any]] = []

    def capture(conn: Connection, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM links" in statement and "lower(links.url)" in statement:
            seen.append((statement, params))

    sync_engine = harness.runtime.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        assert await keys_for(harness, ada, "summer") == {"sale"}
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    assert len(seen) == 1, seen
    statement, params = seen[0]
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        # Only two plans are left: reading the whole table, or the trigram index. With the
        # sequential read disabled, PostgreSQL takes the index if, and only if, the query
        # repeats its expression. (DDL is transactional here: all of it is rolled back.)
        for name, owned in (await session.execute(text(OTHER_INDEXES))).all():
            drop = (
                f'ALTER TABLE links DROP CONSTRAINT "{name}" CASCADE'
                if owned
                else f'DROP INDEX "{name}"'
            )
            await session.execute(text(drop))
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        raw = await session.connection()
        driver = await raw.get_raw_connection()
        pg = driver.driver_connection  # asyncpg: EXPLAIN the very statement with its parameters
        assert pg is not None
        plan = "\n".join(r[0] for r in await pg.fetch(f"EXPLAIN {statement}", *params))
        await session.rollback()
    assert SEARCH_INDEX in plan, plan
