"""Per-org retention of click data, enforced by ClickHouse TTL on the raw table and every rollup.

The policy comes from settings: a default number of days for every org and per-org overrides
(``0`` keeps data forever). It is written into each table's TTL as a constant lookup::

    TTL toDateTime(ts) + toIntervalDay(transform(org_id, ['org_a', 'org_b'], [30, 0], 365))
        WHERE transform(org_id, ['org_a', 'org_b'], [30, 0], 365) > 0

Why a TTL expression holding the map, rather than the alternatives:

* A ``retention_days`` column filled at insert time freezes each row's retention when it is
  written: shortening an org's retention (a downgrade, a deletion request) would leave its old
  rows for the old period, and lengthening it could not bring back what would be deleted.
  Here a policy change is one ``ALTER TABLE … MODIFY TTL`` per table, which recomputes the
  expiry of every existing row (``materialize_ttl_after_modify``, ClickHouse's default).
* A periodic ``ALTER TABLE … DELETE`` job is a mutation that rewrites every part holding a
  matching row, needs a scheduler and its own failure handling, and deletes nothing while the job
  is down. TTL is evaluated by the merges ClickHouse runs anyway (and by ``OPTIMIZE … FINAL``),
  and whole parts whose rows have all expired are simply dropped.

A rollup row covers a bucket ``[time, time + span)``: it expires when the END of its bucket is
older than the retention, so no bucket is dropped while it still holds clicks the org is entitled
to see. Each policy applied is logged in ``<db>.retention_log``; ``apply_retention`` does nothing
when the newest entry already has the same fingerprint, so every process may call it at start-up.
The map lives in each table's DDL: fine for thousands of overrides, not for millions (then a
dictionary lookup would be the next step).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
import structlog

from linkhop.clickhouse.client import ClickHouse, quote_identifier
from linkhop.clickhouse.runner import render
from linkhop.clickhouse.tables import TIMED_TABLES
from linkhop.settings import Settings

log = structlog.get_logger()

# Org ids are spliced into DDL as string literals: only plain id characters are accepted.
ORG_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_DAYS = 36_500  # 100 years; DateTime stops at 2106, so larger values would wrap


@dataclass(frozen=True)
class RetentionPolicy:
    """Days of click data kept: ``default_days`` for every org unless ``overrides`` names it."""

    default_days: int = 0
    overrides: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for org_id, days in {"(default)": self.default_days, **self.overrides}.items():
            if org_id != "(default)" and not ORG_ID.fullmatch(org_id):
                raise ValueError(f"retention override for an invalid org id: {org_id!r:.80}")
            if not 0 <= days <= MAX_DAYS:
                raise ValueError(f"retention for {org_id} must be 0..{MAX_DAYS} days, got {days}")

    @property
    def keeps_everything(self) -> bool:
        """True when no org's data ever expires."""
        return self.default_days == 0 and not any(self.overrides.values())

    def days_for(self, org_id: str) -> int:
        """The retention of one org (0 = forever)."""
        return self.overrides.get(org_id, self.default_days)

    def describe(self) -> str:
        """Canonical JSON of the policy (stable key order), as logged."""
        return orjson.dumps(
            {"default_days": self.default_days, "overrides": dict(sorted(self.overrides.items()))}
        ).decode()

    def fingerprint(self) -> str:
        """A short hash of ``describe()``: equal policies, equal fingerprints."""
        return hashlib.sha256(self.describe().encode()).hexdigest()[:16]


def retention_policy(settings: Settings) -> RetentionPolicy:
    """The policy configured by ``LINKHOP_ANALYTICS_RETENTION_DAYS`` and ``…_OVERRIDES``."""
    return RetentionPolicy(
        settings.analytics_retention_days, dict(settings.analytics_retention_overrides)
    )


def _days_expression(policy: RetentionPolicy) -> str:
    """The SQL giving a row's retention in days from its ``org_id``."""
    # Only orgs whose value differs from the default need a map entry.
    overrides = sorted((k, v) for k, v in policy.overrides.items() if v != policy.default_days)
    if not overrides:
        return str(policy.default_days)
    keys = ", ".join(f"'{org_id}'" for org_id, _ in overrides)  # checked by ORG_ID above
    values = ", ".join(str(days) for _, days in overrides)
    return f"transform(org_id, [{keys}], [{values}], {policy.default_days})"


def ttl_expression(policy: RetentionPolicy, table: str) -> str | None:
    """The TTL clause body for ``table`` (``None`` when nothing expires)."""
    if policy.keeps_everything:
        return None
    column, span = TIMED_TABLES[table]
    days = _days_expression(policy)
    moment = "toDateTime(ts)" if column == "ts" else column
    if span:
        moment += f" + toIntervalSecond({span})"
    ttl = f"{moment} + toIntervalDay({days})"
    # An org kept forever (0 days) must never match: the WHERE excludes it from the TTL.
    if policy.default_days == 0 or 0 in policy.overrides.values():
        ttl += f" WHERE {days} > 0"
    return ttl


def retention_statements(policy: RetentionPolicy, tables: Mapping[str, bool]) -> list[str]:
    """ALTER statements (``$db`` placeholder) making each table's TTL match ``policy``.

    ``tables`` maps each table name to whether it currently has a TTL (REMOVE TTL fails on a
    table without one).
    """
    statements = []
    for table, has_ttl in tables.items():
        quote_identifier(table)  # a fixed name from tables.py; checked all the same
        ttl = ttl_expression(policy, table)
        if ttl is not None:
            statements.append(f"ALTER TABLE $db.{table} MODIFY TTL {ttl}")
        elif has_ttl:
            statements.append(f"ALTER TABLE $db.{table} REMOVE TTL")
    return statements


def applied_fingerprint(ch: ClickHouse, database: str) -> str | None:
    """The fingerprint of the newest logged policy, or ``None`` if none was applied."""
    rows = ch.query(
        render("SELECT argMax(fingerprint, seq), count() FROM $db.retention_log", database)
    )
    fingerprint, entries = rows[0]
    return str(fingerprint) if entries else None


def _tables_with_ttl(ch: ClickHouse, database: str) -> dict[str, bool]:
    rows = ch.query(
        "SELECT name, position(engine_full, ' TTL ') > 0 FROM system.tables "
        "WHERE database = {db:String} AND name IN {names:Array(String)}",
        {"db": database, "names": list(TIMED_TABLES)},
    )
    present = {str(name): bool(has_ttl) for name, has_ttl in rows}
    return {table: present[table] for table in TIMED_TABLES if table in present}


def _is_cluster(ch: ClickHouse, database: str) -> bool:
    rows = ch.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'clicks' "
        "AND engine = 'Distributed'",
        {"db": database},
    )
    return int(rows[0][0]) > 0


def apply_retention(ch: ClickHouse, database: str, policy: RetentionPolicy) -> bool:
    """Set every click table's TTL to ``policy`` unless it is already applied; True if changed.

    The ALTERs return at once; ClickHouse recomputes the expiry of existing parts in the
    background (a mutation) and deletes expired rows at its next merges.
    """
    applied = applied_fingerprint(ch, database) == policy.fingerprint()
    cluster = _is_cluster(ch, database)
    tables = {} if cluster else _tables_with_ttl(ch, database)
    # The log alone is not enough: a migration that recreates a table (0008) leaves it without
    # the TTL the log says was applied. (On a cluster the TTLs live on the local tables and the
    # generated script owns them: the log is what there is to compare.)
    in_place = all(has_ttl != policy.keeps_everything for has_ttl in tables.values())
    if applied and in_place:
        return False
    if cluster:
        # Cluster tables are changed ON CLUSTER by the generated script (docs/cluster.md), never
        # by whichever process starts first.
        log.warning(
            "retention_not_applied",
            reason="the click tables are Distributed: apply `linkhop analytics cluster-ddl`",
            policy=policy.describe(),
        )
        return False
    for statement in retention_statements(policy, tables):
        ch.command(render(statement, database))
    ch.command(
        render(
            "INSERT INTO $db.retention_log (seq, fingerprint, policy) "
            "SELECT (SELECT count() FROM $db.retention_log) + 1, {fp:String}, {policy:String}",
            database,
        ),
        {"fp": policy.fingerprint(), "policy": policy.describe()},
    )
    return True
