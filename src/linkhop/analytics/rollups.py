"""Which rollup can answer an analytics query, and how its time range splits into tiers. Pure.

A rollup row covers a whole UTC hour or day, so a rollup can stand in for the raw ``clicks``
table only where that makes no difference to the answer:

* **Filters.** The rollups keep org, link, bot and (for the dimension rollups) one dimension's
  value. A domain filter or any dimension filter (``country=FR``) needs columns they do not
  have, so such queries read ``clicks``.
* **Time range.** ``[start, end)`` is cut into the longest run of whole UTC days (``day`` tier),
  the whole hours around it (``hour`` tier, where the rollup has one) and the sub-hour edges
  (``raw`` tier, read from ``clicks``): a 90-day range is ~89 days of daily rows, up to 46 hours
  of hourly rows and two edges under an hour each. Each tier counts disjoint clicks.
* **Buckets.** A timeseries groups rows into buckets in the query's zone. A rollup row may serve
  only if no bucket boundary falls strictly inside it: daily rows serve UTC day or month buckets,
  hourly rows serve any zone whose bucket boundaries fall on whole UTC hours (e.g. Europe/Paris
  days; not Asia/Kolkata, UTC+5:30). Otherwise that tier is skipped and a finer one is used.

Unique visitors stay exact across tiers: each tier contributes ``uniqState`` states that
``uniqMerge`` unites, and ``uniq``'s state depends only on the set of hashes it saw, not on how
they were grouped, so the merged figure equals ``uniq`` over the raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.tables import (
    CLICKS_DAILY,
    CLICKS_HOURLY,
    CLICKS_ORG_DIMS_DAILY,
    ROLLUP_DIMENSIONS,
)

Tier = Literal["day", "hour", "raw"]
RollupTier = Literal["day", "hour"]
TIER_SECONDS: dict[RollupTier, int] = {"day": 86_400, "hour": 3_600}

# group_by -> the clicks column a single-column dimension list groups on.
_DIMENSION_COLUMNS: dict[str, str] = {
    "countries": "country",
    "continents": "continent",
    "devices": "device",
    "browsers": "browser",
    "os": "os",
    "triggers": "trigger",
    "referrers": "referrer",
    "referrer_domains": "referrer_domain",
    "utm_sources": "utm_source",
    "utm_mediums": "utm_medium",
    "utm_campaigns": "utm_campaign",
    "utm_terms": "utm_term",
    "utm_contents": "utm_content",
}


@dataclass(frozen=True)
class Rollup:
    """The rollup tables a query may read, coarsest tier first, and its dimension (if any)."""

    tables: dict[RollupTier, str]
    dim: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece ``[start, end)`` of the range (UTC; ``None`` = unbounded) read from one tier."""

    tier: Tier
    start: datetime | None
    end: datetime | None


def choose_rollup(query: AnalyticsQuery) -> Rollup | None:
    """The rollup that can answer ``query`` exactly, or ``None`` when only ``clicks`` can."""
    if query.domain is not None or query.dimension_values():
        return None
    if query.group_by in ("count", "timeseries", "top_links"):
        return Rollup({"day": CLICKS_DAILY, "hour": CLICKS_HOURLY})
    column = _DIMENSION_COLUMNS.get(query.group_by)
    if column is None or column not in ROLLUP_DIMENSIONS:
        return None
    if query.link_id is not None or query.link_ids is not None:
        # No per-link dimension rollup (migration 0005 says why): clicks is keyed by link.
        return None
    return Rollup({"day": CLICKS_ORG_DIMS_DAILY}, dim=column)


def _floor(value: datetime, seconds: int) -> datetime:
    stamp = value.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _ceil(value: datetime, seconds: int) -> datetime:
    floored = _floor(value, seconds)
    return (
        floored if floored == value else datetime.fromtimestamp(floored.timestamp() + seconds, UTC)
    )


def _aligned(
    start: datetime | None, end: datetime | None, seconds: int, boundaries: Sequence[datetime]
) -> bool:
    """No bucket boundary falls strictly inside a ``seconds``-long row of ``[start, end)``."""
    for edge in boundaries:
        inside = (start is None or edge > start) and (end is None or edge < end)
        if inside and edge.timestamp() % seconds:
            return False
    return True


def plan_segments(
    time_range: TimeRange,
    tiers: Sequence[RollupTier],
    boundaries: Sequence[datetime] = (),
) -> list[Segment]:
    """Cut ``time_range`` into tier segments, coarsest first where it fits (see module doc).

    ``tiers`` lists the rollup tiers available, coarsest first; ``boundaries`` are the UTC bucket
    starts of a timeseries (empty for other queries). Segments come back in time order.
    """
    return _plan(time_range.start, time_range.end, list(tiers), boundaries)


def _plan(
    start: datetime | None,
    end: datetime | None,
    tiers: list[RollupTier],
    boundaries: Sequence[datetime],
) -> list[Segment]:
    if start is not None and end is not None and start >= end:
        return []
    if not tiers:
        return [Segment("raw", start, end)]
    tier, finer = tiers[0], tiers[1:]
    seconds = TIER_SECONDS[tier]
    inner_start = None if start is None else _ceil(start, seconds)
    inner_end = None if end is None else _floor(end, seconds)
    empty = inner_start is not None and inner_end is not None and inner_start >= inner_end
    if empty or not _aligned(inner_start, inner_end, seconds, boundaries):
        return _plan(start, end, finer, boundaries)
    before = [] if start is None else _plan(start, inner_start, finer, boundaries)
    after = [] if end is None else _plan(inner_end, end, finer, boundaries)
    return [*before, Segment(tier, inner_start, inner_end), *after]
