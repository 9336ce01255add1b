"""Building a process's runtime from settings (shared by every command)."""

from __future__ import annotations

import structlog
from sqlalchemy import text

from linkhop.db import migrate
from linkhop.db.engine import make_engine, make_sessionmaker
from linkhop.errors import Unavailable
from linkhop.runtime import Runtime, link_policy
from linkhop.settings import Settings

log = structlog.get_logger()


def build_runtime(settings: Settings) -> Runtime:
    """Engine, sessions, policy and secret for this process (no I/O beyond the secret file)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url, pool_size=settings.database_pool_size)
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        policy=link_policy(settings),
        secret_key=settings.load_secret_key(),
    )


async def prepare_database(runtime: Runtime, *, apply_migrations: bool) -> None:
    """Apply migrations when asked; either way, refuse a database that is behind the code."""
    if apply_migrations:
        await migrate.upgrade(runtime.engine)
        log.info("database_migrated", revision=await migrate.current_revision(runtime.engine))
    current, head = await migrate.current_revision(runtime.engine), migrate.head_revision()
    if current != head:
        raise Unavailable(
            f"the database is at migration {current or 'none'} but this version needs {head}: "
            "run `linkhop migrate` (or set LINKHOP_AUTO_MIGRATE=true)"
        )


async def check_database(runtime: Runtime) -> None:
    """Readiness probe for the transactional store."""
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
