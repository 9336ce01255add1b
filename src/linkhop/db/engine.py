"""Engine and session factories for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    """Whether the URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module (it would silently skip BEGIN and
    # break SAVEPOINTs); SQLAlchemy's "begin" event below issues BEGIN itself.
    dbapi_conn.isolation_level = None
    _sqlite_pragmas(dbapi_conn)


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that reads
    # and then writes can fail with SQLITE_BUSY when another writer committed in between, and
    # busy_timeout cannot help there. Read-only paths (the redirect lookup) ask for DEFERRED.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {mode}")


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose SQLite transactions do not take the write lock."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def _sqlite_pragmas(dbapi_conn: Any) -> None:
    # WAL lets readers (the redirect path) proceed while a writer commits; busy_timeout makes
    # concurrent writers wait instead of failing with "database is locked"; foreign keys are off
    # by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# Errors that mean "the database cannot be reached right now" rather than "this query is wrong":
# refused or dropped connections (OSError, which includes TimeoutError), the driver's connection
# errors as SQLAlchemy wraps them, and a pool that handed out no connection in time. Callers map
# them to 503 and retry later; the pool's pre-ping replaces dead connections once it is back.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable (see ``UNAVAILABLE_ERRORS``).

    asyncpg raises some connection-phase errors unwrapped (e.g. ``CannotConnectNowError`` while
    PostgreSQL starts or shuts down); they are recognised by their asyncpg base classes without
    importing asyncpg here (SQLite-only processes never load it).
    """
    if isinstance(error, UNAVAILABLE_ERRORS):
        return True
    names = {cls.__name__ for cls in type(error).__mro__ if cls.__module__.startswith("asyncpg")}
    return bool(names & {"PostgresConnectionError", "InterfaceError", "CannotConnectNowError"})


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    connect_timeout: float | None = None,
) -> AsyncEngine:
    """Create the async engine for ``url`` with per-backend settings.

    ``connect_timeout`` (PostgreSQL) bounds both opening a connection and waiting for a free one
    in the pool, so a request fails fast instead of hanging while the database is unreachable.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    options: dict[str, Any] = {}
    if connect_timeout is not None:
        options["pool_timeout"] = connect_timeout
        if make_url(url).get_driver_name() == "asyncpg":
            options["connect_args"] = {"timeout": connect_timeout}
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        # A connection that died while PostgreSQL restarted is replaced at checkout, so the
        # process recovers by itself once the database is back.
        pool_pre_ping=True,
        pool_recycle=1800,
        **options,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction owned by the caller (a request or a job): commit on success, else roll back.

    Services receive the session and may flush, never commit (architecture.md §2 rule 5).
    """
    async with sessionmaker() as session, session.begin():
        yield session
