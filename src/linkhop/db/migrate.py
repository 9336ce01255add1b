"""Apply, reverse and check Alembic migrations on the async engine from inside the app."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database forwards to ``revision``."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Migrate the database backwards to ``revision`` (``base`` empties it)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


async def check(engine: AsyncEngine) -> None:
    """Raise if the models and the migrated schema disagree (``alembic check``)."""
    async with engine.connect() as conn:
        await conn.run_sync(lambda c: command.check(alembic_config(c)))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 — only used here

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str | None:
    """The newest revision this code ships."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 — only used here

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
