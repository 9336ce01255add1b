"""run_query against real chDB: tenancy, bots, filters, dimensions, counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from linkhop.analytics.schemas import AnalyticsQuery, GroupBy
from linkhop.analytics.service import run_query
from linkhop.clickhouse.client import ClickHouse

T0 = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
NOW = datetime(2025, 6, 20, tzinfo=UTC)


@pytest.fixture
def ask(store: ClickHouse, database: str) -> Any:
    async def run(**fields: Any) -> Any:
        return await run_query(ch=store, database=database, query=AnalyticsQuery(**fields), now=NOW)

    return run


ORG_B_ONLY = {
    "countries": "ZZ",
    "devices": "tv",
    "browsers": "OrgBBrowser",
    "os": "OrgBOS",
    "referrers": "https://org-b.example/",
    "referrer_domains": "org-b.example",
    "top_links": "link_b",
}


@pytest.fixture
def two_orgs(add_clicks: Any, make_click: Any) -> None:
    org_a = [make_click(T0 + timedelta(minutes=i), visitor_id=i % 2) for i in range(3)]
    # Org B uses the SAME link id as org A for some clicks: only org_id may separate them.
    org_b = [
        make_click(
            T0,
            org_id="org_b",
            link_id="link_1" if i % 2 else "link_b",
            country="ZZ",
            device="tv",
            browser="OrgBBrowser",
            os="OrgBOS",
            referrer="https://org-b.example/",
            referrer_domain="org-b.example",
            visitor_id=100 + i,
        )
        for i in range(5)
    ]
    add_clicks(org_a + org_b)


@pytest.mark.usefixtures("two_orgs")
async def test_count_is_per_org(ask: Any) -> None:
    assert await ask(org_id="org_a") == {"clicks": 3, "visitors": 2}
    assert await ask(org_id="org_b") == {"clicks": 5, "visitors": 5}
    assert await ask(org_id="org_c") == {"clicks": 0, "visitors": 0}


@pytest.mark.usefixtures("two_orgs")
@pytest.mark.parametrize("group_by", list(ORG_B_ONLY))
async def test_org_a_never_sees_org_b(ask: Any, group_by: GroupBy) -> None:
    rows = await ask(org_id="org_a", group_by=group_by, include_bots=True)
    assert ORG_B_ONLY[group_by] not in [next(iter(row.values())) for row in rows]
    assert sum(row["clicks"] for row in rows) == 3
    link_rows = await ask(org_id="org_a", group_by=group_by, link_id="link_1")
    assert sum(row["clicks"] for row in link_rows) == 3


@pytest.mark.usefixtures("two_orgs")
async def test_org_a_timeseries_never_counts_org_b(ask: Any) -> None:
    series = await ask(org_id="org_a", group_by="timeseries", interval="all")
    assert sum(point["clicks"] for point in series) == 3


async def test_bots_are_excluded_by_default(ask: Any, add_clicks: Any, make_click: Any) -> None:
    add_clicks([make_click(T0), make_click(T0, bot=1, device="bot", bot_reason="ua", visitor_id=9)])
    assert await ask(org_id="org_a") == {"clicks": 1, "visitors": 1}
    assert await ask(org_id="org_a", include_bots=True) == {"clicks": 2, "visitors": 2}
    assert await ask(org_id="org_a", group_by="devices") == [
        {"device": "desktop", "clicks": 1, "visitors": 1}
    ]
    assert await ask(org_id="org_a", group_by="devices", include_bots=True) == [
        {"device": "bot", "clicks": 1, "visitors": 1},
        {"device": "desktop", "clicks": 1, "visitors": 1},
    ]


async def test_link_tag_and_domain_filters(ask: Any, add_clicks: Any, make_click: Any) -> None:
    add_clicks(
        [
            make_click(T0, link_id="l1"),
            make_click(T0, link_id="l2"),
            make_click(T0, link_id="l2"),
            make_click(T0, link_id="l3", domain="other.example"),
        ]
    )
    assert (await ask(org_id="org_a", link_id="l2"))["clicks"] == 2
    assert (await ask(org_id="org_a", link_ids=["l1", "l3"]))["clicks"] == 2
    assert (await ask(org_id="org_a", link_ids=[]))["clicks"] == 0
    assert (await ask(org_id="org_a", domain="other.example"))["clicks"] == 1
    assert await ask(org_id="org_a", group_by="top_links") == [
        {"link_id": "l2", "clicks": 2, "visitors": 1},
        {"link_id": "l1", "clicks": 1, "visitors": 1},
        {"link_id": "l3", "clicks": 1, "visitors": 1},
    ]


async def test_range_is_start_inclusive_end_exclusive(
    ask: Any, add_clicks: Any, make_click: Any
) -> None:
    add_clicks(
        [
            make_click(T0 - timedelta(milliseconds=1)),
            make_click(T0),
            make_click(T0 + timedelta(hours=1)),
        ]
    )
    result = await ask(org_id="org_a", start=T0, end=T0 + timedelta(hours=1))
    assert result["clicks"] == 1
    assert (await ask(org_id="org_a", interval="24h"))["clicks"] == 0  # NOW is 10 days later
    assert (await ask(org_id="org_a", interval="30d"))["clicks"] == 3


async def test_referrers_show_direct_and_tie_break_by_name(
    ask: Any, add_clicks: Any, make_click: Any
) -> None:
    add_clicks(
        [
            make_click(T0, referrer="", referrer_domain=""),
            make_click(T0, referrer="", referrer_domain=""),
            make_click(T0, referrer="https://b.example/x", referrer_domain="b.example"),
            make_click(T0, referrer="https://a.example/y", referrer_domain="a.example"),
        ]
    )
    assert await ask(org_id="org_a", group_by="referrers") == [
        {"referrer": "(direct)", "clicks": 2, "visitors": 1},
        {"referrer": "https://a.example/y", "clicks": 1, "visitors": 1},
        {"referrer": "https://b.example/x", "clicks": 1, "visitors": 1},
    ]
    assert await ask(org_id="org_a", group_by="referrer_domains", limit=2) == [
        {"referrer_domain": "(direct)", "clicks": 2, "visitors": 1},
        {"referrer_domain": "a.example", "clicks": 1, "visitors": 1},
    ]


async def test_countries_browsers_os(ask: Any, add_clicks: Any, make_click: Any) -> None:
    add_clicks(
        [
            make_click(T0, country="FR", browser="Firefox", os="Linux"),
            make_click(T0, country="FR", browser="Firefox", os="Linux"),
            make_click(T0, country="", browser="Chrome", os="Android"),
        ]
    )
    assert await ask(org_id="org_a", group_by="countries") == [
        {"country": "FR", "clicks": 2, "visitors": 1},
        {"country": "", "clicks": 1, "visitors": 1},
    ]
    assert await ask(org_id="org_a", group_by="browsers") == [
        {"browser": "Firefox", "clicks": 2, "visitors": 1},
        {"browser": "Chrome", "clicks": 1, "visitors": 1},
    ]
    assert await ask(org_id="org_a", group_by="os") == [
        {"os": "Linux", "clicks": 2, "visitors": 1},
        {"os": "Android", "clicks": 1, "visitors": 1},
    ]


async def test_counts_trust_the_insert_dedup_not_final(
    store: ClickHouse, database: str, ask: Any, make_click: Any
) -> None:
    rows = [make_click(T0), make_click(T0 + timedelta(minutes=1), visitor_id=2)]
    columns = list(rows[0])
    # A retried batch carries the same token: ClickHouse drops it, in clicks and every rollup.
    for _ in range(2):
        store.insert(f"{database}.clicks", [list(r.values()) for r in rows], columns, "batch-1")
    assert await ask(org_id="org_a") == {"clicks": 2, "visitors": 2}
    assert await ask(org_id="org_a", group_by="top_links") == [
        {"link_id": "link_1", "clicks": 2, "visitors": 2}
    ]
    # Another token (a replay past the dedup window) is stored again, and counted again by both
    # paths alike: counts read without FINAL so raw and rollups agree (queries.py says why).
    store.insert(f"{database}.clicks", [list(r.values()) for r in rows], columns, "batch-2")
    assert await ask(org_id="org_a") == {"clicks": 4, "visitors": 2}
