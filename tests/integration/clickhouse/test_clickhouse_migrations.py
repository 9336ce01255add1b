"""The numbered ClickHouse migrations, applied and reversed on a real chDB engine."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import (
    Migration,
    MigrationError,
    Step,
    current_version,
    load_migrations,
    migrate,
    plan,
    render,
)
from linkhop.clickhouse.tables import ALL_CLICKS, CLICK_COLUMNS, ROLLUP_DIMENSIONS

LATEST = len(load_migrations())
NAMES = [
    "clicks",
    "clicks_hourly",
    "dedup_window",
    "clicks_daily",
    "org_dimensions_daily",
    "retention_log",
    "backfill_log",
    "visitors_uniq_combined",
    "rollup_granules",
]
ALL_TABLES = {
    "schema_migrations",
    "clicks",
    "clicks_hourly",
    "clicks_hourly_mv",
    "clicks_daily",
    "clicks_daily_mv",
    "clicks_org_dims_daily",
    "clicks_org_dims_daily_mv",
    "retention_log",
    "backfill_log",
}


def tables(ch: ClickHouse, db: str) -> set[str]:
    rows = ch.query("SELECT name FROM system.tables WHERE database = {db:String}", {"db": db})
    return {row[0] for row in rows}


def schema(ch: ClickHouse, db: str) -> dict[str, str]:
    """Each table's full DDL (settings included), to see changes that add no table."""
    rows = ch.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
        {"db": db},
    )
    return {str(name): str(ddl) for name, ddl in rows}


def log(ch: ClickHouse, db: str) -> list[tuple[int, int, str, str]]:
    return [
        (int(seq), int(version), str(name), str(direction))
        for seq, version, name, direction in ch.query(
            f"SELECT seq, version, name, direction FROM {db}.schema_migrations ORDER BY seq"
        )
    ]


def test_the_packaged_migrations_number_one_to_n() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, LATEST + 1))
    assert [m.name for m in migrations] == NAMES
    assert all(m.down for m in migrations), "every migration needs a DOWN"


def test_up_down_up_and_the_log(ch: ClickHouse, database: str) -> None:
    assert current_version(ch, database) == 0  # the database does not even exist yet

    steps = migrate(ch, database)
    assert steps == [Step(v, name, "up") for v, name in enumerate(NAMES, start=1)]
    assert current_version(ch, database) == LATEST
    assert tables(ch, database) == ALL_TABLES

    assert migrate(ch, database) == []  # idempotent: nothing left to do, nothing recorded
    assert len(log(ch, database)) == LATEST

    assert migrate(ch, database, target=0) == [
        Step(v, name, "down") for v, name in reversed(list(enumerate(NAMES, start=1)))
    ]
    assert current_version(ch, database) == 0
    assert tables(ch, database) == {"schema_migrations"}

    migrate(ch, database)
    assert current_version(ch, database) == LATEST
    ups = [(v, name, "up") for v, name in enumerate(NAMES, start=1)]
    downs = [(v, name, "down") for v, name, _ in reversed(ups)]
    assert [entry[1:] for entry in log(ch, database)] == ups + downs + ups
    assert [entry[0] for entry in log(ch, database)] == list(range(1, 3 * LATEST + 1))


def test_every_migration_reverses_to_the_previous_schema(ch: ClickHouse, database: str) -> None:
    migrate(ch, database, target=0)
    for migration in load_migrations():
        before = schema(ch, database)
        migrate(ch, database, target=migration.version)
        assert schema(ch, database) != before, f"{migration.version:04d} changed nothing"
        migrate(ch, database, target=migration.version - 1)
        assert schema(ch, database) == before, f"{migration.version:04d} DOWN did not undo UP"
        migrate(ch, database, target=migration.version)


def test_a_step_down_to_one_keeps_the_raw_table(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    assert migrate(ch, database, target=1)[-1] == Step(2, "clicks_hourly", "down")
    assert tables(ch, database) == {"schema_migrations", "clicks"}


def test_an_interrupted_migration_can_be_run_again(ch: ClickHouse, database: str) -> None:
    # The DDL ran but the step was never recorded (crash between the two): re-running is safe.
    ch.command(render("CREATE DATABASE IF NOT EXISTS $db", database))
    for statement in load_migrations()[0].up:
        ch.command(render(statement, database))
    assert current_version(ch, database) == 0
    migrate(ch, database)
    assert current_version(ch, database) == LATEST


def test_clicks_columns_are_exactly_the_contract(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    rows = ch.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} "
        "AND table = 'clicks' ORDER BY position",
        {"db": database},
    )
    assert tuple(name for name, _ in rows) == CLICK_COLUMNS
    assert rows == [
        ("click_id", "UUID"),
        ("ts", "DateTime64(3, 'UTC')"),
        ("org_id", "String"),
        ("link_id", "String"),
        ("domain", "LowCardinality(String)"),
        ("key", "String"),
        ("url", "String"),
        ("trigger", "LowCardinality(String)"),
        ("ip", "String"),
        ("country", "LowCardinality(String)"),
        ("region", "String"),
        ("city", "String"),
        ("continent", "LowCardinality(String)"),
        ("device", "LowCardinality(String)"),
        ("browser", "LowCardinality(String)"),
        ("browser_version", "String"),
        ("os", "LowCardinality(String)"),
        ("os_version", "String"),
        ("ua", "String"),
        ("bot", "UInt8"),
        ("bot_reason", "LowCardinality(String)"),
        ("referrer", "String"),
        ("referrer_domain", "String"),
        ("utm_source", "String"),
        ("utm_medium", "String"),
        ("utm_campaign", "String"),
        ("utm_term", "String"),
        ("utm_content", "String"),
        ("visitor_id", "UInt64"),
    ]


def test_engines_keys_and_dedup_windows(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    rows = ch.query(
        "SELECT name, engine, partition_key, sorting_key, "
        "match(create_table_query, 'non_replicated_deduplication_window = 10000') "
        "FROM system.tables WHERE database = {db:String} AND name LIKE 'clicks%' ORDER BY name",
        {"db": database},
    )
    aggregating = "AggregatingMergeTree"
    assert rows == [
        ("clicks", "ReplacingMergeTree", "toYYYYMM(ts)", "org_id, link_id, ts, click_id", True),
        ("clicks_daily", aggregating, "toYYYYMM(day)", "org_id, link_id, day, bot", True),
        ("clicks_daily_mv", "MaterializedView", "", "", False),
        ("clicks_hourly", aggregating, "toYYYYMM(hour)", "org_id, link_id, hour, bot", True),
        ("clicks_hourly_mv", "MaterializedView", "", "", False),
        (
            "clicks_org_dims_daily",
            aggregating,
            "toYYYYMM(day)",
            "org_id, dim, day, value, bot",
            True,
        ),
        ("clicks_org_dims_daily_mv", "MaterializedView", "", "", False),
    ]


def _insert_clicks(ch: ClickHouse, database: str, rows: list[dict[str, object]]) -> None:
    """Insert clicks given as the columns that matter; the others are empty, ``bot`` 0."""
    full = []
    for fields in rows:
        row: dict[str, object] = dict.fromkeys(CLICK_COLUMNS, "")
        row.update(click_id=uuid.uuid4(), bot=0)
        row.update(fields)
        full.append(list(row.values()))
    ch.insert(f"{database}.clicks", full, CLICK_COLUMNS)


def test_the_dimension_rollups_hold_exactly_the_listed_dimensions(
    ch: ClickHouse, database: str
) -> None:
    migrate(ch, database)
    _insert_clicks(
        ch,
        database,
        [{"ts": datetime(2025, 1, 1, tzinfo=UTC), "visitor_id": 1, "org_id": "o", "link_id": "l"}],
    )
    dims = ch.query(f"SELECT dim FROM {database}.clicks_org_dims_daily ORDER BY dim")
    assert [d for (d,) in dims] == sorted([ALL_CLICKS, *ROLLUP_DIMENSIONS])


def test_new_rollups_are_filled_from_existing_clicks(ch: ClickHouse, database: str) -> None:
    # An install upgraded with clicks already stored: the daily rollups copy them in.
    migrate(ch, database, target=3)
    rows: list[dict[str, object]] = [
        {
            "ts": datetime(2025, 1, 1 + i % 2, 10, tzinfo=UTC),
            "org_id": "o",
            "link_id": "l",
            "country": "FR",
            "visitor_id": i % 3,
        }
        for i in range(5)
    ]
    _insert_clicks(ch, database, rows)
    migrate(ch, database)
    assert ch.query(
        "SELECT toDate(day), sum(clicks), uniqCombinedMerge(14)(visitors)"
        f" FROM {database}.clicks_daily "
        "GROUP BY day ORDER BY day"
    ) == [(date(2025, 1, 1), 3, 3), (date(2025, 1, 2), 2, 2)]
    assert ch.query(
        "SELECT sum(clicks), uniqCombinedMerge(14)(visitors)"
        f" FROM {database}.clicks_org_dims_daily "
        "WHERE dim = 'country' AND value = 'FR'"
    ) == [(5, 3)]
    # Down and up again: the copy starts from a clean table, nothing is counted twice.
    migrate(ch, database, target=3)
    migrate(ch, database)
    assert ch.query(f"SELECT sum(clicks) FROM {database}.clicks_daily") == [(5,)]


def test_unknown_versions_in_the_database_are_refused(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    ch.command(
        f"INSERT INTO {database}.schema_migrations (seq, version, name, direction) "
        f"VALUES (100, {LATEST + 2}, 'from_the_future', 'up')"
    )
    with pytest.raises(MigrationError, match=rf"\[1, .*, {LATEST}, {LATEST + 2}\]"):
        migrate(ch, database)


@pytest.mark.parametrize("target", [-1, LATEST + 1])
def test_targets_outside_the_known_range_are_refused(
    ch: ClickHouse, database: str, target: int
) -> None:
    with pytest.raises(MigrationError, match="outside"):
        migrate(ch, database, target=target)


def test_the_database_name_must_be_an_identifier(ch: ClickHouse) -> None:
    with pytest.raises(ValueError, match="identifier"):
        migrate(ch, "lh; DROP DATABASE system")


def _write(directory: Path, name: str, body: str) -> None:
    (directory / name).write_text(body)


def test_a_gap_on_disk_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path, "0001_a.py", "UP = ['SELECT 1']\nDOWN = []\n")
    _write(tmp_path, "0003_c.py", "UP = ['SELECT 1']\nDOWN = []\n")
    with pytest.raises(MigrationError, match="migration 0002 is missing"):
        load_migrations(tmp_path)


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("1_short.py", "UP = []\nDOWN = []\n", "NNNN_slug"),
        ("0001_a.py", "UP = 'SELECT 1'\nDOWN = []\n", "UP must be a list"),
        ("0001_a.py", "UP = []\nDOWN = []\n", "UP is empty"),
        ("0001_a.py", "UP = ['SELECT 1']\n", "DOWN must be a list"),
    ],
)
def test_malformed_migration_files_are_refused(
    tmp_path: Path, name: str, body: str, message: str
) -> None:
    _write(tmp_path, name, body)
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)


def test_plan_is_pure_and_walks_both_ways() -> None:
    migrations = [Migration(v, f"m{v}", ("SELECT 1",), ()) for v in (1, 2, 3)]
    assert plan(migrations, [1], 3) == [Step(2, "m2", "up"), Step(3, "m3", "up")]
    assert plan(migrations, [1, 2, 3], 1) == [Step(3, "m3", "down"), Step(2, "m2", "down")]
    assert plan(migrations, [1, 2], 2) == []
    with pytest.raises(MigrationError, match=r"not 1\.\.N"):
        plan(migrations, [1, 3], 3)
    with pytest.raises(MigrationError, match="newer"):
        plan(migrations[:1], [1, 2], 1)


def test_render_refuses_other_placeholders() -> None:
    assert render("DROP TABLE $db.t", "x") == "DROP TABLE `x`.t"
    with pytest.raises(KeyError):
        render("SELECT $other", "x")


def _visitors_type(ch: ClickHouse, database: str, table: str) -> str:
    rows = ch.query(
        "SELECT type FROM system.columns WHERE database = {db:String} AND table = {t:String}"
        " AND name = 'visitors'",
        {"db": database, "t": table},
    )
    return str(rows[0][0])


def test_visitor_states_are_rebuilt_with_uniq_combined(ch: ClickHouse, database: str) -> None:
    # 0008 swaps every rollup's uniq states for uniqCombined(14) states, rebuilt from the raw
    # clicks: the rollups then answer exactly what the raw rows answer, before and after.
    migrate(ch, database, target=7)
    rows: list[dict[str, object]] = [
        {
            "ts": datetime(2025, 1, 1 + i % 3, i % 24, tzinfo=UTC),
            "org_id": "o",
            "link_id": f"l{i % 4}",
            "country": ("FR", "US")[i % 2],
            "visitor_id": i % 1700,
        }
        for i in range(3000)
    ]
    _insert_clicks(ch, database, rows)
    rollups = ("clicks_hourly", "clicks_daily", "clicks_org_dims_daily")
    assert {_visitors_type(ch, database, t) for t in rollups} == {"AggregateFunction(uniq, UInt64)"}
    migrate(ch, database)
    assert {_visitors_type(ch, database, t) for t in rollups} == {
        "AggregateFunction(uniqCombined(14), UInt64)"
    }
    raw = ch.query(
        f"SELECT count(), uniqCombined(14)(visitor_id) FROM {database}.clicks WHERE link_id = 'l1'"
    )
    for table, where in (
        ("clicks_hourly", "link_id = 'l1'"),  # filled from the raw rows too, not only new ones
        ("clicks_daily", "link_id = 'l1'"),
    ):
        got = ch.query(
            f"SELECT sum(clicks), uniqCombinedMerge(14)(visitors) FROM {database}.{table}"
            f" WHERE {where}"
        )
        assert got == raw, table
    everything = ch.query(f"SELECT count(), uniqCombined(14)(visitor_id) FROM {database}.clicks")
    assert (
        ch.query(
            "SELECT sum(clicks), uniqCombinedMerge(14)(visitors)"
            f" FROM {database}.clicks_org_dims_daily"
            " WHERE dim = 'all'"
        )
        == everything
    )
    # New clicks reach the rebuilt views.
    _insert_clicks(ch, database, rows[:10])
    assert ch.query(f"SELECT sum(clicks) FROM {database}.clicks_daily") == [(3010,)]
    # And back: uniq states again, rebuilt the same way.
    migrate(ch, database, target=7)
    assert {_visitors_type(ch, database, t) for t in rollups} == {"AggregateFunction(uniq, UInt64)"}
    assert ch.query(
        f"SELECT sum(clicks), uniqMerge(visitors) FROM {database}.clicks_daily"
    ) == ch.query(f"SELECT count(), uniq(visitor_id) FROM {database}.clicks")


def _granularity(ch: ClickHouse, database: str, table: str) -> int:
    ddl = str(ch.query(f"SHOW CREATE TABLE {database}.{table}")[0][0])
    found = re.search(r"index_granularity = (\d+)", ddl)
    assert found, ddl
    return int(found.group(1))


def test_rollups_are_rebuilt_with_small_granules(ch: ClickHouse, database: str) -> None:
    # 0009 recreates the rollups with 256-row granules (a rollup read decodes every state of
    # each granule it touches) and fills them from the raw clicks again.
    migrate(ch, database, target=8)
    rows: list[dict[str, object]] = [
        {
            "ts": datetime(2025, 2, 1 + i % 5, i % 24, tzinfo=UTC),
            "org_id": ("o", "p")[i % 2],
            "link_id": f"l{i % 7}",
            "referrer": ("", "https://t.co/x")[i % 3 == 0],
            "bot": i % 11 == 0,
            "visitor_id": i % 900,
        }
        for i in range(2000)
    ]
    _insert_clicks(ch, database, rows)
    rollups = ("clicks_hourly", "clicks_daily", "clicks_org_dims_daily")
    assert {_granularity(ch, database, t) for t in rollups} == {8192}

    def contents(table: str) -> list[tuple[object, ...]]:
        return ch.query(
            "SELECT * EXCEPT (visitors), finalizeAggregation(visitors)"
            f" FROM {database}.{table} FINAL ORDER BY ALL"
        )

    before = {table: contents(table) for table in rollups}
    assert all(before.values())
    migrate(ch, database)
    assert {_granularity(ch, database, t) for t in rollups} == {256}
    for table in rollups:  # the same rows and states, rebuilt from clicks
        assert contents(table) == before[table]
    _insert_clicks(ch, database, rows[:10])  # the views feed them again
    assert ch.query(f"SELECT sum(clicks) FROM {database}.clicks_daily") == [(2010,)]
    migrate(ch, database, target=8)
    assert {_granularity(ch, database, t) for t in rollups} == {8192}
    assert ch.query(f"SELECT sum(clicks) FROM {database}.clicks_hourly") == [(2010,)]
