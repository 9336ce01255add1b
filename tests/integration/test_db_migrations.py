"""The Alembic migrations: reversible, and in agreement with the models (``alembic check``)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from linkhop.apps.schema import metadata
from linkhop.db import migrate
from linkhop.db.engine import make_engine

pytestmark = pytest.mark.asyncio


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_models_match_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        await migrate.check(engine)  # raises when a model change lacks a migration
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_down_to_base_and_up_again(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        await migrate.downgrade(engine, "base")
        assert await _tables(db_url) == set()
        await migrate.upgrade(engine)
        assert await _tables(db_url) == set(metadata.tables)
        await migrate.check(engine)
    finally:
        await engine.dispose()
