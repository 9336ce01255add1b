"""The rollup path answers exactly what the raw path answers, for every group_by it covers.

Clicks are generated inside chDB over ~50 days crossing a month boundary, in several batches
(so rollup parts stay unmerged), then every covered query shape runs twice through
``run_query``: with rollups (the default) and with ``rollups=False`` (raw ``clicks`` only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linkhop.analytics.queries import count_sql, dimension_sql
from linkhop.analytics.rollups import choose_rollup
from linkhop.analytics.schemas import AnalyticsQuery, GroupBy
from linkhop.analytics.service import run_query
from linkhop.analytics.timeranges import resolve_range
from linkhop.clickhouse.client import ClickHouse

END = datetime(2025, 3, 10, 15, 37, 12, 345_000, tzinfo=UTC)
SPAN_SECONDS = 50 * 86_400
NOW = END + timedelta(minutes=3)

_GENERATE = """
INSERT INTO {db}.clicks
SELECT
    generateUUIDv4(number) AS click_id,
    fromUnixTimestamp64Milli(toInt64({end_ms:Int64} - h1 % {span_ms:UInt64}), 'UTC') AS ts,
    ['org_a', 'org_a', 'org_a', 'org_b'][1 + h2 % 4] AS org_id,
    concat('link_', toString(h3 % 6)) AS link_id,
    'go.example' AS domain,
    'k' AS key,
    'https://example.com/' AS url,
    ['link', 'qr', 'api'][1 + h4 % 3] AS trigger,
    '' AS ip,
    ['US', 'FR', 'DE', ''][1 + h4 % 4] AS country,
    '' AS region,
    '' AS city,
    ['NA', 'EU', 'EU', ''][1 + h4 % 4] AS continent,
    ['desktop', 'mobile', 'tablet'][1 + h5 % 3] AS device,
    ['Chrome', 'Firefox', 'Safari', 'Edge'][1 + h5 % 4] AS browser,
    '1' AS browser_version,
    ['Windows', 'iOS', 'Android'][1 + h2 % 3] AS os,
    '1' AS os_version,
    'ua' AS ua,
    toUInt8(h6 % 10 = 0) AS bot,
    if(h6 % 10 = 0, 'ua_keyword', '') AS bot_reason,
    ['', 'https://t.co/x', 'https://www.google.com/', 'https://news.example/a'][1 + h6 % 4]
        AS referrer,
    ['', 't.co', 'google.com', 'news.example'][1 + h6 % 4] AS referrer_domain,
    ['', 'newsletter', 'ads'][1 + h3 % 3] AS utm_source,
    ['', 'email'][1 + h4 % 2] AS utm_medium,
    ['', 'spring'][1 + h5 % 2] AS utm_campaign,
    ['', 'shoes'][1 + h2 % 2] AS utm_term,
    ['', 'banner'][1 + h1 % 2] AS utm_content,
    h7 % 400 AS visitor_id
FROM
(
    SELECT number,
        cityHash64(number, 1) AS h1, cityHash64(number, 2) AS h2, cityHash64(number, 3) AS h3,
        cityHash64(number, 4) AS h4, cityHash64(number, 5) AS h5, cityHash64(number, 6) AS h6,
        cityHash64(number, 7) AS h7
    FROM numbers({start:UInt64}, {count:UInt64})
)
"""

COVERED: list[GroupBy] = [
    "count",
    "timeseries",
    "top_links",
    "countries",
    "continents",
    "devices",
    "browsers",
    "os",
    "triggers",
    "referrers",
    "referrer_domains",
    "utm_sources",
    "utm_mediums",
    "utm_campaigns",
    "utm_terms",
    "utm_contents",
]
DIMENSION_GROUPS = COVERED[3:]

RANGES: list[dict[str, Any]] = [
    {"interval": "30d"},  # rolling: raw edges + hours + days
    {"interval": "24h"},  # hours and raw edges only
    {"interval": "mtd"},  # starts at a UTC midnight
    {"interval": "all"},  # unbounded
    {"start": datetime(2025, 1, 25, 7, 59, 59, 999_000, tzinfo=UTC), "end": END},
    {"start": datetime(2025, 2, 3, tzinfo=UTC), "end": datetime(2025, 3, 2, tzinfo=UTC)},
]


@pytest.fixture
def generated(store: ClickHouse, database: str) -> str:
    end_ms = int(END.timestamp() * 1000)
    for start in (0, 3_000, 7_000):  # three inserts: three unmerged parts per table
        store.command(
            _GENERATE.replace("{db}", database),
            {
                "end_ms": end_ms,
                "span_ms": SPAN_SECONDS * 1000,
                "start": start,
                "count": 4_000 if start else 3_000,
            },
        )
    return database


async def both(store: ClickHouse, database: str, query: AnalyticsQuery) -> tuple[Any, Any]:
    rolled = await run_query(ch=store, database=database, query=query, now=NOW)
    raw = await run_query(ch=store, database=database, query=query, now=NOW, rollups=False)
    return rolled, raw


@pytest.mark.parametrize("scope", ["org", "link", "links"])
async def test_counts_timeseries_and_top_links(
    store: ClickHouse, generated: str, scope: str
) -> None:
    scopes: dict[str, dict[str, Any]] = {
        "org": {},
        "link": {"link_id": "link_2"},
        "links": {"link_ids": ["link_1", "link_4"]},
    }
    links = scopes[scope]
    compared = 0
    for group_by in ("count", "timeseries", "top_links"):
        for time_range in RANGES:
            for include_bots in (False, True):
                query = AnalyticsQuery(
                    org_id="org_a",
                    group_by=group_by,
                    include_bots=include_bots,
                    limit=4,
                    **links,
                    **time_range,
                )
                rolled, raw = await both(store, generated, query)
                assert rolled == raw, (group_by, time_range, include_bots)
                assert raw, "the generated data must match something"
                compared += 1
    assert compared == 3 * len(RANGES) * 2


@pytest.mark.parametrize(
    ("timezone", "granularity"),
    [
        ("UTC", "day"),
        ("UTC", "hour"),
        ("UTC", "month"),
        ("Europe/Paris", "day"),  # hourly rows only
        ("America/New_York", "hour"),
        ("Asia/Kolkata", "day"),  # half-hour offset: raw only
    ],
)
async def test_timeseries_in_every_zone(
    store: ClickHouse, generated: str, timezone: str, granularity: str
) -> None:
    for time_range in ({"interval": "30d"}, {"interval": "7d"}, {"interval": "ytd"}):
        query = AnalyticsQuery.model_validate(
            {
                "org_id": "org_a",
                "group_by": "timeseries",
                "timezone": timezone,
                "granularity": granularity,
                **time_range,
            }
        )
        rolled, raw = await both(store, generated, query)
        assert rolled == raw, (timezone, granularity, time_range)
        assert sum(point["clicks"] for point in raw) > 0


@pytest.mark.parametrize("group_by", DIMENSION_GROUPS)
async def test_org_top_lists(store: ClickHouse, generated: str, group_by: GroupBy) -> None:
    for time_range in RANGES:
        for include_bots in (False, True):
            query = AnalyticsQuery(
                org_id="org_a",
                group_by=group_by,
                include_bots=include_bots,
                limit=3,
                **time_range,
            )
            rolled, raw = await both(store, generated, query)
            assert rolled == raw, (group_by, time_range, include_bots)
            assert raw


async def test_the_rollup_path_is_really_taken_and_can_disagree(
    store: ClickHouse, generated: str
) -> None:
    # The comparisons above would pass trivially if both paths read clicks: check they do not,
    # then damage the rollups and see the comparison fail.
    query = AnalyticsQuery(org_id="org_a", group_by="countries", interval="30d")
    time_range = resolve_range(query, NOW)
    assert choose_rollup(query) is not None
    assert "clicks_org_dims_daily" in dimension_sql(query, database="x", time_range=time_range)[0]
    count = AnalyticsQuery(org_id="org_a", link_ids=["link_1", "link_2"], interval="30d")
    assert "clicks_daily" in count_sql(count, database="x", time_range=time_range)[0]
    org_count = AnalyticsQuery(org_id="org_a", interval="30d")
    assert "clicks_org_dims_daily" in count_sql(org_count, database="x", time_range=time_range)[0]

    rolled, raw = await both(store, generated, query)
    assert rolled == raw
    store.command(
        f"ALTER TABLE {generated}.clicks_org_dims_daily DELETE WHERE value = 'FR' OR dim = 'all' "
        "SETTINGS mutations_sync = 2"
    )
    store.command(
        f"ALTER TABLE {generated}.clicks_daily DELETE WHERE link_id = 'link_1' "
        "SETTINGS mutations_sync = 2"
    )
    store.command(f"OPTIMIZE TABLE {generated}.clicks_daily FINAL")
    store.command(f"OPTIMIZE TABLE {generated}.clicks_org_dims_daily FINAL")
    rolled, raw = await both(store, generated, query)
    assert rolled != raw
    for damaged in (count, org_count):
        rolled, raw = await both(store, generated, damaged)
        assert rolled != raw


async def test_filtered_queries_read_the_raw_table(store: ClickHouse, generated: str) -> None:
    # A dimension filter is not in any rollup: the same result either way, from clicks.
    query = AnalyticsQuery(org_id="org_a", group_by="devices", country="FR", interval="30d")
    assert choose_rollup(query) is None
    rolled, raw = await both(store, generated, query)
    assert rolled == raw


async def test_top_lists_cut_through_a_tie_the_same_way(store: ClickHouse, database: str) -> None:
    # The rollup path ranks by clicks before it merges visitors (only the rows shown get
    # states): where the limit falls inside a tie, both paths must keep the same values (the
    # smallest), with the clicks of every tier — edges included — counted for each.
    rows = []
    for link in range(6):
        # 12 clicks each: 4 in the raw edge before the whole days, 4 in whole days, 4 today.
        stamps = [END - timedelta(days=29, hours=20)] * 4
        stamps += [END - timedelta(days=10)] * 4 + [END - timedelta(minutes=5)] * 4
        for n, ts in enumerate(stamps):
            rows.append(("org_t", f"link_{5 - link}", ts, link * 100 + n % (link + 1)))
    store.command(
        f"INSERT INTO {database}.clicks (click_id, ts, org_id, link_id, referrer, visitor_id) "
        "SELECT generateUUIDv4(number), r.3, r.1, r.2, concat('https://r', r.2, '/'), r.4 "
        "FROM (SELECT arrayJoin({rows:Array(Tuple(String, String, DateTime64(3, 'UTC'), UInt64))})"
        " AS r, rowNumberInAllBlocks() AS number)",
        {"rows": rows},
    )
    for group_by in ("top_links", "referrers"):
        query = AnalyticsQuery(org_id="org_t", group_by=group_by, interval="30d", limit=3)
        rolled, raw = await both(store, database, query)
        assert rolled == raw, group_by
        assert [row["clicks"] for row in raw] == [12, 12, 12]
        assert [row["visitors"] for row in raw] == [6, 5, 4]  # link_0 .. link_2
