"""A retried batch (same insert_deduplication_token) changes neither clicks nor any rollup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS, CLICKS, TIMED_TABLES

# Late on the last day of a month: the batch spans two days, two months (two partitions, i.e. two
# parts per table per insert) and several hours.
T0 = datetime(2025, 5, 31, 22, 0, tzinfo=UTC)
ROLLUPS = [table for table in TIMED_TABLES if table != CLICKS]


def batch(n: int, *, org: str = "org_a") -> list[list[Any]]:
    rows = []
    for i in range(n):
        values: dict[str, Any] = dict.fromkeys(CLICK_COLUMNS, "")
        values.update(
            click_id=uuid.uuid4(),
            ts=T0 + timedelta(minutes=i * 40),
            org_id=org,
            link_id=f"link_{i % 2}",
            country=["FR", "DE", ""][i % 3],
            device="mobile",
            referrer="https://news.example/" if i % 2 else "",
            bot=1 if i == 4 else 0,
            visitor_id=i % 3,
        )
        rows.append([values[c] for c in CLICK_COLUMNS])
    return rows


def raw_count(ch: ClickHouse, db: str) -> int:
    # Deliberately without FINAL: this measures what the insert stored, not what a merge hides.
    return int(ch.query(f"SELECT count() FROM {db}.clicks")[0][0])


def rollup_state(ch: ClickHouse, db: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup's content, aggregated over its key (parts may be unmerged)."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    for table in ROLLUPS:
        time_column = TIMED_TABLES[table][0]
        keys = "dim, value, " if "dims" in table else ""
        state[table] = ch.query(
            f"SELECT {keys}{time_column}, bot, sum(clicks), uniqCombinedMerge(14)(visitors)"
            f" FROM {db}.{table} "
            f"GROUP BY {keys}{time_column}, bot ORDER BY {keys}{time_column}, bot"
        )
    return state


def total_clicks(state: dict[str, list[tuple[Any, ...]]], table: str) -> int:
    return sum(int(row[-2]) for row in state[table])


def test_same_token_twice_leaves_raw_and_every_rollup_unchanged(
    ch: ClickHouse, database: str
) -> None:
    migrate(ch, database)
    rows = batch(6)
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")
    first_raw, first = raw_count(ch, database), rollup_state(ch, database)
    assert first_raw == 6
    assert set(first) == {
        "clicks_hourly",
        "clicks_daily",
        "clicks_org_dims_daily",
    }
    for table in ("clicks_hourly", "clicks_daily"):
        assert total_clicks(first, table) == 6, table
    assert total_clicks(first, "clicks_org_dims_daily") == 6 * 14  # one row per dimension

    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")  # the retry

    assert raw_count(ch, database) == first_raw
    assert rollup_state(ch, database) == first


def test_a_new_token_is_a_new_batch(ch: ClickHouse, database: str) -> None:
    # Proves the test above can fail: the same rows under another token are stored again.
    migrate(ch, database)
    rows = batch(6)
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")
    first = rollup_state(ch, database)
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-2")
    assert raw_count(ch, database) == 12
    second = rollup_state(ch, database)
    for table in ROLLUPS:
        assert total_clicks(second, table) == 2 * total_clicks(first, table), table
    # ...and merging the raw parts collapses the duplicates there (ReplacingMergeTree), but
    # not in the rollups: which is why counts read the raw table without FINAL (queries.py).
    assert ch.query(f"SELECT count() FROM {database}.clicks FINAL") == [(6,)]


def test_every_click_table_has_the_wide_dedup_window(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    rows = ch.query(
        "SELECT name FROM system.tables WHERE database = {db:String} "
        "AND match(create_table_query, 'non_replicated_deduplication_window = 10000')",
        {"db": database},
    )
    assert {name for (name,) in rows} == set(TIMED_TABLES)
