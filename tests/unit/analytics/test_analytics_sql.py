"""The SQL builders: tenancy always, user values only as bound parameters, stable text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import get_args

import pytest

from linkhop.analytics.export import export_sql
from linkhop.analytics.queries import (
    DIMENSIONS,
    SqlQuery,
    count_sql,
    dimension_sql,
    first_click_sql,
    timeseries_sql,
)
from linkhop.analytics.results import ROW_MODELS
from linkhop.analytics.schemas import AnalyticsQuery, ExportQuery, Granularity, GroupBy
from linkhop.analytics.timeranges import TimeRange

HOSTILE = "x') OR 1=1 --"
RANGE = TimeRange(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))
PLACEHOLDER = re.compile(r"\{([a-z_]+):[A-Za-z0-9()]+\}")


def every_builder(query: AnalyticsQuery) -> list[SqlQuery]:
    built = [
        count_sql(query, database="lh", time_range=RANGE),
        first_click_sql(query, database="lh", time_range=RANGE),
    ]
    built += [
        timeseries_sql(query, database="lh", time_range=RANGE, granularity=g)
        for g in ("minute", "hour", "day", "month")
    ]
    for group_by in DIMENSIONS:
        built.append(
            dimension_sql(
                query.model_copy(update={"group_by": group_by}), database="lh", time_range=RANGE
            )
        )
    fields = query.model_dump(exclude={"group_by", "granularity", "limit"})
    for fmt in ("csv", "jsonl", "parquet"):
        export = ExportQuery(**fields, format=fmt, include_ua=True)
        built.append(export_sql(export, database="lh", time_range=RANGE))
    return built


def test_every_query_filters_on_the_org_first() -> None:
    for sql, params in every_builder(AnalyticsQuery(org_id="org_a")):
        where = sql.split("WHERE ", 1)[1]
        assert where.startswith("org_id = {org_id:String}")
        assert params["org_id"] == "org_a"


HOSTILE_DIMENSIONS = {
    "region": HOSTILE,
    "city": HOSTILE,
    "device": HOSTILE,
    "browser": HOSTILE,
    "os": HOSTILE,
    "referrer": HOSTILE,
    "referrer_domain": HOSTILE,
    "utm_source": HOSTILE,
    "utm_medium": HOSTILE,
    "utm_campaign": HOSTILE,
    "utm_term": HOSTILE,
    "utm_content": HOSTILE,
}


def test_user_values_never_reach_the_sql_text() -> None:
    query = AnalyticsQuery(
        org_id=HOSTILE,
        link_id=HOSTILE,
        link_ids=[HOSTILE],
        domain=HOSTILE,
        timezone="Asia/Kolkata",
        limit=7,
        country="zz",
        continent="eu",
        trigger="qr",
        **HOSTILE_DIMENSIONS,
    )
    for sql, params in every_builder(query):
        assert HOSTILE not in sql
        assert "Asia/Kolkata" not in sql
        # Every parameter is a placeholder in the text and vice versa: nothing left for
        # client-side formatting.
        assert set(PLACEHOLDER.findall(sql)) == set(params)


def test_bots_are_excluded_unless_asked() -> None:
    sql, _ = count_sql(AnalyticsQuery(org_id="o"), database="lh", time_range=RANGE)
    assert "bot = 0" in sql
    sql, _ = count_sql(
        AnalyticsQuery(org_id="o", include_bots=True), database="lh", time_range=RANGE
    )
    assert "bot" not in sql.split("WHERE", 1)[1]


def test_optional_filters_appear_only_when_set() -> None:
    sql, params = count_sql(
        AnalyticsQuery(org_id="o"), database="lh", time_range=TimeRange(None, None), rollups=False
    )
    assert params == {"org_id": "o"}
    assert sql.endswith("WHERE org_id = {org_id:String} AND bot = 0")
    _, params = count_sql(
        AnalyticsQuery(org_id="o", link_ids=[]), database="lh", time_range=TimeRange(None, None)
    )
    assert params["link_ids"] == []  # an empty tag matches nothing rather than everything


def test_time_bounds_are_epoch_milliseconds() -> None:
    _, params = count_sql(
        AnalyticsQuery(org_id="o"), database="lh", time_range=RANGE, rollups=False
    )
    assert params["start_ms"] == 1_735_689_600_000
    assert params["end_ms"] == 1_738_368_000_000


def test_the_database_name_is_checked() -> None:
    with pytest.raises(ValueError, match="identifier"):
        count_sql(AnalyticsQuery(org_id="o"), database="lh`; DROP", time_range=RANGE)


def test_dimension_sql_snapshot() -> None:
    query = AnalyticsQuery(org_id="o", group_by="referrers", link_id="l", limit=10)
    sql, params = dimension_sql(query, database="linkhop", time_range=RANGE, rollups=False)
    assert sql == (
        "SELECT if(referrer = '', '(direct)', referrer) AS d0,"
        " count() AS clicks, uniqCombined(14)(visitor_id) AS visitors\n"
        "FROM `linkhop`.`clicks`\n"
        "WHERE org_id = {org_id:String} AND link_id = {link_id:String}"
        " AND ts >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')"
        " AND ts < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC') AND bot = 0\n"
        "GROUP BY d0\n"
        "ORDER BY clicks DESC, d0 ASC\n"
        "LIMIT {limit:UInt32}"
    )
    assert params == {
        "org_id": "o",
        "link_id": "l",
        "start_ms": 1_735_689_600_000,
        "end_ms": 1_738_368_000_000,
        "limit": 10,
    }


@pytest.mark.parametrize(
    ("granularity", "bucket"),
    [
        ("minute", "toStartOfMinute(ts, {tz:String})"),
        ("hour", "toStartOfHour(ts, {tz:String})"),
        ("day", "toStartOfDay(ts, {tz:String})"),
        ("month", "toDateTime(toStartOfMonth(ts, {tz:String}), {tz:String})"),
    ],
)
def test_timeseries_buckets_in_the_query_zone(granularity: Granularity, bucket: str) -> None:
    query = AnalyticsQuery(org_id="o", group_by="timeseries", timezone="Europe/Paris")
    sql, params = timeseries_sql(
        query, database="lh", time_range=RANGE, granularity=granularity, rollups=False
    )
    assert sql.startswith(
        f"SELECT toUnixTimestamp({bucket}) AS bucket,"
        " count() AS clicks, uniqCombined(14)(visitor_id) AS visitors\n"
    )
    assert sql.endswith("GROUP BY bucket\nORDER BY bucket")
    assert params["tz"] == "Europe/Paris"


@pytest.mark.parametrize("group_by", list(DIMENSIONS))
def test_dimensions_are_ordered_and_limited(group_by: GroupBy) -> None:
    query = AnalyticsQuery(org_id="o", group_by=group_by, limit=5)
    sql, params = dimension_sql(query, database="lh", time_range=RANGE)
    aliases = [f"d{i}" for i in range(len(DIMENSIONS[group_by]))]
    assert f"GROUP BY {', '.join(aliases)}\n" in sql
    order = ", ".join(f"{a} ASC" for a in aliases)
    assert f"ORDER BY clicks DESC, {order}\nLIMIT {{limit:UInt32}}" in sql
    assert params["limit"] == 5


def test_dimension_filters_are_bound_equalities() -> None:
    query = AnalyticsQuery(org_id="o", country="fr", city="Paris", trigger="qr", utm_term="a b")
    sql, params = count_sql(query, database="lh", time_range=TimeRange(None, None))
    assert sql.endswith(
        "AND bot = 0 AND country = {country:String} AND city = {city:String}"
        " AND trigger = {trigger:String} AND utm_term = {utm_term:String}"
    )
    assert params == {
        "org_id": "o",
        "country": "FR",
        "city": "Paris",
        "trigger": "qr",
        "utm_term": "a b",
    }


def test_direct_as_a_filter_means_no_referrer() -> None:
    query = AnalyticsQuery(org_id="o", referrer="(direct)", referrer_domain="(direct)")
    _, params = count_sql(query, database="lh", time_range=RANGE)
    assert params["referrer"] == params["referrer_domain"] == ""
    _, params = count_sql(
        AnalyticsQuery(org_id="o", referrer="https://x.example/"), database="lh", time_range=RANGE
    )
    assert params["referrer"] == "https://x.example/"


@pytest.mark.parametrize(
    ("group_by", "selected"),
    [
        ("cities", "city AS d0, country AS d1"),
        ("regions", "region AS d0, country AS d1"),
        ("continents", "continent AS d0"),
        ("triggers", "trigger AS d0"),
        ("utm_campaigns", "utm_campaign AS d0"),
    ],
)
def test_places_group_with_their_country(group_by: GroupBy, selected: str) -> None:
    sql, _ = dimension_sql(
        AnalyticsQuery(org_id="o", group_by=group_by),
        database="lh",
        time_range=RANGE,
        rollups=False,
    )
    assert sql.startswith(
        f"SELECT {selected}, count() AS clicks, uniqCombined(14)(visitor_id) AS visitors\n"
    )


def test_every_group_by_but_count_and_timeseries_is_a_dimension() -> None:
    assert set(get_args(GroupBy)) - set(DIMENSIONS) == {"count", "timeseries"}
    assert set(DIMENSIONS) == set(ROW_MODELS)
    for group_by, pairs in DIMENSIONS.items():
        fields = set(ROW_MODELS[group_by].model_fields)
        assert fields == {key for key, _ in pairs} | {"clicks", "visitors"}, group_by
