"""Cluster DDL generated from the single-node migrations (docs/cluster.md).

The migrations are written for one server (or chDB). A ClickHouse cluster needs the same schema
with four differences, which ``cluster_statements`` applies to every migration statement, so the
cluster schema can never drift from the tested one:

1. every DDL statement runs ``ON CLUSTER <name>``;
2. each click table (``tables.TIMED_TABLES``) becomes ``<name>_local`` with the Replicated twin of
   its engine (``ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<db>/<name>_local',
   '{replica}')``), and ``<name>`` becomes a ``Distributed`` table over the locals, sharded by org:
   the application keeps reading and writing the names it knows;
3. materialized views read ``clicks_local`` and write the local rollups, so each shard aggregates
   the clicks it stores (a Distributed read merges the shards' visitors states exactly);
4. ``non_replicated_deduplication_window`` becomes ``replicated_deduplication_window``: the dedup
   tokens are then kept in Keeper and shared by the replicas of a shard.

Bookkeeping tables (``schema_migrations``, ``retention_log``, ``backfill_log``) are small and
replicated to every node (one Keeper path for the whole cluster), so ``linkhop`` processes pointed
at any node see the migrations as applied and never run single-node DDL there.

A statement this module does not recognise raises ``ClusterDdlError``: a new migration that uses
another form must teach it here (the test generates every migration).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from linkhop.clickhouse.client import quote_identifier
from linkhop.clickhouse.retention import RetentionPolicy, retention_statements
from linkhop.clickhouse.runner import Migration, load_migrations, render
from linkhop.clickhouse.tables import TIMED_TABLES

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CREATE_TABLE = re.compile(rf"\s*CREATE TABLE IF NOT EXISTS \$db\.({_NAME})\s*\(", re.S)
_ENGINE = re.compile(r"^ENGINE = (\w+)(\([^)]*\))?[ \t]*$", re.M)
_CREATE_VIEW = re.compile(
    rf"\s*CREATE MATERIALIZED VIEW IF NOT EXISTS \$db\.({_NAME}) TO \$db\.({_NAME}) AS\b", re.S
)
_ALTER = re.compile(rf"\s*ALTER TABLE \$db\.({_NAME}) ", re.S)
_DROP = re.compile(rf"\s*DROP (TABLE|VIEW) IF EXISTS \$db\.({_NAME})\s*$", re.S)
_TRUNCATE = re.compile(rf"\s*TRUNCATE TABLE IF EXISTS \$db\.({_NAME})\s*$", re.S)
_INSERT = re.compile(rf"\s*INSERT INTO \$db\.({_NAME})\b", re.S)
_TABLE_REF = re.compile(rf"\$db\.({_NAME})\b")
_MERGE_TREES = frozenset(
    {"MergeTree", "ReplacingMergeTree", "AggregatingMergeTree", "SummingMergeTree"}
)

Kind = Literal["ddl", "per_shard", "log"]

# The single-node bookkeeping table of runner.py, created before any migration.
_SCHEMA_LOG = """
CREATE TABLE IF NOT EXISTS $db.schema_migrations
(
    seq UInt32,
    version UInt32,
    name String,
    direction Enum8('up' = 1, 'down' = 2),
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY seq
"""


class ClusterDdlError(ValueError):
    """A migration statement has a form the cluster transformation does not know."""


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how the schema is deployed."""

    cluster: str
    database: str = "linkhop"
    # All of an org's clicks on one shard: per-org queries touch one shard's data, and a link's
    # rows never straddle shards. (A single org bigger than a shard would need org+link.)
    sharding_key: str = "cityHash64(org_id)"
    # Keeper path prefix; {shard} and {replica} are the server macros of each node.
    keeper_prefix: str = "/clickhouse/tables"

    def __post_init__(self) -> None:
        quote_identifier(self.cluster)
        quote_identifier(self.database)


@dataclass(frozen=True)
class ClusterStatement:
    """One generated statement: cluster DDL, a per-shard data copy, or a log entry."""

    kind: Kind
    sql: str


def local_name(table: str) -> str:
    """The per-shard table behind the Distributed ``table``."""
    return f"{table}_local"


def _sharded(table: str) -> bool:
    return table in TIMED_TABLES


def _localise(sql: str, *, keep: str | None = None) -> str:
    """Point every ``$db.<click table>`` reference at its local table (except ``keep``)."""

    def swap(match: re.Match[str]) -> str:
        name = match[1]
        return f"$db.{local_name(name)}" if _sharded(name) and name != keep else match[0]

    return _TABLE_REF.sub(swap, sql)


def _replicated_engine(engine: str, args: str | None, path: str) -> str:
    if engine not in _MERGE_TREES:
        raise ClusterDdlError(f"no Replicated twin known for engine {engine}")
    inner = args[1:-1].strip() if args else ""
    extra = f", {inner}" if inner else ""
    return f"ENGINE = Replicated{engine}('{path}', '{{replica}}'{extra})"


def _create_table(statement: str, name: str, options: ClusterOptions) -> list[ClusterStatement]:
    engine = _ENGINE.search(statement)
    if engine is None:
        raise ClusterDdlError(f"CREATE TABLE {name}: no `ENGINE = …` line")
    settings = statement.replace(
        "non_replicated_deduplication_window =", "replicated_deduplication_window ="
    )
    if not _sharded(name):
        # A bookkeeping log: one Keeper path for the whole cluster, so every node has every row.
        path = f"{options.keeper_prefix}/all/{options.database}/{name}"
        body = _ENGINE.sub(_replicated_engine(engine[1], engine[2], path), settings, count=1)
        return [ClusterStatement("ddl", _on_cluster_after_name(body, name, options))]
    local = local_name(name)
    path = f"{options.keeper_prefix}/{{shard}}/{options.database}/{local}"
    body = _ENGINE.sub(_replicated_engine(engine[1], engine[2], path), settings, count=1)
    body = body.replace(f"$db.{name}", f"$db.{local}", 1)
    distributed = (
        f"CREATE TABLE IF NOT EXISTS $db.{name} ON CLUSTER {quote_identifier(options.cluster)}"
        f" AS $db.{local}\nENGINE = Distributed({quote_identifier(options.cluster)}, "
        f"{quote_identifier(options.database)}, {quote_identifier(local)}, "
        f"{options.sharding_key})"
    )
    return [
        ClusterStatement("ddl", _on_cluster_after_name(body, local, options)),
        ClusterStatement("ddl", distributed),
    ]


def _on_cluster_after_name(sql: str, name: str, options: ClusterOptions) -> str:
    """Insert ``ON CLUSTER`` right after the first ``$db.<name>``."""
    target = f"$db.{name}"
    at = sql.index(target) + len(target)
    return f"{sql[:at]} ON CLUSTER {quote_identifier(options.cluster)}{sql[at:]}"


def transform(statement: str, options: ClusterOptions) -> list[ClusterStatement]:
    """The cluster form of one single-node statement (still with the ``$db`` placeholder)."""
    if match := _CREATE_TABLE.match(statement):
        return _create_table(statement, match[1], options)
    if match := _CREATE_VIEW.match(statement):
        view, target = match[1], match[2]
        if not _sharded(target):
            raise ClusterDdlError(f"view {view} writes {target}, which is not a click table")
        return [
            ClusterStatement("ddl", _on_cluster_after_name(_localise(statement), view, options))
        ]
    if match := _ALTER.match(statement):
        table = match[1]
        sql = statement.replace(
            "non_replicated_deduplication_window =", "replicated_deduplication_window ="
        )
        sql = _localise(sql) if _sharded(table) else sql
        name = local_name(table) if _sharded(table) else table
        return [ClusterStatement("ddl", _on_cluster_after_name(sql, name, options))]
    if match := _DROP.match(statement):
        kind, name = match[1], match[2]
        # SYNC: an Atomic database drops a table's data and its Keeper replica path only after a
        # delay (8 min by default); a table created again at the same path meanwhile (0008
        # rebuilds the rollups) would wait for, or collide with, the old replica.
        sync = " SYNC" if kind == "TABLE" else ""
        drop = _on_cluster_after_name(statement.strip(), name, options) + sync
        out = [ClusterStatement("ddl", drop)]
        if kind == "TABLE" and _sharded(name):
            local = f"DROP TABLE IF EXISTS $db.{local_name(name)}"
            out.append(
                ClusterStatement(
                    "ddl", _on_cluster_after_name(local, local_name(name), options) + sync
                )
            )
        return out
    if match := _TRUNCATE.match(statement):
        name = local_name(match[1]) if _sharded(match[1]) else match[1]
        sql = f"TRUNCATE TABLE IF EXISTS $db.{name}"
        return [ClusterStatement("ddl", _on_cluster_after_name(sql, name, options))]
    if _INSERT.match(statement):
        # Copying existing clicks into a new rollup: each shard copies its own rows, on ONE
        # replica per shard (the copy replicates). A new cluster has nothing to copy.
        return [ClusterStatement("per_shard", _localise(statement))]
    raise ClusterDdlError(f"no cluster form for: {statement.strip()[:80]}…")


def _log_entry(migration: Migration, direction: str) -> ClusterStatement:
    # The same entry runner.migrate records (migration names are [a-z0-9_], see runner.py).
    values = f"{migration.version}, '{migration.name}', '{direction}'"
    sql = "INSERT INTO $db.schema_migrations (seq, version, name, direction) SELECT "
    # A printed script cannot bind parameters; the values are a number and checked names.
    return ClusterStatement(
        "log",
        f"{sql}(SELECT count() FROM $db.schema_migrations) + 1, {values}",  # noqa: S608 — see above
    )


def cluster_statements(
    options: ClusterOptions,
    *,
    migrations: Sequence[Migration] | None = None,
    from_version: int = 0,
    down: bool = False,
    retention: RetentionPolicy | None = None,
) -> list[ClusterStatement]:
    """The statements that move a cluster's schema from ``from_version`` to the latest.

    Up: the database and the replicated migration log (both idempotent), each migration after
    ``from_version`` followed by its log entry, then the TTLs of ``retention`` if given. With
    ``down``: every migration's DOWN from the latest to ``from_version``. Statements are
    rendered for ``options.database``.
    """
    known = load_migrations() if migrations is None else list(migrations)
    if not 0 <= from_version <= len(known):
        raise ClusterDdlError(f"from_version {from_version} is outside 0..{len(known)}")
    out: list[ClusterStatement] = []
    if down:
        for migration in reversed(known[from_version:]):
            for statement in migration.down:
                out.extend(transform(statement, options))
            out.append(_log_entry(migration, "down"))
    else:
        cluster = quote_identifier(options.cluster)
        out.append(
            ClusterStatement("ddl", f"CREATE DATABASE IF NOT EXISTS $db ON CLUSTER {cluster}")
        )
        out.extend(transform(_SCHEMA_LOG, options))
        for migration in known[from_version:]:
            for statement in migration.up:
                out.extend(transform(statement, options))
            out.append(_log_entry(migration, "up"))
        if retention is not None:
            out.extend(_retention(retention, options))
    return [ClusterStatement(s.kind, render(s.sql.strip(), options.database)) for s in out]


def _retention(policy: RetentionPolicy, options: ClusterOptions) -> list[ClusterStatement]:
    """TTL statements for ``policy`` and its log entry (processes then see it as applied)."""
    out: list[ClusterStatement] = []
    # MODIFY TTL on every click table. Keeping everything emits no ALTER: REMOVE TTL fails on a
    # table without one, and a script cannot ask (docs/cluster.md says how to drop an old TTL).
    for statement in retention_statements(policy, dict.fromkeys(TIMED_TABLES, False)):
        out.extend(transform(statement, options))
    # A printed script cannot bind parameters: a hex fingerprint and an escaped JSON literal.
    values = f"'{policy.fingerprint()}', '{_sql_string(policy.describe())}'"
    sql = "INSERT INTO $db.retention_log (seq, fingerprint, policy) SELECT "
    out.append(
        ClusterStatement(
            "log",
            f"{sql}(SELECT count() FROM $db.retention_log) + 1, {values}",  # noqa: S608 — see above
        )
    )
    return out


def _sql_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def cluster_script(statements: Iterable[ClusterStatement]) -> str:
    """The statements as one SQL script for ``clickhouse-client --multiquery``.

    Per-shard copies are commented out with instructions: they must run once on one replica of
    every shard, never through one node for the whole cluster (and a new cluster needs none).
    """
    parts = []
    for statement in statements:
        sql = statement.sql.strip()
        if statement.kind == "per_shard":
            commented = "\n".join(f"-- {line}" for line in sql.splitlines())
            parts.append(
                "-- Upgrading a cluster that already holds clicks: run this copy once on ONE\n"
                "-- replica of EVERY shard, with the workers stopped (a new cluster skips it).\n"
                f"{commented};"
            )
        else:
            parts.append(f"{sql};")
    return "\n\n".join(parts) + "\n"
