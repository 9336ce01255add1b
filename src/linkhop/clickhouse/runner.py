"""Apply the numbered ClickHouse migrations forwards or backwards to a target version.

Applied versions are an append-only log in ``<db>.schema_migrations`` (one row per step taken,
``up`` or ``down``); a version is applied when its latest row says ``up``. ClickHouse has no
transactional DDL and no advisory lock, so run ``linkhop migrate`` once per deploy rather than
from every replica; the idempotent statements make an interrupted run safe to repeat.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

from linkhop.clickhouse.client import ClickHouse, quote_identifier

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MODULE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.py")

_LOG_TABLE = """
CREATE TABLE IF NOT EXISTS $db.schema_migrations
(
    seq UInt32,                                    -- order in which steps were taken
    version UInt32,
    name String,
    direction Enum8('up' = 1, 'down' = 2),
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Append-only log: a handful of rows, never updated, so a plain MergeTree ordered by step is enough
-- and keeps the full history of what was applied and reverted.
ENGINE = MergeTree
ORDER BY seq
"""


class MigrationError(Exception):
    """The migrations on disk and the versions recorded in the database do not line up."""


@dataclass(frozen=True)
class Migration:
    """One numbered migration: the statements that apply it and those that reverse it."""

    version: int
    name: str
    up: tuple[str, ...]
    down: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One migration applied (``up``) or reversed (``down``) by ``migrate``."""

    version: int
    name: str
    direction: Literal["up", "down"]


def render(statement: str, database: str) -> str:
    """Substitute the checked, quoted database name for ``$db``; any other ``$`` is an error."""
    return Template(statement).substitute(db=quote_identifier(database))


def _statements(module: object, attr: str, path: Path) -> tuple[str, ...]:
    value = getattr(module, attr, None)
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise MigrationError(f"{path.name}: {attr} must be a list of SQL strings")
    return tuple(value)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Load ``NNNN_slug.py`` modules from ``directory``, checking they number 1..N with no gap."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("[0-9]*.py")):
        match = _MODULE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_slug.py")
        spec = importlib.util.spec_from_file_location(f"_linkhop_ch_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise MigrationError(f"{path.name}: cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        up = _statements(module, "UP", path)
        if not up:
            raise MigrationError(f"{path.name}: UP is empty")
        migrations.append(Migration(int(match[1]), match[2], up, _statements(module, "DOWN", path)))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration {expected:04d} is missing (found {migration.version:04d}_"
                f"{migration.name} next); numbers must run 1..N without gaps"
            )
    return migrations


def plan(migrations: Sequence[Migration], applied: Sequence[int], target: int) -> list[Step]:
    """The steps from the ``applied`` versions to ``target`` (pure: no I/O)."""
    latest = len(migrations)
    current = len(applied)
    if list(applied) != list(range(1, current + 1)):
        raise MigrationError(
            f"schema_migrations records versions {list(applied)}, which is not 1..N: "
            "the database was changed by hand or by another code version"
        )
    if current > latest:
        raise MigrationError(
            f"the database is at version {current}, newer than this code's latest ({latest})"
        )
    if not 0 <= target <= latest:
        raise MigrationError(f"target {target} is outside 0..{latest}")
    if target >= current:
        return [Step(m.version, m.name, "up") for m in migrations[current:target]]
    return [Step(m.version, m.name, "down") for m in reversed(migrations[target:current])]


def applied_versions(ch: ClickHouse, database: str) -> list[int]:
    """Versions whose latest recorded step is ``up``, ascending ([] before the first migrate)."""
    exists = ch.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} "
        "AND name = 'schema_migrations'",
        {"db": database},
    )
    if exists[0][0] == 0:
        return []
    rows = ch.query(
        render(
            "SELECT version FROM $db.schema_migrations GROUP BY version "
            "HAVING argMax(direction, seq) = 'up' ORDER BY version",
            database,
        )
    )
    return [int(row[0]) for row in rows]


def current_version(ch: ClickHouse, database: str) -> int:
    """The schema version of ``database``: 0 when nothing is applied."""
    applied = applied_versions(ch, database)
    return applied[-1] if applied else 0


def _record(ch: ClickHouse, database: str, step: Step) -> None:
    ch.command(
        render(
            "INSERT INTO $db.schema_migrations (seq, version, name, direction) "
            "SELECT (SELECT count() FROM $db.schema_migrations) + 1, "
            "{version:UInt32}, {name:String}, {direction:String}",
            database,
        ),
        {"version": step.version, "name": step.name, "direction": step.direction},
    )


def migrate(
    ch: ClickHouse,
    database: str,
    target: int | None = None,
    *,
    migrations: Sequence[Migration] | None = None,
) -> list[Step]:
    """Create ``database`` if needed and move its schema to ``target`` (default: the latest)."""
    known = load_migrations() if migrations is None else list(migrations)
    ch.command(render("CREATE DATABASE IF NOT EXISTS $db", database))
    ch.command(render(_LOG_TABLE, database))
    steps = plan(known, applied_versions(ch, database), len(known) if target is None else target)
    by_version = {m.version: m for m in known}
    for step in steps:
        migration = by_version[step.version]
        for statement in migration.up if step.direction == "up" else migration.down:
            ch.command(render(statement, database))
        _record(ch, database, step)
    return steps
