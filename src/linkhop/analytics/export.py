"""Pure rules of the raw click export: columns, file formats, the SELECT, the file name.

The export hands out raw events, so it lists its columns explicitly instead of ``SELECT *``: a
column added to ``clicks`` later is not exported until someone decides it should be. ``ip`` is
never exported (privacy: the redirect may store it, the export never hands it out), nor
``visitor_id`` (a stable pseudonymous id) or ``org_id`` (always the caller's own). ``ua`` is
exported only on request and with a permission (see ``UA_PERMISSION``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from linkhop.analytics.queries import SqlQuery, filters, source
from linkhop.analytics.schemas import ExportFormat, ExportQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.client import quote_identifier
from linkhop.clickhouse.tables import CLICKS

COLUMNS: tuple[str, ...] = (
    "click_id",
    "ts",
    "link_id",
    "domain",
    "key",
    "url",
    "trigger",
    "country",
    "region",
    "city",
    "continent",
    "device",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "bot",
    "bot_reason",
    "referrer",
    "referrer_domain",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
UA_COLUMN = "ua"
# Held by the org owner only in the seeded roles. The user agent is a fingerprinting signal, so
# it is not handed out with `analytics:read`; a dedicated permission (e.g. `analytics:export_ua`)
# would need a new entry in `principal.PERMISSIONS` and a role migration.
UA_PERMISSION = "org:write"

# CSV and JSON lines carry ts as ISO 8601 in UTC with milliseconds ("2025-06-10T12:00:00.000Z");
# Parquet carries a real timestamp (milliseconds since the epoch, annotated UTC). Joda syntax
# because `formatDateTime`'s %f width depends on a server setting.
_TEXT = {
    "click_id": "toString(click_id)",
    "ts": "formatDateTimeInJodaSyntax(ts, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''', 'UTC')",
    "bot": "toBool(bot)",
}
# Columns whose text comes from visitors, link owners or parsers of visitor input (user agent,
# referrer, GeoIP names). In CSV, a cell starting with = + - @ or a tab/carriage return is run as a
# formula by spreadsheet programs (CSV injection, OWASP): such cells get a leading apostrophe,
# which spreadsheets hide and treat as "this is text". JSON lines and Parquet carry the stored
# value unchanged: they are read by programs, not spreadsheets.
FORMULA_GUARDED: frozenset[str] = frozenset(
    c for c in (*COLUMNS, UA_COLUMN) if c not in ("click_id", "ts", "link_id", "bot")
)
# A ClickHouse string literal holding the RE2 class [-=+@\t\r] anchored at the start.
_FORMULA_START = r"'^[-=+@\t\r]'"


def _guarded(column: str) -> str:
    return f"if(match({column}, {_FORMULA_START}), concat('''', {column}), {column})"


_PARQUET = {
    "click_id": "toString(click_id)",
    "ts": "toUnixTimestamp64Milli(ts)",
    "bot": "toBool(bot)",
}


@dataclass(frozen=True)
class FileFormat:
    """How one export format is produced and served."""

    extension: str
    media_type: str
    # The ClickHouse output format that encodes it, or None when linkhop encodes it (Parquet:
    # chDB's client can stream only formats without a footer, so blocks are encoded here).
    clickhouse_format: str | None


FORMATS: dict[ExportFormat, FileFormat] = {
    # Plain CSV (not CSVWithNames): chDB streams only header-less formats, so the header is
    # written by linkhop (`csv_header`) and the rows by ClickHouse.
    "csv": FileFormat("csv", "text/csv; charset=utf-8", "CSV"),
    "jsonl": FileFormat("jsonl", "application/x-ndjson", "JSONEachRow"),
    "parquet": FileFormat("parquet", "application/vnd.apache.parquet", None),
}


def export_columns(query: ExportQuery) -> tuple[str, ...]:
    """The columns of this export, in file order."""
    return (*COLUMNS, UA_COLUMN) if query.include_ua else COLUMNS


def export_sql(query: ExportQuery, *, database: str, time_range: TimeRange) -> SqlQuery:
    """The SELECT of the raw events matching the query's filters (the same as the counts').

    The filter runs in a subquery on the stored columns, so the outer conversions (``ts`` as text,
    ``bot`` as a boolean) never shadow a column the WHERE clause compares. No ORDER BY: rows come
    in storage order (by link, then time); a sort holds the rows in memory (chDB process peak for
    3 M rows: ~1.3 GB sorted by the table key, ~1.8 GB by ts, ~0.5 GB unsorted, of which ~0.3 GB
    is the engine itself).
    """
    columns = export_columns(query)
    conversions = _PARQUET if query.format == "parquet" else _TEXT
    if query.format == "csv":
        conversions = {**conversions, **{c: _guarded(c) for c in FORMULA_GUARDED}}
    outer = ", ".join(f"{conversions[c]} AS {c}" if c in conversions else c for c in columns)
    where, params = filters(query, time_range)
    # Only fixed column names and the checked database name are spliced; values are bound.
    sql = "\n".join(
        (
            f"SELECT {outer}",
            "FROM (",
            f"    SELECT {', '.join(columns)}",
            f"    FROM {source(database)}",
            f"    WHERE {where}",
            ")",
        )
    )
    if query.format == "jsonl":
        # URLs read as https://… rather than https:\/\/… (both are valid JSON).
        sql += "\nSETTINGS output_format_json_escape_forward_slashes = 0"
    return SqlQuery(sql, params)


def bounds_sql(query: ExportQuery, *, database: str, time_range: TimeRange) -> SqlQuery:
    """First and last matching click: one row ``(first_ms, last_ms, matches)``.

    Read without FINAL: a duplicate row moves neither bound, and this scan should stay cheap.
    """
    where, params = filters(query, time_range)
    sql = "\n".join(
        (
            "SELECT toUnixTimestamp64Milli(min(ts)) AS first_ms,"
            " toUnixTimestamp64Milli(max(ts)) AS last_ms, count() AS matches",
            f"FROM {quote_identifier(database)}.{quote_identifier(CLICKS)}",
            f"WHERE {where}",
        )
    )
    return SqlQuery(sql, params)


def month_windows(start: datetime, end: datetime) -> list[TimeRange]:
    """``[start, end)`` cut at UTC month starts, where the clicks table's partitions split.

    An export reads one window at a time: ``FINAL`` over the whole table opens every part of
    every month at once, and its memory grew with the months covered (chDB process peak, 9 M rows
    over 12 months: ~0.65 GB in one query, ~0.48 GB month by month; 1 M rows: ~0.42 GB).
    """
    windows: list[TimeRange] = []
    current = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while current < end:
        year, month = (
            (current.year + 1, 1) if current.month == 12 else (current.year, current.month + 1)
        )
        following = datetime(year, month, 1, tzinfo=UTC)
        windows.append(TimeRange(current, min(following, end)))
        current = following
    return windows


def csv_header(columns: tuple[str, ...]) -> bytes:
    """The header line ClickHouse's CSVWithNames would write (names quoted, CRLF-free)."""
    return (",".join(f'"{name}"' for name in columns) + "\n").encode()


def export_filename(fmt: ExportFormat, now: datetime) -> str:
    """``linkhop-clicks-YYYY-MM-DD.<ext>`` with today's UTC date."""
    return f"linkhop-clicks-{now.astimezone(UTC).date().isoformat()}.{FORMATS[fmt].extension}"
