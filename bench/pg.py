"""The PostgreSQL database the API benchmark uses: created fresh, dropped afterwards."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text

from linkhop.db.engine import make_engine

ADMIN_URL = os.environ.get(
    "LINKHOP_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
NAME = "linkhop_bench"


def _url(database: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"


async def _admin(statement: str) -> None:
    engine = make_engine(ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def unavailable_reason() -> str:
    """Why PostgreSQL cannot be used ('' when it can)."""
    try:
        asyncio.run(_admin("SELECT 1"))
    except Exception as exc:  # any failure to connect means "skip PostgreSQL", said with why
        return f"PostgreSQL at {ADMIN_URL} is unreachable: {type(exc).__name__}: {exc}"[:300]
    return ""


def create_database() -> str:
    """(Re)create ``linkhop_bench`` and return its SQLAlchemy URL."""
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{NAME}"'))
    return _url(NAME)


def drop_database() -> None:
    """Drop ``linkhop_bench``."""
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)'))
