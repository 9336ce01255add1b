"""Pure time-range rules: presets to start/end, bucket size from the range, bucket starts.

Everything here takes ``now`` and a zone and does no I/O, so the rules are unit-tested without a
clock or a database. Bucket boundaries follow local wall-clock time in the query's zone (a "day"
in Europe/Paris starts at local midnight), the same way ClickHouse's ``toStartOf*(ts, tz)`` does.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from linkhop.analytics.schemas import AnalyticsFilters, Granularity, IntervalPreset
from linkhop.errors import Invalid

# Bucket size thresholds, chosen so a chart gets roughly 24-120 points for the presets:
# up to 2 h → minutes (≤ 120), up to 3 d → hours (24h preset → 24-25, ≤ 72),
# up to 120 d → days (7d/30d/90d → 7-91), beyond → months (1y → 13, all → one per month).
MINUTE_MAX = timedelta(hours=2)
HOUR_MAX = timedelta(days=3)
DAY_MAX = timedelta(days=120)

# An explicit granularity may not ask for more points than a chart can use (1 year of minutes).
MAX_BUCKETS = 10_000

_ROLLING: dict[IntervalPreset, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
_FIXED_STEP: dict[Granularity, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
}


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in UTC; ``None`` means unbounded on that side."""

    start: datetime | None
    end: datetime | None


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _local_midnight(year: int, month: int, day: int, zone: ZoneInfo) -> datetime:
    """Local midnight as a UTC instant (fold=0: the first one if a DST change repeats it)."""
    return datetime(year, month, day, tzinfo=zone).astimezone(UTC)


def resolve_range(query: AnalyticsFilters, now: datetime) -> TimeRange:
    """The UTC range a query covers: its start/end, or its interval preset ending at ``now``."""
    _require_aware(now, "now")
    now = now.astimezone(UTC)
    if query.interval is None:
        return TimeRange(
            query.start.astimezone(UTC) if query.start is not None else None,
            query.end.astimezone(UTC) if query.end is not None else None,
        )
    if query.interval == "all":
        return TimeRange(None, None)
    if query.interval in _ROLLING:
        return TimeRange(now - _ROLLING[query.interval], now)
    zone = ZoneInfo(query.timezone)
    local = now.astimezone(zone)
    if query.interval == "mtd":
        return TimeRange(_local_midnight(local.year, local.month, 1, zone), now)
    if query.interval == "qtd":
        quarter_month = (local.month - 1) // 3 * 3 + 1
        return TimeRange(_local_midnight(local.year, quarter_month, 1, zone), now)
    return TimeRange(_local_midnight(local.year, 1, 1, zone), now)  # ytd


def choose_granularity(start: datetime, end: datetime) -> Granularity:
    """The bucket size for a range (see the thresholds above)."""
    span = end - start
    if span <= MINUTE_MAX:
        return "minute"
    if span <= HOUR_MAX:
        return "hour"
    if span <= DAY_MAX:
        return "day"
    return "month"


def bucket_floor(instant: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    """The UTC start of the bucket holding ``instant``, buckets aligned to wall-clock time."""
    _require_aware(instant, "instant")
    local = instant.astimezone(zone)
    if granularity == "minute":
        floored = local.replace(second=0, microsecond=0)
    elif granularity == "hour":
        floored = local.replace(minute=0, second=0, microsecond=0)
    elif granularity == "day":
        return _local_midnight(local.year, local.month, local.day, zone)
    else:
        return _local_midnight(local.year, local.month, 1, zone)
    return floored.astimezone(UTC)


def _next_bucket(start: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    if granularity in _FIXED_STEP:
        # Step in UTC, then re-floor: an aware local datetime + timedelta is wall-clock
        # arithmetic in Python and would repeat or skip an hour at a DST change.
        return bucket_floor(start + _FIXED_STEP[granularity], granularity, zone)
    local = start.astimezone(zone)
    if granularity == "day":
        # Noon of the next day can't fall in a DST gap; its floor is that day's midnight.
        noon = datetime(local.year, local.month, local.day, 12, tzinfo=zone) + timedelta(days=1)
        return bucket_floor(noon, "day", zone)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return _local_midnight(year, month, 1, zone)


def bucket_starts(
    start: datetime, end: datetime, granularity: Granularity, zone: ZoneInfo
) -> list[datetime]:
    """UTC starts of every bucket overlapping ``[start, end)``, the first one floored."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    starts: list[datetime] = []
    current = bucket_floor(start, granularity, zone)
    while current < end:
        starts.append(current)
        if len(starts) > MAX_BUCKETS:
            raise Invalid(
                f"the range holds more than {MAX_BUCKETS} {granularity} buckets; "
                "pick a coarser granularity or a shorter range",
                field="granularity",
            )
        current = _next_bucket(current, granularity, zone)
    return starts


def fill_series(
    starts: list[datetime], counts: list[tuple[int, int, int]], zone: ZoneInfo
) -> list[dict[str, object]]:
    """Chart points for every bucket; ``counts`` holds (bucket Unix start, clicks, visitors)."""
    edges = [int(bucket.timestamp()) for bucket in starts]
    clicks = [0] * len(starts)
    visitors = [0] * len(starts)
    for bucket_start, n, unique in counts:
        # Matched by position, not equality: where local midnight does not exist (a DST change
        # at 00:00) the database's bucket start and ours may differ, and a click must not vanish.
        # Two database buckets landing in one of ours add their visitors: an upper bound, since
        # unique counts do not add, but such a collision needs a zone change at midnight.
        index = max(bisect_right(edges, bucket_start) - 1, 0)
        if edges:
            clicks[index] += n
            visitors[index] += unique
    return [
        {"start": bucket.astimezone(zone).isoformat(), "clicks": n, "visitors": unique}
        for bucket, n, unique in zip(starts, clicks, visitors, strict=True)
    ]
