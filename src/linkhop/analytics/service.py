"""Run an analytics query against the click store and shape the result for the API."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from linkhop.analytics.export_stream import ExportStream, export_dsn, open_export
from linkhop.analytics.queries import (
    DIMENSIONS,
    count_sql,
    dimension_sql,
    first_click_sql,
    rank_sql,
    timeseries_sql,
)
from linkhop.analytics.schemas import AnalyticsQuery, ExportQuery
from linkhop.analytics.timeranges import (
    TimeRange,
    bucket_starts,
    choose_granularity,
    fill_series,
    resolve_range,
)
from linkhop.audit import service as audit_service
from linkhop.clickhouse.client import ClickHouse
from linkhop.principal import Principal

# Plain JSON-ready rows; the router may add fields (top_links gets each link's details).
Row = dict[str, object]


async def _timeseries(
    *,
    ch: ClickHouse,
    database: str,
    query: AnalyticsQuery,
    time_range: TimeRange,
    now: datetime,
    rollups: bool,
) -> list[Row]:
    end = time_range.end or now.astimezone(UTC)
    start = time_range.start
    if start is None:
        # "All time" starts at the first matching click, so the chart has no leading empty years.
        first_ms, matches = (
            await ch.aquery(
                *first_click_sql(query, database=database, time_range=TimeRange(None, end))
            )
        )[0]
        if matches == 0:
            return []
        start = datetime.fromtimestamp(first_ms / 1000, UTC)
    granularity = query.granularity or choose_granularity(start, end)
    zone = ZoneInfo(query.timezone)
    starts = bucket_starts(start, end, granularity, zone)  # raises Invalid before any query
    rows = await ch.aquery(
        *timeseries_sql(
            query,
            database=database,
            time_range=TimeRange(start, end),
            granularity=granularity,
            rollups=rollups,
            starts=starts,
        )
    )
    counts = [(int(bucket), int(clicks), int(visitors)) for bucket, clicks, visitors in rows]
    return fill_series(starts, counts, zone)


async def run_query(
    *, ch: ClickHouse, database: str, query: AnalyticsQuery, now: datetime, rollups: bool = True
) -> Row | list[Row]:
    """Answer ``query`` for its org: a count dict, or a list of rows (see ``results``).

    ``rollups=False`` reads only the raw ``clicks`` table (tests compare both paths).
    """
    time_range = resolve_range(query, now)
    if query.group_by == "count":
        rows = await ch.aquery(
            *count_sql(query, database=database, time_range=time_range, rollups=rollups)
        )
        clicks, visitors = rows[0]
        return {"clicks": int(clicks), "visitors": int(visitors)}
    if query.group_by == "timeseries":
        return await _timeseries(
            ch=ch, database=database, query=query, time_range=time_range, now=now, rollups=rollups
        )
    keys = [key for key, _ in DIMENSIONS[query.group_by]]
    only: list[str] | None = None
    ranking = rank_sql(query, database=database, time_range=time_range, rollups=rollups)
    if ranking is not None:
        # Two statements: a set built by a subquery would be built again for every tier.
        only = [str(value) for (value,) in await ch.aquery(*ranking)]
        if not only:
            return []
    rows = await ch.aquery(
        *dimension_sql(query, database=database, time_range=time_range, rollups=rollups, only=only)
    )
    return [_dimension_row(keys, row) for row in rows]


def _dimension_row(keys: list[str], row: tuple[Any, ...]) -> Row:
    *values, clicks, visitors = row
    shaped: Row = {key: str(value) for key, value in zip(keys, values, strict=True)}
    shaped.update(clicks=int(clicks), visitors=int(visitors))
    return shaped


async def start_export(
    *, ch: ClickHouse, configured_dsn: str, database: str, query: ExportQuery, now: datetime
) -> ExportStream:
    """Start streaming the raw clicks matching ``query`` on a client of its own.

    ``ch`` is the process's store (only its location is used, see ``export_stream``);
    ``configured_dsn`` is the settings' DSN, used for ClickHouse servers. Errors up to the first
    chunk raise here; read the rest with ``export_stream.stream_chunks``.
    """
    opener = partial(
        open_export,
        dsn=export_dsn(ch, configured_dsn),
        query=query,
        database=database,
        time_range=resolve_range(query, now),
    )
    return await anyio.to_thread.run_sync(opener)


def audit_export(session: AsyncSession, *, principal: Principal, query: ExportQuery) -> None:
    """Record who exported which raw events (a bulk read of personal data is an audited act).

    The event holds the export's filters as asked (format, range, link/domain/tag, dimensions,
    bots, user agents), not its rows.
    """
    asked = query.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    audit_service.record(
        session,
        principal=principal,
        action="analytics.exported",
        target_type="org",
        target_id=principal.org_id,
        data={"format": query.format, **asked},
    )
