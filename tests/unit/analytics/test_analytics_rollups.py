"""Choosing a rollup and cutting a range into day / hour / raw segments (pure rules)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from linkhop.analytics.queries import count_sql, dimension_sql, timeseries_sql
from linkhop.analytics.rollups import Segment, choose_rollup, plan_segments
from linkhop.analytics.schemas import AnalyticsQuery, Granularity, GroupBy
from linkhop.analytics.timeranges import TimeRange, bucket_starts
from linkhop.clickhouse.tables import (
    CLICKS_DAILY,
    CLICKS_HOURLY,
    CLICKS_ORG_DIMS_DAILY,
)


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, second, ms * 1000, tzinfo=UTC)


def tiers(segments: list[Segment]) -> list[tuple[str, datetime | None, datetime | None]]:
    return [(s.tier, s.start, s.end) for s in segments]


def test_a_ninety_day_style_range_is_whole_days_between_raw_edges() -> None:
    start, end = at(1, 14, 23, 17, 123), at(20, 14, 23, 17, 123)
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"])) == [
        ("raw", start, at(2)),
        ("day", at(2), at(20)),
        ("raw", at(20), end),
    ]


def test_segments_tile_the_range_without_gaps_or_overlap() -> None:
    start, end = at(3, 5, 59, 59, 999), at(9, 0, 0, 0, 1)
    segments = plan_segments(TimeRange(start, end), ["day", "hour"])
    assert segments[0].start == start
    assert segments[-1].end == end
    for left, right in itertools.pairwise(segments):
        assert left.end == right.start


def test_aligned_bounds_need_no_raw_edges() -> None:
    assert tiers(plan_segments(TimeRange(at(1), at(4)), ["day", "hour"])) == [("day", at(1), at(4))]
    assert tiers(plan_segments(TimeRange(at(1, 3), at(1, 9)), ["day", "hour"])) == [
        ("hour", at(1, 3), at(1, 9))
    ]


def test_less_than_a_whole_day_uses_hours() -> None:
    start, end = at(1, 14, 30), at(2, 13, 10)
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"])) == [
        ("raw", start, at(1, 15)),
        ("hour", at(1, 15), at(2, 13)),
        ("raw", at(2, 13), end),
    ]


def test_unbounded_sides_stay_on_the_coarsest_tier() -> None:
    assert tiers(plan_segments(TimeRange(None, None), ["day", "hour"])) == [("day", None, None)]
    assert tiers(plan_segments(TimeRange(None, at(5, 12, 30)), ["day", "hour"])) == [
        ("day", None, at(5)),
        ("raw", at(5), at(5, 12, 30)),
    ]


def test_less_than_an_hour_is_raw_only() -> None:
    start, end = at(1, 10, 5), at(1, 10, 50)
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"])) == [("raw", start, end)]


def test_without_an_hourly_tier_a_short_range_is_raw() -> None:
    start, end = at(1, 14), at(2, 2)
    assert tiers(plan_segments(TimeRange(start, end), ["day"])) == [("raw", start, end)]


def _buckets(start: datetime, end: datetime, granularity: Granularity, zone: str) -> list[datetime]:
    return bucket_starts(start, end, granularity, ZoneInfo(zone))


def test_utc_days_may_use_daily_rows() -> None:
    start, end = at(1), at(10)
    plan = plan_segments(TimeRange(start, end), ["day", "hour"], _buckets(start, end, "day", "UTC"))
    assert tiers(plan) == [("day", start, end)]


def test_paris_days_fall_back_to_hours() -> None:
    # Paris midnight is 23:00 UTC: a UTC day row would straddle two Paris days.
    start, end = at(1), at(10)
    boundaries = _buckets(start, end, "day", "Europe/Paris")
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"], boundaries)) == [
        ("hour", start, end)
    ]


def test_half_hour_zones_read_raw() -> None:
    start, end = at(1), at(10)
    boundaries = _buckets(start, end, "day", "Asia/Kolkata")
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"], boundaries)) == [
        ("raw", start, end)
    ]


def test_hour_buckets_cannot_use_daily_rows() -> None:
    start, end = at(1, 6), at(3, 6)
    boundaries = _buckets(start, end, "hour", "UTC")
    assert tiers(plan_segments(TimeRange(start, end), ["day", "hour"], boundaries)) == [
        ("hour", start, end)
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"group_by": "count"}, (CLICKS_ORG_DIMS_DAILY, "all")),
        ({"group_by": "timeseries"}, (CLICKS_ORG_DIMS_DAILY, "all")),
        ({"group_by": "count", "link_id": "l"}, (CLICKS_DAILY, None)),
        ({"group_by": "timeseries", "link_ids": ["a"]}, (CLICKS_DAILY, None)),
        ({"group_by": "top_links"}, (CLICKS_DAILY, None)),
        ({"group_by": "countries"}, (CLICKS_ORG_DIMS_DAILY, "country")),
        ({"group_by": "referrer_domains"}, (CLICKS_ORG_DIMS_DAILY, "referrer_domain")),
        ({"group_by": "referrers", "link_id": "l"}, None),
        ({"group_by": "devices", "link_ids": ["a", "b"]}, None),
        ({"group_by": "cities"}, None),
        ({"group_by": "regions"}, None),
        ({"group_by": "count", "domain": "go.example"}, None),
        ({"group_by": "count", "country": "FR"}, None),
        ({"group_by": "devices", "referrer": "(direct)"}, None),
    ],
)
def test_which_rollup(fields: dict[str, Any], expected: tuple[str, str | None] | None) -> None:
    rollup = choose_rollup(AnalyticsQuery(org_id="o", **fields))
    assert (tuple(rollup.tables["day"]) if rollup else None) == expected


def test_counts_fall_back_to_hourly_rows() -> None:
    for link_id in (None, "l"):
        rollup = choose_rollup(AnalyticsQuery(org_id="o", group_by="count", link_id=link_id))
        assert rollup is not None
        assert rollup.tables["hour"].name == CLICKS_HOURLY


RANGE = TimeRange(at(1, 14, 30), at(20, 14, 30))


def test_the_rollup_statement_unites_tiers_and_merges_states() -> None:
    sql, params = count_sql(
        AnalyticsQuery(org_id="o", link_id="l"), database="lh", time_range=RANGE
    )
    assert sql.startswith("SELECT sum(n) AS clicks, uniqCombinedMerge(14)(v) AS visitors\nFROM (\n")
    assert sql.count("UNION ALL") == 2
    assert "FROM `lh`.`clicks_daily`" in sql
    assert sql.count("FROM `lh`.`clicks`\n") == 2
    assert "FINAL" not in sql
    # Tenancy first in every tier, and the link filter everywhere.
    for part in sql.split("UNION ALL"):
        assert "WHERE org_id = {org_id:String} AND link_id = {link_id:String}" in part
        assert "bot = 0" in part
    assert RANGE.start is not None
    assert params["a_start"] == int(RANGE.start.timestamp() * 1000)
    assert params["b_start"] == int(at(2).timestamp())  # day tier: whole seconds


@pytest.mark.parametrize("group_by", ["countries", "referrers", "devices", "utm_sources"])
def test_dimension_rollups_filter_their_dimension(group_by: GroupBy) -> None:
    query = AnalyticsQuery(org_id="o", group_by=group_by, limit=3)
    sql, params = dimension_sql(query, database="lh", time_range=RANGE)
    assert "FROM `lh`.`clicks_org_dims_daily`" in sql
    assert "dim = {dim:String}" in sql
    assert params["limit"] == 3
    assert sql.endswith("GROUP BY d0\nORDER BY clicks DESC, d0 ASC\nLIMIT {limit:UInt32}")


def test_raw_only_when_asked() -> None:
    for sql, _ in (
        count_sql(AnalyticsQuery(org_id="o"), database="lh", time_range=RANGE, rollups=False),
        timeseries_sql(
            AnalyticsQuery(org_id="o"),
            database="lh",
            time_range=RANGE,
            granularity="day",
            rollups=False,
        ),
    ):
        assert "clicks_daily" not in sql
        assert "uniqCombinedMerge" not in sql


def test_minute_buckets_read_raw() -> None:
    short = TimeRange(at(1, 10), at(1, 11, 30))
    sql, _ = timeseries_sql(
        AnalyticsQuery(org_id="o"), database="lh", time_range=short, granularity="minute"
    )
    assert "uniqCombinedMerge" not in sql
    long = TimeRange(at(1), at(1) + timedelta(days=30))
    sql, _ = timeseries_sql(
        AnalyticsQuery(org_id="o"), database="lh", time_range=long, granularity="minute"
    )
    assert "uniqCombinedMerge" not in sql  # too many buckets for the service anyway: never a rollup
