"""A retried batch (same insert_deduplication_token) changes neither clicks nor its rollup."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def batch(n: int, *, org: str = "org_a") -> list[list[Any]]:
    rows = []
    for i in range(n):
        values: dict[str, Any] = dict.fromkeys(CLICK_COLUMNS, "")
        values.update(
            click_id=uuid.uuid4(),
            ts=T0 + timedelta(minutes=i * 40),  # spans two hours
            org_id=org,
            link_id="link_1",
            bot=0,
            visitor_id=i % 2,
        )
        rows.append([values[c] for c in CLICK_COLUMNS])
    return rows


def raw_count(ch: ClickHouse, db: str) -> int:
    # Deliberately without FINAL: this measures what the insert stored, not what a merge hides.
    return int(ch.query(f"SELECT count() FROM {db}.clicks")[0][0])


def rollup(ch: ClickHouse, db: str) -> list[tuple[Any, ...]]:
    return ch.query(
        f"SELECT hour, sum(clicks), uniqMerge(visitors) FROM {db}.clicks_hourly "
        "GROUP BY hour ORDER BY hour"
    )


def test_same_token_twice_leaves_raw_and_rollup_unchanged(ch: ClickHouse, database: str) -> None:
    migrate(ch, database)
    rows = batch(3)
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")
    first_raw, first_rollup = raw_count(ch, database), rollup(ch, database)
    assert first_raw == 3
    assert [(clicks, visitors) for _, clicks, visitors in first_rollup] == [(2, 2), (1, 1)]

    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")  # the retry

    assert raw_count(ch, database) == first_raw
    assert rollup(ch, database) == first_rollup


def test_a_new_token_is_a_new_batch(ch: ClickHouse, database: str) -> None:
    # Proves the test above can fail: the same rows under another token are stored again.
    migrate(ch, database)
    rows = batch(3)
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-1")
    ch.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="batch-2")
    assert raw_count(ch, database) == 6
    assert [clicks for _, clicks, _ in rollup(ch, database)] == [4, 2]
    # ...but reading with FINAL, the second line of defence, still sees each click once.
    assert ch.query(f"SELECT count() FROM {database}.clicks FINAL") == [(3,)]
