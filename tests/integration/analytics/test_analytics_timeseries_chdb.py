"""Timeseries against real chDB: local-time buckets, filled gaps, automatic granularity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.service import run_query
from linkhop.clickhouse.client import ClickHouse
from linkhop.errors import Invalid

NOW = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def series(store: ClickHouse, database: str) -> Any:
    async def run(**fields: Any) -> Any:
        query = AnalyticsQuery(group_by="timeseries", org_id="org_a", **fields)
        return await run_query(ch=store, database=database, query=query, now=NOW)

    return run


async def test_days_in_kolkata_with_empty_days_filled(
    series: Any, add_clicks: Any, make_click: Any
) -> None:
    # Asia/Kolkata is UTC+05:30 all year: 20:00 UTC on 1 March is already 2 March locally.
    add_clicks(
        [
            make_click(datetime(2025, 3, 1, 10, 0, tzinfo=UTC)),  # 1 Mar 15:30 local
            make_click(datetime(2025, 3, 1, 20, 0, tzinfo=UTC)),  # 2 Mar 01:30 local
            make_click(datetime(2025, 3, 1, 21, 0, tzinfo=UTC)),  # 2 Mar 02:30 local
            make_click(datetime(2025, 3, 4, 0, 0, tzinfo=UTC)),  # 4 Mar 05:30 local
        ]
    )
    points = await series(
        timezone="Asia/Kolkata", start=datetime(2025, 3, 1), end=datetime(2025, 3, 5)
    )
    assert points == [
        {"start": "2025-03-01T00:00:00+05:30", "clicks": 1, "visitors": 1},
        {"start": "2025-03-02T00:00:00+05:30", "clicks": 2, "visitors": 1},
        {"start": "2025-03-03T00:00:00+05:30", "clicks": 0, "visitors": 0},
        {"start": "2025-03-04T00:00:00+05:30", "clicks": 1, "visitors": 1},
    ]


async def test_the_same_clicks_bucket_differently_in_utc(
    series: Any, add_clicks: Any, make_click: Any
) -> None:
    add_clicks(
        [
            make_click(datetime(2025, 3, 1, 10, 0, tzinfo=UTC)),
            make_click(datetime(2025, 3, 1, 20, 0, tzinfo=UTC)),
        ]
    )
    points = await series(start=datetime(2025, 3, 1), end=datetime(2025, 3, 3), granularity="day")
    assert points == [
        {"start": "2025-03-01T00:00:00+00:00", "clicks": 2, "visitors": 1},
        {"start": "2025-03-02T00:00:00+00:00", "clicks": 0, "visitors": 0},
    ]


async def test_24h_is_hourly_and_continuous(series: Any, add_clicks: Any, make_click: Any) -> None:
    add_clicks([make_click(NOW - timedelta(minutes=30)), make_click(NOW - timedelta(hours=5))])
    points = await series(interval="24h")
    assert len(points) == 24  # NOW is on the hour, so the first bucket starts exactly 24 h ago
    assert points[0]["start"] == "2025-03-04T12:00:00+00:00"
    assert [i for i, p in enumerate(points) if p["clicks"]] == [19, 23]
    assert sum(p["clicks"] for p in points) == 2


async def test_minutes_for_a_short_range_with_an_explicit_override(
    series: Any, add_clicks: Any, make_click: Any
) -> None:
    add_clicks([make_click(NOW - timedelta(seconds=90))])
    start, end = NOW - timedelta(minutes=5), NOW
    points = await series(start=start, end=end)
    assert [p["clicks"] for p in points] == [0, 0, 0, 1, 0]
    hourly = await series(start=start, end=end, granularity="hour")
    assert hourly == [{"start": "2025-03-05T11:00:00+00:00", "clicks": 1, "visitors": 1}]


async def test_months_for_all_time_start_at_the_first_click(
    series: Any, add_clicks: Any, make_click: Any
) -> None:
    add_clicks(
        [
            make_click(datetime(2024, 9, 20, tzinfo=UTC)),  # 19 Sep local; > 120 days → months
            make_click(datetime(2025, 2, 10, tzinfo=UTC)),
            make_click(datetime(2025, 2, 11, tzinfo=UTC), org_id="org_b"),
            make_click(datetime(2023, 1, 1, tzinfo=UTC), bot=1),  # a bot must not stretch it
        ]
    )
    points = await series(interval="all", timezone="America/New_York")
    assert points == [
        {"start": "2024-09-01T00:00:00-04:00", "clicks": 1, "visitors": 1},
        {"start": "2024-10-01T00:00:00-04:00", "clicks": 0, "visitors": 0},
        {"start": "2024-11-01T00:00:00-04:00", "clicks": 0, "visitors": 0},
        {"start": "2024-12-01T00:00:00-05:00", "clicks": 0, "visitors": 0},
        {"start": "2025-01-01T00:00:00-05:00", "clicks": 0, "visitors": 0},
        {"start": "2025-02-01T00:00:00-05:00", "clicks": 1, "visitors": 1},
        {"start": "2025-03-01T00:00:00-05:00", "clicks": 0, "visitors": 0},
    ]


async def test_all_time_without_clicks_is_empty(series: Any) -> None:
    assert await series(interval="all") == []


async def test_days_across_a_dst_change(series: Any, add_clicks: Any, make_click: Any) -> None:
    # Paris springs forward on 30 March 2025; 22:30 UTC that day is already 31 March locally.
    add_clicks(
        [
            make_click(datetime(2025, 3, 30, 21, 30, tzinfo=UTC)),  # 30 Mar 23:30 CEST
            make_click(datetime(2025, 3, 30, 22, 30, tzinfo=UTC)),  # 31 Mar 00:30 CEST
        ]
    )
    points = await series(
        timezone="Europe/Paris",
        start=datetime(2025, 3, 30),
        end=datetime(2025, 4, 1),
        granularity="day",
    )
    assert points == [
        {"start": "2025-03-30T00:00:00+01:00", "clicks": 1, "visitors": 1},
        {"start": "2025-03-31T00:00:00+02:00", "clicks": 1, "visitors": 1},
    ]


async def test_too_fine_a_granularity_is_refused(series: Any) -> None:
    with pytest.raises(Invalid):
        await series(interval="1y", granularity="minute")


async def test_the_repeated_autumn_hour_is_two_buckets(
    series: Any, add_clicks: Any, make_click: Any
) -> None:
    # 26 Oct 2025 in Paris: local 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET).
    add_clicks(
        [
            make_click(datetime(2025, 10, 26, 0, 30, tzinfo=UTC)),
            make_click(datetime(2025, 10, 26, 1, 30, tzinfo=UTC)),
            make_click(datetime(2025, 10, 26, 1, 45, tzinfo=UTC)),
        ]
    )
    points = await series(
        timezone="Europe/Paris",
        start=datetime(2025, 10, 26, 0, tzinfo=UTC),
        end=datetime(2025, 10, 26, 3, tzinfo=UTC),
    )
    assert points == [
        {"start": "2025-10-26T02:00:00+02:00", "clicks": 1, "visitors": 1},
        {"start": "2025-10-26T02:00:00+01:00", "clicks": 2, "visitors": 1},
        {"start": "2025-10-26T03:00:00+01:00", "clicks": 0, "visitors": 0},
    ]


async def test_hours_in_a_half_hour_zone(series: Any, add_clicks: Any, make_click: Any) -> None:
    add_clicks([make_click(datetime(2025, 3, 1, 10, 15, tzinfo=UTC))])  # 15:45 in Kolkata
    points = await series(
        timezone="Asia/Kolkata",
        start=datetime(2025, 3, 1, 15),
        end=datetime(2025, 3, 1, 17),
        granularity="hour",
    )
    assert points == [
        {"start": "2025-03-01T15:00:00+05:30", "clicks": 1, "visitors": 1},
        {"start": "2025-03-01T16:00:00+05:30", "clicks": 0, "visitors": 0},
    ]
