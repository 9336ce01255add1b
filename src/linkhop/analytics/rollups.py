"""Which rollup can answer an analytics query, and how its time range splits into tiers. Pure.

A rollup row covers a whole UTC hour or day, so a rollup can stand in for the raw ``clicks``
table only where that makes no difference to the answer:

* **Filters.** The rollups keep org, link, bot and (for the dimension rollups) one dimension's
  value. A domain filter or any dimension filter (``country=FR``) needs columns they do not
  have, so such queries read ``clicks``.
* **Time range.** ``[start, end)`` is cut into the longest run of whole UTC days (``day`` tier)
  and the partial days at both ends, read from ``clicks`` (``raw`` tier): a rolling 90-day range
  is 89 days of daily rows plus two edges that add up to one day. Three reads, not five: the
  whole hours of the edges could come from the hourly rollup, but every extra table read adds a
  fixed cost to a statement that is one day of one link or one org at most. Ranges shorter
  than a day, or whose buckets cut days (below), use the ``hour`` tier instead. Each tier counts
  disjoint clicks.
* **Buckets.** A timeseries groups rows into buckets in the query's zone. A rollup row may serve
  only if no bucket boundary falls strictly inside it: daily rows serve UTC day or month buckets,
  hourly rows serve any zone whose bucket boundaries fall on whole UTC hours (e.g. Europe/Paris
  days; not Asia/Kolkata, UTC+5:30). Otherwise that tier is skipped and a finer one is used.

Unique visitors agree across tiers: each tier contributes ``uniqCombinedState(14)`` states
that ``uniqCombinedMerge(14)`` unites; such a state (an exact set while small, then a
HyperLogLog whose merge is a register-wise max) depends only on the set of hashes it saw, not on
how they were grouped, so the merged figure equals ``uniqCombined(14)`` over the raw rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.tables import (
    ALL_CLICKS,
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


class RollupTable(NamedTuple):
    """A rollup table, and the ``dim`` to filter on when it is the dimension rollup."""

    name: str
    dim: str | None = None


@dataclass(frozen=True)
class Rollup:
    """The rollup table of each tier a query may read, coarsest tier first."""

    tables: dict[RollupTier, RollupTable]


@dataclass(frozen=True)
class Segment:
    """A piece ``[start, end)`` of the range (UTC; ``None`` = unbounded) read from one tier."""

    tier: Tier
    start: datetime | None
    end: datetime | None


_PER_LINK: dict[RollupTier, RollupTable] = {
    "day": RollupTable(CLICKS_DAILY),
    "hour": RollupTable(CLICKS_HOURLY),
}


def choose_rollup(query: AnalyticsQuery) -> Rollup | None:
    """The rollup that can answer ``query`` exactly, or ``None`` when only ``clicks`` can."""
    if query.domain is not None or query.dimension_values():
        return None
    links = query.link_id is not None or query.link_ids is not None
    if query.group_by == "top_links" or (query.group_by in ("count", "timeseries") and links):
        return Rollup(_PER_LINK)
    if query.group_by in ("count", "timeseries"):
        # A whole org: its 'all' rows hold one uniq state per day instead of one per link and day.
        return Rollup(
            {"day": RollupTable(CLICKS_ORG_DIMS_DAILY, ALL_CLICKS), "hour": _PER_LINK["hour"]}
        )
    column = _DIMENSION_COLUMNS.get(query.group_by)
    if column is None or column not in ROLLUP_DIMENSIONS or links:
        # Regions and cities have no rollup, and there is no per-link dimension rollup: clicks,
        # keyed by link, reads one link's range in one slice (migration 0005 says why).
        return None
    return Rollup({"day": RollupTable(CLICKS_ORG_DIMS_DAILY, column)})


def _floor(value: datetime, seconds: int) -> datetime:
    stamp = value.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, UTC)


def _ceil(value: datetime, seconds: int) -> datetime:
    floored = _floor(value, seconds)
    if floored == value:
        return floored
    return datetime.fromtimestamp(floored.timestamp() + seconds, UTC)


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
    """Cut ``time_range`` into [raw edge, rollup tier, raw edge] (see the module docstring).

    ``tiers`` lists the rollup tiers available, coarsest first: the first one that covers a
    whole row of the range, without a bucket boundary inside a row, is used; ``boundaries`` are
    the UTC bucket starts of a timeseries (empty for other queries). Segments are in time order;
    a range no tier fits is one raw segment.
    """
    start, end = time_range.start, time_range.end
    for tier in tiers:
        seconds = TIER_SECONDS[tier]
        inner_start = None if start is None else _ceil(start, seconds)
        inner_end = None if end is None else _floor(end, seconds)
        if inner_start is not None and inner_end is not None and inner_start >= inner_end:
            continue
        if not _aligned(inner_start, inner_end, seconds, boundaries):
            continue
        segments = []
        if start is not None and inner_start is not None and start < inner_start:
            segments.append(Segment("raw", start, inner_start))
        segments.append(Segment(tier, inner_start, inner_end))
        if end is not None and inner_end is not None and inner_end < end:
            segments.append(Segment("raw", inner_end, end))
        return segments
    return [Segment("raw", start, end)]
