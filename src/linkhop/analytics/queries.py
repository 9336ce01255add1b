"""Pure builders of analytics SQL: each returns ``(sql, params)`` for server-side binding.

User values only ever travel as bound ``{name:Type}`` parameters. The names spliced into the text
are the database, which comes from settings and passes ``quote_identifier``, and column and table
names from the fixed tables below. Every query filters on ``org_id`` first: it is the tenancy
boundary and the head of every table's sorting key.

Where ``rollups.choose_rollup`` allows it, counts, timeseries and top lists read the rollups
(whole days and hours) plus the raw edges of the range, merged in one statement; the answer is
the same as the raw path's (tests/integration/analytics/test_rollups_match_raw.py).

Counts read ``clicks`` WITHOUT ``FINAL``. Double counting is prevented at insert time: every batch
carries a deterministic ``insert_deduplication_token`` that the raw table AND every rollup drop on
a retry. ``FINAL`` (ReplacingMergeTree collapsing equal keys at read time) could only hide a
duplicate that slipped past that window, and only in ``clicks``: a rollup cannot un-count it. So
``FINAL`` would make the raw path disagree with the rollups in exactly the case it is meant for,
at ~3x the cost of the scan (bench/README.md). The raw export still reads with ``FINAL``
(``source``): it lists events, and a duplicate there would be a visible extra row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from linkhop.analytics.rollups import Rollup, Segment, choose_rollup, plan_segments
from linkhop.analytics.schemas import DIRECT, AnalyticsFilters, AnalyticsQuery, Granularity, GroupBy
from linkhop.analytics.timeranges import TimeRange, bucket_starts
from linkhop.clickhouse.client import quote_identifier
from linkhop.clickhouse.tables import CLICKS
from linkhop.errors import Invalid


class SqlQuery(NamedTuple):
    """A statement and its bound parameters."""

    sql: str
    params: dict[str, Any]


# Filters whose "(direct)" value means the empty string actually stored.
_DIRECT_COLUMNS = frozenset({"referrer", "referrer_domain"})


def label(column: str, source: str) -> str:
    """The SQL expression showing ``column``'s values read from ``source`` (a column name)."""
    if column in _DIRECT_COLUMNS:
        return f"if({source} = '', '{DIRECT}', {source})"
    return source


# group_by → the (row key, SQL expression) pairs it groups on, in order. Empty referrers read as
# "(direct)"; cities and regions carry their country, since the same name exists in many.
DIMENSIONS: dict[GroupBy, tuple[tuple[str, str], ...]] = {
    "countries": (("country", "country"),),
    "regions": (("region", "region"), ("country", "country")),
    "cities": (("city", "city"), ("country", "country")),
    "continents": (("continent", "continent"),),
    "devices": (("device", "device"),),
    "browsers": (("browser", "browser"),),
    "os": (("os", "os"),),
    "triggers": (("trigger", "trigger"),),
    "referrers": (("referrer", label("referrer", "referrer")),),
    "referrer_domains": (("referrer_domain", label("referrer_domain", "referrer_domain")),),
    "utm_sources": (("utm_source", "utm_source"),),
    "utm_mediums": (("utm_medium", "utm_medium"),),
    "utm_campaigns": (("utm_campaign", "utm_campaign"),),
    "utm_terms": (("utm_term", "utm_term"),),
    "utm_contents": (("utm_content", "utm_content"),),
    "top_links": (("link_id", "link_id"),),
}
# Unique visitors: uniqCombined(14) everywhere (raw rows, rollup states; ClickHouse migration
# 0008 says why), so the raw path and the rollup path give the same figure.
COUNTS = "count() AS clicks, uniqCombined(14)(visitor_id) AS visitors"
# Rollup path: each tier yields (keys…, n, v) with v a visitors state; the outer query merges them.
_MERGED = "sum(n) AS clicks, uniqCombinedMerge(14)(v) AS visitors"
_RAW_STATES = "toUInt64(count()) AS n, uniqCombinedState(14)(visitor_id) AS v"
_ROLLUP_STATES = "toUInt64(clicks) AS n, visitors AS v"
# The same without the visitors state: for ranking by clicks, which needs no visitors.
_RAW_COUNT = "toUInt64(count()) AS n"
_ROLLUP_COUNT = "toUInt64(clicks) AS n"


def _bucket(granularity: Granularity, column: str) -> str:
    """Bucket start of ``column`` in the query's zone. toStartOfMonth returns a Date, so it is
    turned back into that zone's local midnight."""
    if granularity == "month":
        return f"toDateTime(toStartOfMonth({column}, {{tz:String}}), {{tz:String}})"
    function = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}
    return f"{function[granularity]}({column}, {{tz:String}})"


def _millis(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _table(database: str, table: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def source(database: str) -> str:
    """The click table read with FINAL, for the raw export (see the module docstring)."""
    return f"{_table(database, CLICKS)} FINAL"


def raw_table(database: str) -> str:
    """The click table as counts read it: without FINAL (see the module docstring)."""
    return _table(database, CLICKS)


def _scope(query: AnalyticsFilters) -> SqlQuery:
    """Tenancy and link clauses, shared by the raw table and the rollups."""
    clauses = ["org_id = {org_id:String}"]
    params: dict[str, Any] = {"org_id": query.org_id}
    if query.link_id is not None:
        clauses.append("link_id = {link_id:String}")
        params["link_id"] = query.link_id
    if query.link_ids is not None:
        clauses.append("link_id IN {link_ids:Array(String)}")
        params["link_ids"] = list(query.link_ids)
    return SqlQuery(" AND ".join(clauses), params)


def filters(query: AnalyticsFilters, time_range: TimeRange) -> SqlQuery:
    """The WHERE clause every raw query shares: tenancy, links, domain, time, bots, dims."""
    where, params = _scope(query)
    clauses = [where]
    if query.domain is not None:
        clauses.append("domain = {domain:String}")
        params["domain"] = query.domain
    if time_range.start is not None:
        clauses.append("ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')")
        params["start_ms"] = _millis(time_range.start)
    if time_range.end is not None:
        clauses.append("ts < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')")
        params["end_ms"] = _millis(time_range.end)
    if not query.include_bots:
        clauses.append("bot = 0")
    for column, value in query.dimension_values().items():
        # `column` is a DimensionFilters field name (a fixed set, each a clicks column); the
        # value travels bound, under a parameter named after its column.
        clauses.append(f"{column} = {{{column}:String}}")
        params[column] = "" if column in _DIRECT_COLUMNS and value == DIRECT else value
    return SqlQuery(" AND ".join(clauses), params)


# --- the rollup path -------------------------------------------------------------------------


# Stands for the rollup tier's time column (`day` or `hour`) in a key expression.
_TIME = "__time__"


class _Keys(NamedTuple):
    """GROUP BY keys as (alias, expression over clicks, expression over the rollup)."""

    items: tuple[tuple[str, str, str], ...]


def _segment_sql(
    index: int,
    segment: Segment,
    *,
    query: AnalyticsQuery,
    database: str,
    rollup: Rollup,
    keys: _Keys,
    states: bool = True,
    only: str | None = None,
) -> SqlQuery:
    """One tier's SELECT of (keys…, n, v) over its part of the range.

    ``states=False`` selects (keys…, n) only: no visitors column is read. ``only`` is the raw
    expression of the (single) key: each tier keeps the rows whose key is in the bound
    ``{only:Array(String)}`` (the bare column, not its CAST, so the primary key can serve it).
    """
    where, params = _scope(query)
    clauses = [where]
    # Letters, not digits: parameter names stay plain words (at most 3 segments).
    lower, upper = f"{'abcde'[index]}_start", f"{'abcde'[index]}_end"
    if segment.tier == "raw":
        table = raw_table(database)
        selected = [f"{raw} AS {alias}" for alias, raw, _ in keys.items]
        if segment.start is not None:
            clauses.append(f"ts >= fromUnixTimestamp64Milli({{{lower}:Int64}}, 'UTC')")
            params[lower] = _millis(segment.start)
        if segment.end is not None:
            clauses.append(f"ts < fromUnixTimestamp64Milli({{{upper}:Int64}}, 'UTC')")
            params[upper] = _millis(segment.end)
    else:
        rollup_table = rollup.tables[segment.tier]
        table = _table(database, rollup_table.name)
        time_column = "day" if segment.tier == "day" else "hour"
        selected = [
            f"{rolled.replace(_TIME, time_column)} AS {alias}" for alias, _, rolled in keys.items
        ]
        # Tier bounds are whole UTC hours/days, so whole seconds compare exactly.
        if segment.start is not None:
            clauses.append(f"{time_column} >= toDateTime({{{lower}:Int64}}, 'UTC')")
            params[lower] = int(segment.start.timestamp())
        if segment.end is not None:
            clauses.append(f"{time_column} < toDateTime({{{upper}:Int64}}, 'UTC')")
            params[upper] = int(segment.end.timestamp())
        if rollup_table.dim is not None:
            clauses.append("dim = {dim:String}")
            params["dim"] = rollup_table.dim
    if not query.include_bots:
        clauses.append("bot = 0")
    if only is not None:
        ((_, _, rolled_key),) = keys.items
        key = only if segment.tier == "raw" else rolled_key
        clauses.append(f"{key} IN {{only:Array(String)}}")
    if states:
        counted = _RAW_STATES if segment.tier == "raw" else _ROLLUP_STATES
    else:
        counted = _RAW_COUNT if segment.tier == "raw" else _ROLLUP_COUNT
    lines = [
        f"SELECT {', '.join([*selected, counted])}",
        f"FROM {table}",
        f"WHERE {' AND '.join(clauses)}",
    ]
    if segment.tier == "raw" and keys.items:
        lines.append(f"GROUP BY {', '.join(alias for alias, _, _ in keys.items)}")
    return SqlQuery("\n".join(lines), params)


def _union(
    segments: Sequence[Segment],
    *,
    query: AnalyticsQuery,
    database: str,
    rollup: Rollup,
    keys: _Keys,
    states: bool = True,
    only: str | None = None,
) -> SqlQuery:
    """The tiers' SELECTs as one UNION ALL subquery (parameters are per segment)."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for index, segment in enumerate(segments):
        sql, segment_params = _segment_sql(
            index,
            segment,
            query=query,
            database=database,
            rollup=rollup,
            keys=keys,
            states=states,
            only=only,
        )
        parts.append(sql)
        params.update(segment_params)
    return SqlQuery("\nUNION ALL\n".join(parts), params)


def _rollup_plan(
    query: AnalyticsQuery, time_range: TimeRange, boundaries: Sequence[datetime] = ()
) -> tuple[Rollup, list[Segment]] | None:
    """The rollup and its segments, or None when the raw table alone should answer."""
    rollup = choose_rollup(query)
    if rollup is None:
        return None
    segments = plan_segments(time_range, list(rollup.tables), boundaries)
    if all(segment.tier == "raw" for segment in segments):
        return None  # nothing to gain (e.g. a range shorter than an hour)
    return rollup, segments


# --- the queries -----------------------------------------------------------------------------


def count_sql(
    query: AnalyticsQuery, *, database: str, time_range: TimeRange, rollups: bool = True
) -> SqlQuery:
    """Clicks and unique visitors: one row ``(clicks, visitors)``."""
    plan = _rollup_plan(query, time_range) if rollups else None
    if plan is None:
        where, params = filters(query, time_range)
        return SqlQuery(f"SELECT {COUNTS}\nFROM {raw_table(database)}\nWHERE {where}", params)
    rollup, segments = plan
    inner, params = _union(segments, query=query, database=database, rollup=rollup, keys=_Keys(()))
    return SqlQuery(f"SELECT {_MERGED}\nFROM (\n{inner}\n)", params)


def first_click_sql(query: AnalyticsQuery, *, database: str, time_range: TimeRange) -> SqlQuery:
    """The first matching click: one row ``(unix_ms, matches)``; ``matches = 0`` when none."""
    where, params = filters(query, time_range)
    sql = (
        "SELECT toUnixTimestamp64Milli(min(ts)) AS first_ms, count() AS matches\n"
        f"FROM {raw_table(database)}\n"
        f"WHERE {where}"
    )
    return SqlQuery(sql, params)


def timeseries_sql(
    query: AnalyticsQuery,
    *,
    database: str,
    time_range: TimeRange,
    granularity: Granularity,
    rollups: bool = True,
    starts: Sequence[datetime] | None = None,
) -> SqlQuery:
    """Counts per non-empty bucket: rows ``(bucket_unix_start, clicks, visitors)`` in order.

    ``starts`` are the UTC bucket starts (``timeranges.bucket_starts``) if the caller has them.
    """
    plan = None
    # Minute buckets never align with an hourly row; an unbounded range has no bucket list.
    if rollups and granularity != "minute" and time_range.start and time_range.end:
        if starts is None:
            try:
                zone = ZoneInfo(query.timezone)
                starts = bucket_starts(time_range.start, time_range.end, granularity, zone)
            except Invalid:  # too many buckets: the raw statement is as good as any
                starts = None
        if starts is not None:
            plan = _rollup_plan(query, time_range, starts)
    if plan is None:
        where, params = filters(query, time_range)
        sql = (
            f"SELECT toUnixTimestamp({_bucket(granularity, 'ts')}) AS bucket, {COUNTS}\n"
            f"FROM {raw_table(database)}\n"
            f"WHERE {where}\n"
            "GROUP BY bucket\n"
            "ORDER BY bucket"
        )
        params["tz"] = query.timezone
        return SqlQuery(sql, params)
    rollup, segments = plan
    keys = _Keys(
        (
            (
                "bucket",
                f"toUnixTimestamp({_bucket(granularity, 'ts')})",
                f"toUnixTimestamp({_bucket(granularity, _TIME)})",
            ),
        )
    )
    inner, params = _union(segments, query=query, database=database, rollup=rollup, keys=keys)
    params["tz"] = query.timezone
    sql = f"SELECT bucket, {_MERGED}\nFROM (\n{inner}\n)\nGROUP BY bucket\nORDER BY bucket"
    return SqlQuery(sql, params)


# Lists ranked before their visitors are counted (``rank_sql``): their values are many (an org
# has thousands of links), so merging a visitors state per value and day for every value would
# cost far more than the ranking. The other lists have few values per org (countries, devices,
# …) or are read by raw edges too slow to pay for twice (bench/README.md, "Queries").
RANKED_FIRST: frozenset[GroupBy] = frozenset({"top_links"})


def _dimension_plan(
    query: AnalyticsQuery, time_range: TimeRange, rollups: bool
) -> tuple[Rollup, list[Segment], _Keys] | None:
    """The rollup, segments and key of a one-column top list, or None for the raw path."""
    plan = _rollup_plan(query, time_range) if rollups else None
    if plan is None:
        return None
    rollup, segments = plan
    ((key, expression),) = DIMENSIONS[query.group_by]  # rollups cover one-column lists only
    # The dimension rollup stores the value in `value`; the per-link rollups have link_id itself.
    rolled = label(key, "value") if rollup.tables["day"].dim is not None else expression
    # CAST: LowCardinality columns of clicks and String rollup values must unite in UNION ALL.
    return rollup, segments, _Keys((("d0", f"CAST({expression} AS String)", rolled),))


def rank_sql(
    query: AnalyticsQuery, *, database: str, time_range: TimeRange, rollups: bool = True
) -> SqlQuery | None:
    """The values a ``RANKED_FIRST`` list shows, by clicks: rows ``(value,)``, best first.

    ``None`` when the list is not ranked first or the raw path answers it. The result, bound as
    ``only`` in ``dimension_sql``, limits the visitors merge to those values. Exact: the top
    ``limit`` values by (clicks DESC, value ASC) do not depend on visitors, and every tier keeps
    all the rows of those values.
    """
    if query.group_by not in RANKED_FIRST:
        return None
    plan = _dimension_plan(query, time_range, rollups)
    if plan is None:
        return None
    rollup, segments, keys = plan
    inner, params = _union(
        segments, query=query, database=database, rollup=rollup, keys=keys, states=False
    )
    params["limit"] = query.limit
    sql = (
        f"SELECT d0\nFROM (\n{inner}\n)\nGROUP BY d0\n"
        "ORDER BY sum(n) DESC, d0 ASC\nLIMIT {limit:UInt32}"
    )
    return SqlQuery(sql, params)


def dimension_sql(
    query: AnalyticsQuery,
    *,
    database: str,
    time_range: TimeRange,
    rollups: bool = True,
    only: Sequence[str] | None = None,
) -> SqlQuery:
    """Top values of the ``group_by`` dimension: rows ``(*values, clicks, visitors)``.

    ``only``: the values ``rank_sql`` returned; the rollup path then reads just those.
    """
    expressions = [expression for _, expression in DIMENSIONS[query.group_by]]
    aliases = [f"d{i}" for i in range(len(expressions))]
    # Most clicks first; ties broken by value so equal counts come back in the same order.
    order = (
        f"ORDER BY clicks DESC, {', '.join(f'{a} ASC' for a in aliases)}\nLIMIT {{limit:UInt32}}"
    )
    plan = _dimension_plan(query, time_range, rollups)
    if plan is None:
        selected = ", ".join(f"{e} AS {a}" for e, a in zip(expressions, aliases, strict=True))
        where, params = filters(query, time_range)
        params["limit"] = query.limit
        sql = (
            f"SELECT {selected}, {COUNTS}\n"
            f"FROM {raw_table(database)}\n"
            f"WHERE {where}\n"
            f"GROUP BY {', '.join(aliases)}\n"
            f"{order}"
        )
        return SqlQuery(sql, params)
    rollup, segments, keys = plan
    inner, params = _union(
        segments,
        query=query,
        database=database,
        rollup=rollup,
        keys=keys,
        only=None if only is None else DIMENSIONS[query.group_by][0][1],
    )
    params["limit"] = query.limit
    if only is not None:
        params["only"] = list(only)
    sql = f"SELECT d0, {_MERGED}\nFROM (\n{inner}\n)\nGROUP BY d0\n{order}"
    return SqlQuery(sql, params)
