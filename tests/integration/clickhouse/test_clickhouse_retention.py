"""Per-org retention: TTL on the raw table and every rollup, following the settings' policy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.retention import (
    RetentionPolicy,
    applied_fingerprint,
    apply_retention,
    retention_policy,
    ttl_expression,
)
from linkhop.clickhouse.runner import migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS, TIMED_TABLES
from linkhop.settings import Settings

NOW = datetime.now(UTC).replace(microsecond=0)
OLD = NOW - timedelta(days=60)  # past a 30-day retention, within a year


def click(org: str, ts: datetime) -> list[Any]:
    values: dict[str, Any] = dict.fromkeys(CLICK_COLUMNS, "")
    values.update(
        click_id=uuid.uuid4(), ts=ts, org_id=org, link_id=f"{org}_link", bot=0, visitor_id=1
    )
    return [values[c] for c in CLICK_COLUMNS]


def per_org(ch: ClickHouse, db: str, table: str) -> dict[str, int]:
    column = "count()" if table == "clicks" else "sum(clicks)"
    where = "WHERE dim = 'device'" if "dims" in table else ""
    rows = ch.query(f"SELECT org_id, {column} FROM {db}.{table} {where} GROUP BY org_id")
    return {str(org): int(n) for org, n in rows}


def merge_everything(ch: ClickHouse, db: str) -> None:
    # TTL deletes happen in merges; OPTIMIZE … FINAL forces one now.
    for table in TIMED_TABLES:
        ch.command(f"OPTIMIZE TABLE {db}.{table} FINAL")


@pytest.fixture
def filled(ch: ClickHouse, database: str) -> str:
    migrate(ch, database)
    rows = [click(org, ts) for org in ("short", "long", "forever") for ts in (OLD, NOW)]
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS)
    return database


def test_old_clicks_of_a_short_retention_org_disappear_everywhere(
    ch: ClickHouse, filled: str
) -> None:
    policy = RetentionPolicy(default_days=365, overrides={"short": 30, "forever": 0})
    assert apply_retention(ch, filled, policy) is True
    merge_everything(ch, filled)
    for table in TIMED_TABLES:
        # "short" keeps only today's click; the others keep both.
        assert per_org(ch, filled, table) == {"short": 1, "long": 2, "forever": 2}, table


def test_a_later_change_applies_to_rows_already_stored(ch: ClickHouse, filled: str) -> None:
    apply_retention(ch, filled, RetentionPolicy(default_days=365))
    merge_everything(ch, filled)
    assert per_org(ch, filled, "clicks") == {"short": 2, "long": 2, "forever": 2}
    # Shortened for everyone but one org: existing 60-day-old rows go too.
    apply_retention(ch, filled, RetentionPolicy(default_days=30, overrides={"forever": 0}))
    merge_everything(ch, filled)
    for table in TIMED_TABLES:
        assert per_org(ch, filled, table) == {"short": 1, "long": 1, "forever": 2}, table


def test_keeping_everything_removes_the_ttl(ch: ClickHouse, filled: str) -> None:
    apply_retention(ch, filled, RetentionPolicy(default_days=30))
    apply_retention(ch, filled, RetentionPolicy())
    ttl = ch.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} "
        "AND position(engine_full, ' TTL ') > 0",
        {"db": filled},
    )
    assert ttl == [(0,)]
    # What the 30-day policy deleted is gone; old clicks stored from now on stay.
    ch.insert(f"{filled}.clicks", [click("late", OLD - timedelta(days=900))], CLICK_COLUMNS)
    merge_everything(ch, filled)
    for table in TIMED_TABLES:
        assert per_org(ch, filled, table)["late"] == 1, table


def test_applying_the_same_policy_again_is_a_no_op(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    assert applied_fingerprint(ch, database) is None
    assert apply_retention(ch, database, RetentionPolicy()) is True  # logged, nothing to alter
    policy = RetentionPolicy(default_days=90, overrides={"b": 7, "a": 30})
    assert apply_retention(ch, database, policy) is True
    same = RetentionPolicy(default_days=90, overrides={"a": 30, "b": 7})
    assert apply_retention(ch, database, same) is False
    assert applied_fingerprint(ch, database) == policy.fingerprint()
    assert ch.query(f"SELECT seq, policy FROM {database}.retention_log ORDER BY seq")[-1] == (
        2,
        '{"default_days":90,"overrides":{"a":30,"b":7}}',
    )


def test_rollup_buckets_expire_when_their_end_is_old_enough() -> None:
    policy = RetentionPolicy(default_days=30)
    assert ttl_expression(policy, "clicks") == "toDateTime(ts) + toIntervalDay(30)"
    assert ttl_expression(policy, "clicks_daily") == (
        "day + toIntervalSecond(86400) + toIntervalDay(30)"
    )
    forever = RetentionPolicy(default_days=0, overrides={"x": 10})
    assert ttl_expression(forever, "clicks_hourly") == (
        "hour + toIntervalSecond(3600) + toIntervalDay(transform(org_id, ['x'], [10], 0))"
        " WHERE transform(org_id, ['x'], [10], 0) > 0"
    )
    assert ttl_expression(RetentionPolicy(), "clicks") is None


@pytest.mark.parametrize(
    ("default_days", "overrides", "message"),
    [
        (0, {"o'); DROP TABLE x; --": 1}, "invalid org id"),
        (0, {"o": -1}, "0..36500"),
        (40_000, {}, "0..36500"),
    ],
)
def test_bad_policies_are_refused(
    default_days: int, overrides: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(default_days, overrides)


def test_the_policy_comes_from_settings() -> None:
    settings = Settings(
        analytics_retention_days=400, analytics_retention_overrides={"org_free": 30}
    )
    assert retention_policy(settings) == RetentionPolicy(400, {"org_free": 30})
    with pytest.raises(ValueError, match="not an org id"):
        Settings(analytics_retention_overrides={"bad id!": 3})


def _has_ttl(ch: ClickHouse, database: str) -> dict[str, bool]:
    rows = ch.query(
        "SELECT name, position(engine_full, ' TTL ') > 0 FROM system.tables "
        "WHERE database = {db:String}",
        {"db": database},
    )
    return {str(name): bool(has) for name, has in rows if name in TIMED_TABLES}


def test_a_table_recreated_by_a_migration_gets_its_ttl_back(ch: ClickHouse, database: str) -> None:
    # Migration 0008 drops and creates the rollups: the log still says the policy is applied,
    # but the new tables have no TTL. The next start-up (apply_retention) must put it back.
    migrate(ch, database, target=7)
    policy = RetentionPolicy(default_days=90)
    assert apply_retention(ch, database, policy) is True
    assert set(_has_ttl(ch, database).values()) == {True}
    migrate(ch, database)
    assert _has_ttl(ch, database)["clicks_daily"] is False
    assert apply_retention(ch, database, policy) is True
    assert set(_has_ttl(ch, database).values()) == {True}
    assert apply_retention(ch, database, policy) is False  # and then nothing more to do
