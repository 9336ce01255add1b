"""linkhop's analytics store code over HTTP through the shim: migrations, dedup, queries, errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.service import run_query
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import Step, current_version, load_migrations, migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS
from linkhop.ingest.sink import ClickHouseClickSink

T0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 20, tzinfo=UTC)
LATEST = len(load_migrations())
ClickRows = Callable[..., list[list[Any]]]  # the click_rows fixture


def _tables(ch: ClickHouse, database: str) -> set[str]:
    rows = ch.query("SELECT name FROM system.tables WHERE database = {db:String}", {"db": database})
    return {row[0] for row in rows}


def _raw_count(ch: ClickHouse, database: str) -> int:
    # Without FINAL on purpose: this counts what the inserts stored, not what a merge would hide.
    return int(ch.query(f"SELECT count() FROM {database}.clicks")[0][0])


def _rollup_clicks(ch: ClickHouse, database: str) -> int:
    return int(ch.query(f"SELECT sum(clicks) FROM {database}.clicks_hourly")[0][0])


def test_migrations_apply_and_reverse_over_http(shim_store: ClickHouse, shim_database: str) -> None:
    steps = migrate(shim_store, shim_database)
    assert [s.direction for s in steps] == ["up"] * LATEST
    assert current_version(shim_store, shim_database) == LATEST
    assert {"schema_migrations", "clicks", "clicks_hourly", "clicks_hourly_mv"} <= _tables(
        shim_store, shim_database
    )

    back = migrate(shim_store, shim_database, 0)
    assert back == [Step(s.version, s.name, "down") for s in reversed(steps)]
    assert current_version(shim_store, shim_database) == 0
    assert _tables(shim_store, shim_database) == {"schema_migrations"}

    assert migrate(shim_store, shim_database) == steps  # and forwards again
    assert current_version(shim_store, shim_database) == LATEST


def test_a_repeated_dedup_token_is_stored_once(
    shim_store: ClickHouse, shim_database: str, click_rows: ClickRows
) -> None:
    migrate(shim_store, shim_database)
    rows = click_rows([T0 + timedelta(minutes=10 * i) for i in range(5)])
    table = f"{shim_database}.clicks"
    shim_store.insert(table, rows, CLICK_COLUMNS, dedup_token="batch-1")
    shim_store.insert(table, rows, CLICK_COLUMNS, dedup_token="batch-1")  # a retried batch
    assert _raw_count(shim_store, shim_database) == 5
    assert _rollup_clicks(shim_store, shim_database) == 5  # the view's target deduplicated too

    # Control: the same rows under another token are a new batch, so the token did the work.
    shim_store.insert(table, rows, CLICK_COLUMNS, dedup_token="batch-2")
    assert _raw_count(shim_store, shim_database) == 10
    assert _rollup_clicks(shim_store, shim_database) == 10


async def test_the_worker_sink_inserts_through_the_shim(
    shim_store: ClickHouse, shim_database: str, click_rows: ClickRows
) -> None:
    migrate(shim_store, shim_database)
    sink = ClickHouseClickSink(shim_store, database=shim_database)
    rows: Any = click_rows([T0, T0 + timedelta(hours=1)])
    await sink.insert_clicks(rows, "token-a")
    await sink.insert_clicks(rows, "token-a")
    assert _raw_count(shim_store, shim_database) == 2


QUERIES: list[dict[str, Any]] = [
    {"group_by": "count"},
    {"group_by": "count", "country": "FR"},
    {"group_by": "timeseries", "interval": "all"},
    {"group_by": "timeseries", "start": T0 - timedelta(days=1), "end": T0 + timedelta(days=2)},
    {"group_by": "timeseries", "interval": "30d", "timezone": "Asia/Kolkata", "granularity": "day"},
    {"group_by": "countries"},
    {"group_by": "countries", "interval": "7d"},
]


@pytest.mark.parametrize("fields", QUERIES)
async def test_analytics_answers_match_the_in_process_engine(
    shim_store: ClickHouse,
    shim_database: str,
    chdb_store: ClickHouse,
    ch_database: str,
    click_rows: ClickRows,
    fields: dict[str, Any],
) -> None:
    migrate(shim_store, shim_database)
    rows = (
        click_rows([T0 + timedelta(hours=5 * i) for i in range(7)], country="US")
        + click_rows([T0 + timedelta(days=3, minutes=i) for i in range(4)], country="FR")
        + click_rows([T0], org_id="org_b", country="DE")  # another org: never counted
    )
    for store, database in ((shim_store, shim_database), (chdb_store, ch_database)):
        store.insert(f"{database}.clicks", rows, CLICK_COLUMNS, dedup_token="seed")

    query = AnalyticsQuery(org_id="org_a", **fields)
    over_http = await run_query(ch=shim_store, database=shim_database, query=query, now=NOW)
    in_process = await run_query(ch=chdb_store, database=ch_database, query=query, now=NOW)
    assert over_http == in_process
    assert over_http  # an empty answer on both sides would prove nothing


async def test_known_answers_over_http(
    shim_store: ClickHouse, shim_database: str, click_rows: ClickRows
) -> None:
    migrate(shim_store, shim_database)
    rows = click_rows([T0, T0 + timedelta(minutes=1)], country="US") + click_rows(
        [T0 + timedelta(days=1)], country="FR"
    )
    shim_store.insert(f"{shim_database}.clicks", rows, CLICK_COLUMNS)

    async def ask(**fields: Any) -> Any:
        query = AnalyticsQuery(org_id="org_a", **fields)
        return await run_query(ch=shim_store, database=shim_database, query=query, now=NOW)

    assert await ask() == {"clicks": 3, "visitors": 2}
    countries = await ask(group_by="countries")
    assert [(row["country"], row["clicks"]) for row in countries] == [("US", 2), ("FR", 1)]
    series = await ask(group_by="timeseries", interval="all", granularity="day")
    assert [p["clicks"] for p in series if p["clicks"]] == [2, 1]


def test_a_failing_statement_is_a_database_error_with_the_server_text(
    shim_store: ClickHouse, shim_database: str
) -> None:
    migrate(shim_store, shim_database)
    with pytest.raises(DatabaseError) as caught:
        shim_store.query(f"SELECT no_such_column FROM {shim_database}.clicks")
    assert caught.value.code == 47
    assert "Unknown expression identifier `no_such_column`" in str(caught.value)
    with pytest.raises(DatabaseError, match=r"UNKNOWN_TABLE"):
        shim_store.query(f"SELECT 1 FROM {shim_database}.no_such_table")
