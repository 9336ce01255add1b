"""The export stream against real chDB: a second client, month windows, failures, slots."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError
from structlog.testing import capture_logs

from linkhop.analytics.export_stream import (
    MAX_CONCURRENT_EXPORTS,
    ExportStream,
    export_dsn,
    open_export,
    stream_chunks,
    text_chunks,
)
from linkhop.analytics.queries import SqlQuery
from linkhop.analytics.schemas import ExportQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.client import ClickHouse
from linkhop.errors import RateLimited

T0 = datetime(2025, 1, 20, tzinfo=UTC)
ALL_TIME = TimeRange(None, None)


def _open(store: ClickHouse, database: str, time_range: TimeRange = ALL_TIME, **fields: Any) -> Any:
    query = ExportQuery(org_id="org_a", **{"format": "jsonl", **fields})
    dsn = export_dsn(store, "http://never-used.invalid:8123/")
    return open_export(dsn=dsn, query=query, database=database, time_range=time_range)


def _lines(stream: ExportStream) -> list[dict[str, Any]]:
    try:
        body = b"".join(iter(stream.read, b""))
    finally:
        stream.close()
    return [json.loads(line) for line in body.splitlines()]


def test_a_chdb_export_reuses_the_open_engine_path(store: ClickHouse) -> None:
    assert export_dsn(store, "http://elsewhere:8123/").startswith("chdb:///")
    assert export_dsn(store, "http://elsewhere:8123/") == str(store.client.uri)


def test_the_shared_store_answers_while_an_export_streams(
    store: ClickHouse, database: str, add_clicks: Any, make_click: Any
) -> None:
    rows = [make_click(T0 + timedelta(seconds=i), visitor_id=i) for i in range(6000)]
    add_clicks(rows)
    stream = _open(store, database)
    try:
        first = stream.read()
        assert first  # the export's handle is mid-stream now
        # The shared client's lock is free and its handle is not the one streaming.
        count = f"SELECT count() FROM {database}.clicks"
        assert store.query(count) == [(6000,)]
        rest = b"".join(iter(stream.read, b""))
    finally:
        stream.close()
    lines = (first + rest).splitlines()
    assert len(lines) == 6000
    assert {json.loads(line)["click_id"] for line in lines} == {str(r["click_id"]) for r in rows}


def test_every_month_is_read_once_and_ranges_are_half_open(
    store: ClickHouse, database: str, add_clicks: Any, make_click: Any
) -> None:
    stamps = [
        datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 2, 14, 12, tzinfo=UTC),
        datetime(2025, 4, 30, 23, 59, tzinfo=UTC),
    ]
    add_clicks([make_click(ts) for ts in stamps] + [make_click(T0, org_id="org_b")])
    everything = _lines(_open(store, database))
    assert sorted(row["ts"] for row in everything) == [
        "2024-12-31T23:59:59.999Z",
        "2025-01-01T00:00:00.000Z",
        "2025-02-14T12:00:00.000Z",
        "2025-04-30T23:59:00.000Z",
    ]
    bounded = TimeRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 30, 23, 59, tzinfo=UTC))
    assert [row["ts"] for row in _lines(_open(store, database, bounded))] == [
        "2025-01-01T00:00:00.000Z",
        "2025-02-14T12:00:00.000Z",
    ]
    open_start = TimeRange(datetime(2025, 2, 1, tzinfo=UTC), None)
    assert len(_lines(_open(store, database, open_start))) == 2


def test_no_matching_clicks_is_an_empty_file(store: ClickHouse, database: str) -> None:
    assert _lines(_open(store, database)) == []
    csv = _open(store, database, format="csv")
    try:
        assert csv.read().startswith(b'"click_id","ts",')
        assert csv.read() == b""
    finally:
        csv.close()


def test_a_bad_query_fails_before_any_byte_and_frees_its_slot(store: ClickHouse) -> None:
    for _ in range(MAX_CONCURRENT_EXPORTS + 1):  # a leaked slot would end in RateLimited
        with pytest.raises(DatabaseError):
            _open(store, "no_such_database")


def test_exports_beyond_the_limit_are_refused_until_one_closes(
    store: ClickHouse, database: str, add_clicks: Any, make_click: Any
) -> None:
    add_clicks([make_click(T0)])
    streams = [_open(store, database) for _ in range(MAX_CONCURRENT_EXPORTS)]
    try:
        with pytest.raises(RateLimited):
            _open(store, database)
        streams.pop().close()
        streams.append(_open(store, database))
        dropped = streams.pop()
        del dropped  # never closed: the finalizer must still give the slot back
        gc.collect()
        streams.append(_open(store, database))
    finally:
        for stream in streams:
            stream.close()
            stream.close()  # closing twice is harmless and frees one slot only
    # Every slot is free again.
    again = [_open(store, database) for _ in range(MAX_CONCURRENT_EXPORTS)]
    for stream in again:
        assert len(_lines(stream)) == 1


async def test_a_failure_mid_stream_is_logged_and_breaks_the_stream(store: ClickHouse) -> None:
    client = clickhouse_connect.get_client(dsn=str(store.client.uri))
    closed: list[bool] = []
    # A real engine error ~45 blocks in (numbers() yields 65 k-row blocks). One thread keeps the
    # blocks in order, so the first chunk is always out before the engine reaches the bad row.
    failing = SqlQuery(
        "SELECT number, throwIf(number = 2900000, 'boom') AS x FROM numbers(3000000)"
        " SETTINGS max_threads = 1",
        {},
    )
    stream = ExportStream(
        client, text_chunks(client, [failing], "JSONEachRow"), lambda: closed.append(True)
    )
    received: list[bytes] = []

    async def consume() -> None:
        async for chunk in stream_chunks(stream, context={"org_id": "org_a"}):
            received.append(chunk)

    with capture_logs() as logs, pytest.raises(Exception, match="boom"):
        await consume()
    assert received  # the response had started: the error could not be a problem+json
    assert closed == [True]
    assert [entry["event"] for entry in logs] == ["analytics_export_failed"]
    assert logs[0]["org_id"] == "org_a"
