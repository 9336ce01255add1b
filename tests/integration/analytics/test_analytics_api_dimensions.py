"""GET /analytics through the app on SQLite and PostgreSQL: every grouping and dimension filter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.integration.harness import Account, Harness

from linkhop.analytics.queries import DIMENSIONS

T0 = datetime(2025, 5, 6, 9, 0, tzinfo=UTC)
RANGE = {"start": "2025-05-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)

# A value in every dimension that only org Beta's clicks carry.
BETA_ONLY = {
    "country": "JP",
    "region": "Kanto",
    "city": "Tokyo",
    "continent": "AS",
    "device": "tv",
    "browser": "BetaBrowser",
    "os": "BetaOS",
    "trigger": "api",
    "referrer": "https://beta.example/",
    "referrer_domain": "beta.example",
    "utm_source": "beta-source",
    "utm_medium": "beta-medium",
    "utm_campaign": "beta-campaign",
    "utm_term": "beta-term",
    "utm_content": "beta-content",
    "link_id": "link_beta",
}


def _acme_clicks(make_click: Any, org_id: str) -> list[dict[str, Any]]:
    paris_fr = {"country": "FR", "region": "Île-de-France", "city": "Paris", "continent": "EU"}
    mobile = {"device": "mobile", "browser": "Mobile Safari", "os": "iOS"}
    launch = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "launch"}
    return [
        make_click(
            T0,
            org_id=org_id,
            **paris_fr,
            **mobile,
            **launch,
            utm_term="shoes",
            utm_content="hero",
            referrer="https://news.example/a",
            referrer_domain="news.example",
            visitor_id=1,
        ),
        make_click(T0, org_id=org_id, trigger="qr", **paris_fr, **mobile, **launch, visitor_id=2),
        make_click(
            T0 + timedelta(days=1),
            org_id=org_id,
            country="US",
            region="Texas",
            city="Paris",
            continent="NA",
            utm_source="twitter",
            utm_medium="social",
            visitor_id=3,
        ),
        make_click(
            T0 + timedelta(days=1),
            org_id=org_id,
            country="US",
            region="Texas",
            city="Austin",
            continent="NA",
            visitor_id=3,
        ),
        # A bot in Berlin: left out unless include_bots.
        make_click(
            T0, org_id=org_id, country="DE", city="Berlin", bot=1, device="bot", visitor_id=9
        ),
    ]


@pytest.fixture
async def orgs(harness: Harness, add_clicks: Any, make_click: Any) -> tuple[Account, Account]:
    ada = await harness.account("ada@example.com", org="Acme")
    bea = await harness.account("bea@example.com", org="Beta")
    beta = [make_click(T0, org_id=bea.org_id, visitor_id=100 + i, **BETA_ONLY) for i in range(4)]
    add_clicks(_acme_clicks(make_click, ada.org_id) + beta)
    return ada, bea


async def _get(h: Harness, who: Account, **params: str) -> Any:
    r = await h.client.get("/api/v1/analytics", params={**RANGE, **params}, headers=who.auth)
    assert r.status_code == 200, r.text
    return r.json()


def _row(clicks: int, visitors: int, **keys: str) -> dict[str, Any]:
    return {**keys, "clicks": clicks, "visitors": visitors}


EXPECTED: dict[str, list[dict[str, Any]]] = {
    # Same city name, two countries: two rows. Ties sort by city, then country.
    "cities": [
        _row(2, 2, city="Paris", country="FR"),
        _row(1, 1, city="Austin", country="US"),
        _row(1, 1, city="Paris", country="US"),
    ],
    "regions": [
        _row(2, 1, region="Texas", country="US"),
        _row(2, 2, region="Île-de-France", country="FR"),
    ],
    "continents": [_row(2, 2, continent="EU"), _row(2, 1, continent="NA")],
    "triggers": [_row(3, 2, trigger="link"), _row(1, 1, trigger="qr")],
    "utm_sources": [
        _row(2, 2, utm_source="newsletter"),
        _row(1, 1, utm_source=""),
        _row(1, 1, utm_source="twitter"),
    ],
    "utm_mediums": [
        _row(2, 2, utm_medium="email"),
        _row(1, 1, utm_medium=""),
        _row(1, 1, utm_medium="social"),
    ],
    "utm_campaigns": [_row(2, 1, utm_campaign=""), _row(2, 2, utm_campaign="launch")],
    "utm_terms": [_row(3, 2, utm_term=""), _row(1, 1, utm_term="shoes")],
    "utm_contents": [_row(3, 2, utm_content=""), _row(1, 1, utm_content="hero")],
}


async def test_new_groupings(harness: Harness, orgs: tuple[Account, Account]) -> None:
    ada, _ = orgs
    for group_by, expected in EXPECTED.items():
        assert await _get(harness, ada, group_by=group_by) == expected, group_by


async def test_visitors_ride_along_with_clicks(
    harness: Harness, orgs: tuple[Account, Account]
) -> None:
    ada, bea = orgs
    assert await _get(harness, ada) == {"clicks": 4, "visitors": 3}
    assert await _get(harness, ada, include_bots="true") == {"clicks": 5, "visitors": 4}
    assert await _get(harness, bea) == {"clicks": 4, "visitors": 4}
    assert await _get(harness, ada, group_by="countries") == [
        _row(2, 2, country="FR"),
        _row(2, 1, country="US"),
    ]
    days = await _get(harness, ada, group_by="timeseries", granularity="day")
    assert [p for p in days if p["clicks"]] == [
        {"start": "2025-05-06T00:00:00+00:00", "clicks": 2, "visitors": 2},
        {"start": "2025-05-07T00:00:00+00:00", "clicks": 2, "visitors": 1},
    ]


# Each case creates accounts (argon2 hashing), so cases loop inside a test instead of parametrizing.
FILTER_CASES: list[tuple[dict[str, str], int]] = [
    ({"country": "fr"}, 2),
    ({"country": "US", "city": "Paris"}, 1),
    ({"city": "Paris"}, 3),
    ({"region": "Texas"}, 2),
    ({"continent": "eu"}, 2),
    ({"device": "mobile"}, 2),
    ({"browser": "Chrome"}, 2),
    ({"os": "iOS"}, 2),
    ({"trigger": "qr"}, 1),
    ({"referrer": "(direct)"}, 3),
    ({"referrer": "https://news.example/a"}, 1),
    ({"referrer_domain": "news.example"}, 1),
    ({"utm_source": "newsletter"}, 2),
    ({"utm_medium": "social"}, 1),
    ({"utm_campaign": "launch"}, 2),
    ({"utm_term": "shoes"}, 1),
    ({"utm_content": "hero"}, 1),
    ({"utm_source": "newsletter", "trigger": "qr"}, 1),
    ({"city": "Berlin"}, 0),  # only a bot clicked there
    ({"city": "Berlin", "include_bots": "true"}, 1),
]


async def test_dimension_filters(harness: Harness, orgs: tuple[Account, Account]) -> None:
    ada, _ = orgs
    for filters, clicks in FILTER_CASES:
        assert (await _get(harness, ada, **filters))["clicks"] == clicks, filters


async def test_filters_narrow_a_grouping(harness: Harness, orgs: tuple[Account, Account]) -> None:
    ada, _ = orgs
    assert await _get(harness, ada, group_by="cities", country="US") == [
        _row(1, 1, city="Austin", country="US"),
        _row(1, 1, city="Paris", country="US"),
    ]
    assert await _get(harness, ada, group_by="triggers", utm_campaign="launch") == [
        _row(1, 1, trigger="link"),
        _row(1, 1, trigger="qr"),
    ]


async def test_org_beta_never_shows_in_acme_rows(
    harness: Harness, orgs: tuple[Account, Account]
) -> None:
    ada, _ = orgs
    for group_by in DIMENSIONS:
        rows = await _get(harness, ada, group_by=group_by, include_bots="true")
        assert sum(row["clicks"] for row in rows) == 5, group_by
        for row in rows:
            assert not set(BETA_ONLY.values()) & set(map(str, row.values())), (group_by, row)


async def test_filtering_on_another_orgs_value_finds_nothing(
    harness: Harness, orgs: tuple[Account, Account]
) -> None:
    ada, bea = orgs
    for dimension, value in BETA_ONLY.items():
        if dimension == "link_id":
            continue
        assert (await _get(harness, ada, **{dimension: value}))["clicks"] == 0, dimension
        assert (await _get(harness, bea, **{dimension: value}))["clicks"] == 4, dimension


async def test_qtd_is_accepted(harness: Harness, orgs: tuple[Account, Account]) -> None:
    ada, _ = orgs
    r = await harness.client.get("/api/v1/analytics", params={"interval": "qtd"}, headers=ada.auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"clicks": 0, "visitors": 0}  # the clicks are in May 2025


BAD_INPUT: list[tuple[dict[str, str], str]] = [
    ({"country": "FRA"}, "country"),
    ({"continent": "Europe"}, "continent"),
    ({"trigger": "sms"}, "trigger"),
    ({"city": ""}, "city"),
    ({"utm_source": "x" * 501}, "utm_source"),
    ({"group_by": "planets"}, "group_by"),
]


async def test_bad_filters_are_problems(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for params, field in BAD_INPUT:
        r = await harness.client.get("/api/v1/analytics", params=params, headers=ada.auth)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_utm_and_trigger_from_real_redirects(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(
        ada, url="https://example.com/?utm_source=newsletter&utm_campaign=spring", key="sale"
    )
    await harness.client.get("/sale", headers={"user-agent": IPHONE})
    await harness.client.get("/sale?qr=1", headers={"user-agent": IPHONE})
    await harness.client.get("/sale?utm_source=twitter", headers={"user-agent": IPHONE})
    assert await harness.ingest() == 3
    get = harness.client.get
    auth = ada.auth
    sources = (await get("/api/v1/analytics?group_by=utm_sources", headers=auth)).json()
    assert [(r["utm_source"], r["clicks"]) for r in sources] == [("newsletter", 2), ("twitter", 1)]
    triggers = (await get("/api/v1/analytics?group_by=triggers", headers=auth)).json()
    assert [(r["trigger"], r["clicks"]) for r in triggers] == [("link", 2), ("qr", 1)]
    qr = (await get("/api/v1/analytics?trigger=qr&utm_campaign=spring", headers=auth)).json()
    assert qr["clicks"] == 1
