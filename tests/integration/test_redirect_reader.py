"""The redirect service's cache-miss read (``LinkReader``) against SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from linkhop.db.base import Base
from linkhop.db.engine import is_unavailable, make_engine, make_sessionmaker, read_only
from linkhop.links import service as links_service
from linkhop.redirects.service import LinkReader, load_link
from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio
DOMAIN = "lh.test"


async def test_reader_returns_the_record_the_orm_would_build(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    expires = datetime.now(UTC) + timedelta(days=3)
    await harness.create_link(
        ada,
        url="https://example.com/p?x=1",
        key="Full",
        title="Spring sale",
        expires_at=expires.isoformat(),
        expired_url="https://example.com/over",
        max_clicks=50,
        password="open sesame",
        redirect_status=307,
        forward_query=False,
        utm_source="news",
        utm_medium="email",
    )
    await harness.create_link(ada, url="https://example.com/plain", key="plain", archived=True)
    engine = read_only(harness.runtime.engine)
    reader = LinkReader(engine)
    try:
        async with harness.runtime.sessionmaker() as session:
            orm = await links_service.get_by_lookup(session, domain=DOMAIN, key_lookup="full")
        assert orm is not None
        record = await reader.load(DOMAIN, "full")
        assert record is not None
        assert record == await load_link(make_sessionmaker(engine), DOMAIN, "full")
        assert record.url == links_service.final_destination(orm)
        assert record.url == "https://example.com/p?x=1&utm_source=news&utm_medium=email"
        assert (record.id, record.org_id, record.key) == (orm.id, orm.org_id, "Full")
        assert record.expires_at == orm.expires_at
        assert record.expires_at is not None and record.expires_at.tzinfo is not None
        assert record.created_at == orm.created_at and record.created_at is not None
        assert record.created_at.tzinfo is not None
        assert record.password_hash == orm.password_hash and record.password_hash
        assert (record.redirect_status, record.forward_query, record.archived) == (
            307,
            False,
            False,
        )
        assert (record.max_clicks, record.clicks, record.title) == (50, 0, "Spring sale")
        plain = await reader.load(DOMAIN, "plain")
        assert plain is not None and plain.archived is True and plain.forward_query is True
        assert await reader.load(DOMAIN, "missing") is None
        assert await reader.load("other.example", "full") is None
    finally:
        reader.close()


async def test_reader_sees_commits_made_after_it_opened(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    reader = LinkReader(read_only(harness.runtime.engine))
    try:
        assert await reader.load(DOMAIN, "late") is None
        await harness.create_link(ada, url="https://example.com/late", key="late")
        record = await reader.load(DOMAIN, "late")
        assert record is not None and record.url == "https://example.com/late"
    finally:
        reader.close()


async def test_sqlite_reader_errors_are_engine_errors_and_it_recovers(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    engine = make_engine(f"sqlite+aiosqlite:///{path}")
    reader = LinkReader(read_only(engine))
    try:
        # No database file yet: the read-only reader must not create an empty one.
        with pytest.raises(DBAPIError) as raised:
            await reader.load(DOMAIN, "x")
        assert is_unavailable(raised.value)
        assert not path.exists()
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        assert await reader.load(DOMAIN, "x") is None  # reopened once the file exists
    finally:
        reader.close()
        await engine.dispose()
