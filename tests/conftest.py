"""Shared fixtures: real SQLite and PostgreSQL, one real chDB store per test process.

- Every test that takes ``db_url`` runs once per backend in ``LINKHOP_TEST_DATABASES``
  (default ``sqlite,postgresql``).
- A backend that is unreachable skips its tests locally, but with
  ``LINKHOP_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) it is an error: CI never passes by
  silently skipping.
- chDB allows one data folder per process, so the store is session-wide and each test gets its
  own ClickHouse database.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
from linkhop.db import migrate
from linkhop.db.engine import make_engine

REQUIRE_SERVICES = os.environ.get("LINKHOP_TEST_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get(
    "LINKHOP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b.strip()
    for b in os.environ.get("LINKHOP_TEST_DATABASES", "sqlite,postgresql").split(",")
    if b.strip()
]
KEEP_TABLES = {"role_permissions", "alembic_version"}


def unavailable(reason: str) -> None:
    """Skip locally, fail on CI (LINKHOP_TEST_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required test service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    async def build() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[str]:
    """A migrated PostgreSQL database for this test process, dropped at the end.

    The pid makes the name unique even when several test runs share one server.
    """
    name = f"linkhop_test_{_worker()}_{os.getpid()}"

    async def create() -> None:
        admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await admin.dispose()

    try:
        asyncio.run(create())
    except (OSError, Exception) as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    async def upgrade() -> None:
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(upgrade())
    yield url

    async def drop() -> None:
        admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()

    asyncio.run(drop())


async def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        rows = await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        tables = [r[0] for r in rows if r[0] not in KEEP_TABLES]
        if tables:
            joined = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated transactional store on each configured backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "linkhop.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_db")
        asyncio.run(_truncate_postgres(url))
        return url
    raise ValueError(f"unknown backend {request.param}")


@pytest.fixture(scope="session")
def chdb_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouse]:
    """The one chDB store of this test process."""
    store = ClickHouse.connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    yield store
    store.close()


_ch_counter = itertools.count()


@pytest.fixture
def ch_database(chdb_store: ClickHouse) -> Iterator[str]:
    """A fresh, migrated ClickHouse database for one test."""
    name = f"t_{_worker()}_{next(_ch_counter)}_{uuid.uuid4().hex[:6]}"
    runner.migrate(chdb_store, name)
    yield name
    chdb_store.command(f"DROP DATABASE IF EXISTS {name}")
