"""Run an analytics query against the click store and shape the result for the API."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from linkhop.analytics.queries import (
    DIMENSIONS,
    count_sql,
    dimension_sql,
    first_click_sql,
    timeseries_sql,
)
from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.timeranges import (
    TimeRange,
    bucket_starts,
    choose_granularity,
    fill_series,
    resolve_range,
)
from linkhop.clickhouse.client import ClickHouse

# Plain JSON-ready rows; the router may add fields (top_links gets each link's details).
Row = dict[str, object]


async def _timeseries(
    *, ch: ClickHouse, database: str, query: AnalyticsQuery, time_range: TimeRange, now: datetime
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
            query, database=database, time_range=TimeRange(start, end), granularity=granularity
        )
    )
    return fill_series(starts, [(int(bucket), int(clicks)) for bucket, clicks in rows], zone)


async def run_query(
    *, ch: ClickHouse, database: str, query: AnalyticsQuery, now: datetime
) -> Row | list[Row]:
    """Answer ``query`` for its org: a count dict, or a list of rows (see ``schemas``)."""
    time_range = resolve_range(query, now)
    if query.group_by == "count":
        rows = await ch.aquery(*count_sql(query, database=database, time_range=time_range))
        clicks, visitors = rows[0]
        return {"clicks": int(clicks), "visitors": int(visitors)}
    if query.group_by == "timeseries":
        return await _timeseries(
            ch=ch, database=database, query=query, time_range=time_range, now=now
        )
    key, _ = DIMENSIONS[query.group_by]
    rows = await ch.aquery(*dimension_sql(query, database=database, time_range=time_range))
    return [{key: str(value), "clicks": int(clicks)} for value, clicks in rows]
