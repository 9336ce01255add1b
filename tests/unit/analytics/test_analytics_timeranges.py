"""Pure time rules: presets, granularity, wall-clock buckets, gap filling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from linkhop.analytics.schemas import AnalyticsQuery, IntervalPreset
from linkhop.analytics.timeranges import (
    MAX_BUCKETS,
    TimeRange,
    bucket_floor,
    bucket_starts,
    choose_granularity,
    fill_series,
    resolve_range,
)
from linkhop.errors import Invalid

NOW = datetime(2025, 3, 31, 20, 15, 42, tzinfo=UTC)
KOLKATA = ZoneInfo("Asia/Kolkata")
PARIS = ZoneInfo("Europe/Paris")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("preset", "span"),
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("90d", timedelta(days=90)),
        ("1y", timedelta(days=365)),
    ],
)
def test_rolling_presets_end_now(preset: IntervalPreset, span: timedelta) -> None:
    query = AnalyticsQuery(org_id="o", interval=preset, timezone="Asia/Tokyo")
    assert resolve_range(query, NOW) == TimeRange(NOW - span, NOW)


def test_mtd_starts_at_local_month_start() -> None:
    # 20:15 UTC on 31 March is already 1 April 05:15 in Tokyo: the Tokyo month is April.
    tokyo = AnalyticsQuery(org_id="o", interval="mtd", timezone="Asia/Tokyo")
    assert resolve_range(tokyo, NOW) == TimeRange(utc(2025, 3, 31, 15), NOW)
    london = AnalyticsQuery(org_id="o", interval="mtd", timezone="Europe/London")
    assert resolve_range(london, NOW) == TimeRange(utc(2025, 3, 1), NOW)


def test_ytd_starts_at_local_new_year() -> None:
    now = utc(2025, 1, 1, 3)  # still 31 Dec 2024 in New York
    query = AnalyticsQuery(org_id="o", interval="ytd", timezone="America/New_York")
    assert resolve_range(query, now) == TimeRange(utc(2024, 1, 1, 5), now)
    utc_query = AnalyticsQuery(org_id="o", interval="ytd")
    assert resolve_range(utc_query, now) == TimeRange(utc(2025, 1, 1), now)


@pytest.mark.parametrize(
    ("now", "zone", "quarter_start"),
    [
        (utc(2025, 3, 31, 20, 15), "UTC", utc(2025, 1, 1)),
        # 20:15 UTC on 31 March is 1 April in Tokyo: Tokyo's second quarter has begun.
        (utc(2025, 3, 31, 20, 15), "Asia/Tokyo", utc(2025, 3, 31, 15)),
        (utc(2025, 8, 15), "Europe/Paris", utc(2025, 6, 30, 22)),  # 1 July, CEST
        (utc(2025, 12, 31, 23), "UTC", utc(2025, 10, 1)),
        (utc(2025, 10, 1), "UTC", utc(2025, 10, 1)),  # the first instant of a quarter
    ],
)
def test_qtd_starts_at_local_quarter_start(
    now: datetime, zone: str, quarter_start: datetime
) -> None:
    query = AnalyticsQuery(org_id="o", interval="qtd", timezone=zone)
    assert resolve_range(query, now) == TimeRange(quarter_start, now)


def test_all_is_unbounded_and_explicit_ranges_pass_through_in_utc() -> None:
    assert resolve_range(AnalyticsQuery(org_id="o", interval="all"), NOW) == TimeRange(None, None)
    assert resolve_range(AnalyticsQuery(org_id="o"), NOW) == TimeRange(None, None)
    query = AnalyticsQuery(org_id="o", timezone="Asia/Kolkata", start=datetime(2025, 1, 1))
    resolved = resolve_range(query, NOW)
    assert resolved == TimeRange(utc(2024, 12, 31, 18, 30), None)
    assert resolved.start is not None
    assert resolved.start.tzinfo is UTC


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_range(AnalyticsQuery(org_id="o", interval="7d"), datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=5), "minute"),
        (timedelta(hours=2), "minute"),
        (timedelta(hours=2, seconds=1), "hour"),
        (timedelta(hours=24), "hour"),
        (timedelta(days=3), "hour"),
        (timedelta(days=3, seconds=1), "day"),
        (timedelta(days=90), "day"),
        (timedelta(days=120), "day"),
        (timedelta(days=121), "month"),
        (timedelta(days=365), "month"),
    ],
)
def test_granularity_from_span(span: timedelta, expected: str) -> None:
    assert choose_granularity(NOW - span, NOW) == expected


def test_floor_follows_local_wall_clock() -> None:
    moment = utc(2025, 3, 1, 10, 7, 30)  # 15:37:30 in Kolkata
    assert bucket_floor(moment, "minute", KOLKATA) == utc(2025, 3, 1, 10, 7)
    assert bucket_floor(moment, "hour", KOLKATA) == utc(2025, 3, 1, 9, 30)
    assert bucket_floor(moment, "day", KOLKATA) == utc(2025, 2, 28, 18, 30)
    assert bucket_floor(moment, "month", KOLKATA) == utc(2025, 2, 28, 18, 30)
    assert bucket_floor(moment, "month", ZoneInfo("UTC")) == utc(2025, 3, 1)


def test_hour_buckets_in_a_half_hour_zone() -> None:
    starts = bucket_starts(utc(2025, 3, 1, 10, 0), utc(2025, 3, 1, 12, 0), "hour", KOLKATA)
    assert [s.astimezone(KOLKATA).isoformat() for s in starts] == [
        "2025-03-01T15:00:00+05:30",
        "2025-03-01T16:00:00+05:30",
        "2025-03-01T17:00:00+05:30",
    ]


def test_day_buckets_across_a_dst_change() -> None:
    # Paris springs forward on 30 March 2025: that day is 23 hours long.
    starts = bucket_starts(utc(2025, 3, 29, 12), utc(2025, 3, 31, 22), "day", PARIS)
    assert [s.astimezone(PARIS).isoformat() for s in starts] == [
        "2025-03-29T00:00:00+01:00",
        "2025-03-30T00:00:00+01:00",
        "2025-03-31T00:00:00+02:00",
    ]
    assert starts[2] - starts[1] == timedelta(hours=23)


def test_hour_buckets_across_a_dst_change_neither_repeat_nor_skip() -> None:
    # Autumn 2025 in Paris: local 02:00-03:00 happens twice; both are separate UTC hours.
    starts = bucket_starts(utc(2025, 10, 26, 0), utc(2025, 10, 26, 3), "hour", PARIS)
    assert starts == [utc(2025, 10, 26, 0), utc(2025, 10, 26, 1), utc(2025, 10, 26, 2)]
    assert [s.astimezone(PARIS).strftime("%H%z") for s in starts] == [
        "02+0200",
        "02+0100",
        "03+0100",
    ]


def test_month_buckets_wrap_the_year() -> None:
    starts = bucket_starts(utc(2024, 11, 15), utc(2025, 2, 1), "month", ZoneInfo("UTC"))
    assert starts == [utc(2024, 11, 1), utc(2024, 12, 1), utc(2025, 1, 1)]


def test_too_many_buckets_is_invalid() -> None:
    with pytest.raises(Invalid) as caught:
        bucket_starts(
            utc(2025, 1, 1),
            utc(2025, 1, 1) + timedelta(minutes=MAX_BUCKETS + 1),
            "minute",
            ZoneInfo("UTC"),
        )
    assert caught.value.field == "granularity"


def test_fill_series_fills_gaps_with_zero() -> None:
    starts = [utc(2025, 1, 1, h) for h in range(4)]
    counts = [
        (int(utc(2025, 1, 1, 1).timestamp()), 5, 3),
        (int(utc(2025, 1, 1, 3).timestamp()), 2, 2),
    ]
    assert fill_series(starts, counts, KOLKATA) == [
        {"start": "2025-01-01T05:30:00+05:30", "clicks": 0, "visitors": 0},
        {"start": "2025-01-01T06:30:00+05:30", "clicks": 5, "visitors": 3},
        {"start": "2025-01-01T07:30:00+05:30", "clicks": 0, "visitors": 0},
        {"start": "2025-01-01T08:30:00+05:30", "clicks": 2, "visitors": 2},
    ]


def test_fill_series_never_drops_a_bucket_it_cannot_match_exactly() -> None:
    starts = [utc(2025, 1, 1), utc(2025, 1, 2)]
    off_by_an_hour = int(utc(2025, 1, 2, 1).timestamp())
    before_first = int(utc(2024, 12, 31, 23).timestamp())
    points = fill_series(starts, [(off_by_an_hour, 3, 2), (before_first, 1, 1)], ZoneInfo("UTC"))
    assert [(p["clicks"], p["visitors"]) for p in points] == [(1, 1), (3, 2)]
    assert fill_series([], [(before_first, 1, 1)], ZoneInfo("UTC")) == []
