"""The export's pure rules: columns, SELECT text, header, file names, formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from linkhop.analytics.export import (
    COLUMNS,
    FORMATS,
    UA_COLUMN,
    csv_header,
    export_columns,
    export_filename,
    export_sql,
)
from linkhop.analytics.schemas import ExportFormat, ExportQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.tables import CLICK_COLUMNS

RANGE = TimeRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))


def test_ip_and_pseudonymous_ids_are_never_exported() -> None:
    for query in (ExportQuery(org_id="o"), ExportQuery(org_id="o", include_ua=True)):
        columns = export_columns(query)
        assert not {"ip", "visitor_id", "org_id"} & set(columns)
        sql, _ = export_sql(query, database="lh", time_range=RANGE)
        assert "ip" not in sql.replace(",", " ").split()
        assert "visitor_id" not in sql


def test_the_user_agent_only_on_request() -> None:
    assert UA_COLUMN not in export_columns(ExportQuery(org_id="o"))
    with_ua = export_columns(ExportQuery(org_id="o", include_ua=True))
    assert with_ua == (*COLUMNS, UA_COLUMN)


def test_every_exported_column_exists_in_clicks() -> None:
    assert set(COLUMNS) | {UA_COLUMN} <= set(CLICK_COLUMNS)


def test_csv_export_sql_snapshot() -> None:
    query = ExportQuery(org_id="o", country="de", link_id="l")
    sql, params = export_sql(query, database="linkhop", time_range=RANGE)
    inner = ", ".join(COLUMNS)
    assert sql.startswith(
        "SELECT toString(click_id) AS click_id,"
        " formatDateTimeInJodaSyntax(ts, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''', 'UTC') AS ts,"
        " link_id, if(match(domain, '^[-=+@\\t\\r]'), concat('''', domain), domain) AS domain,"
    )
    # Every text column a visitor or a link owner controls is guarded in CSV, none in JSON lines.
    for column in ("url", "referrer", "utm_source", "city", "browser"):
        assert f"concat('''', {column}), {column}) AS {column}" in sql, column
    jsonl, _ = export_sql(
        ExportQuery(org_id="o", format="jsonl"), database="linkhop", time_range=RANGE
    )
    assert "concat(" not in jsonl
    assert sql.endswith(
        "\nFROM (\n"
        f"    SELECT {inner}\n"
        "    FROM `linkhop`.`clicks` FINAL\n"
        "    WHERE org_id = {org_id:String} AND link_id = {link_id:String}"
        " AND ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')"
        " AND ts < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC') AND bot = 0"
        " AND country = {country:String}\n"
        ")"
    )
    assert "toBool(bot) AS bot" in sql
    assert "ORDER BY" not in sql  # a sort would hold every row in memory
    assert params == {
        "org_id": "o",
        "link_id": "l",
        "start_ms": 1_735_689_600_000,
        "end_ms": 1_738_368_000_000,
        "country": "DE",
    }


def test_parquet_reads_ts_as_epoch_milliseconds() -> None:
    sql, _ = export_sql(ExportQuery(org_id="o", format="parquet"), database="lh", time_range=RANGE)
    assert "toUnixTimestamp64Milli(ts) AS ts" in sql
    assert "formatDateTime" not in sql


def test_json_lines_keep_slashes_readable() -> None:
    sql, _ = export_sql(ExportQuery(org_id="o", format="jsonl"), database="lh", time_range=RANGE)
    assert sql.endswith(")\nSETTINGS output_format_json_escape_forward_slashes = 0")
    csv_sql, _ = export_sql(ExportQuery(org_id="o"), database="lh", time_range=RANGE)
    assert "SETTINGS" not in csv_sql


def test_bots_are_left_out_unless_asked() -> None:
    sql, _ = export_sql(ExportQuery(org_id="o"), database="lh", time_range=RANGE)
    assert "bot = 0" in sql
    sql, _ = export_sql(ExportQuery(org_id="o", include_bots=True), database="lh", time_range=RANGE)
    assert "bot = 0" not in sql


def test_csv_header_quotes_names() -> None:
    assert csv_header(("click_id", "ts")) == b'"click_id","ts"\n'


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("csv", "linkhop-clicks-2025-03-01.csv"),
        ("jsonl", "linkhop-clicks-2025-03-01.jsonl"),
        ("parquet", "linkhop-clicks-2025-03-01.parquet"),
    ],
)
def test_file_name_has_the_utc_date(fmt: ExportFormat, name: str) -> None:
    # 23:30 on 28 Feb in New York is already 1 March in UTC.
    now = datetime(2025, 2, 28, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert export_filename(fmt, now) == name


def test_each_format_has_a_media_type() -> None:
    assert FORMATS["csv"].media_type.startswith("text/csv")
    assert FORMATS["jsonl"].clickhouse_format == "JSONEachRow"
    assert FORMATS["parquet"].clickhouse_format is None  # encoded by linkhop, see export_stream
