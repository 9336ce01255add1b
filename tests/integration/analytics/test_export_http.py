"""The export over clickhouse-connect's HTTP client, as against a ClickHouse server (chshim)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]  # ships no type information
import pytest
from tests.chshim.launcher import Shim, running_shim

from linkhop.analytics.export_stream import ExportStream, export_dsn, open_export
from linkhop.analytics.schemas import ExportFormat, ExportQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import CLICK_COLUMNS

T0 = datetime(2025, 3, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """A ClickHouse HTTP endpoint over its own chDB folder, in another process."""
    with running_shim(tmp_path_factory.mktemp("export-shim") / "store") as running:
        yield running


@pytest.fixture
def server_store(shim: Shim, make_click: Any) -> Iterator[tuple[ClickHouse, str, set[str]]]:
    """The shim's store, a migrated database, and org_a's click ids (org_b has clicks too)."""
    store = ClickHouse.connect(shim.url)
    database = f"t_export_{uuid.uuid4().hex[:10]}"
    runner.migrate(store, database)
    # Three days across a month end: two partitions, so two month windows.
    org_a = [
        make_click(T0 + timedelta(minutes=3 * i), url=f"https://e.example/{i}") for i in range(1500)
    ]
    org_b = [make_click(T0, org_id="org_b") for _ in range(20)]
    rows = [[c[col] for col in CLICK_COLUMNS] for c in org_a + org_b]
    store.insert(f"{database}.clicks", rows, CLICK_COLUMNS)
    yield store, database, {str(c["click_id"]) for c in org_a}
    store.command(f"DROP DATABASE IF EXISTS {database}")
    store.close()


def _read(stream: ExportStream) -> bytes:
    try:
        return b"".join(iter(stream.read, b""))
    finally:
        stream.close()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_an_http_store_exports_on_a_client_of_its_own(
    shim: Shim, server_store: tuple[ClickHouse, str, set[str]], fmt: ExportFormat
) -> None:
    store, database, org_a = server_store
    dsn = export_dsn(store, shim.url)
    assert dsn == shim.url  # a server: the configured DSN, not the shared client
    query = ExportQuery(org_id="org_a", format=fmt)
    body = _read(
        open_export(dsn=dsn, query=query, database=database, time_range=TimeRange(None, None))
    )
    if fmt == "csv":
        rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(body.decode())))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in body.splitlines()]
        assert b"https://e.example/" in body  # slashes left unescaped
    else:
        rows = pq.read_table(io.BytesIO(body)).to_pylist()
    assert {row["click_id"] for row in rows} == org_a
    # The shared client is untouched and still answers.
    assert store.query(f"SELECT count() FROM {database}.clicks") == [(1520,)]
