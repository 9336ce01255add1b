"""Clicks flow from redirects through the worker into analytics and per-link counters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def _get(h: Harness, auth: dict[str, str], **params: str) -> object:
    r = await h.client.get("/api/v1/analytics", params=params, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


async def test_breakdowns_match_the_clicks_made(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    a = await harness.create_link(ada, url="https://example.com/a", key="a", tags=["promo"])
    b = await harness.create_link(ada, url="https://example.com/b", key="b")
    for ua, ref in (
        (IPHONE, "https://www.news.example/item"),
        (IPHONE, ""),
        (WINDOWS, "https://social.example/"),
    ):
        await harness.client.get("/a", headers={"user-agent": ua, "referer": ref})
    await harness.client.get("/b", headers={"user-agent": WINDOWS})
    await harness.client.get("/b", headers={"user-agent": GOOGLEBOT})
    await harness.client.get("/b", headers={"user-agent": ""})
    assert await harness.ingest() == 6

    assert await _get(harness, ada.auth) == {"clicks": 4, "visitors": 2}
    assert (await _get(harness, ada.auth, include_bots="true"))["clicks"] == 6
    assert await _get(harness, ada.auth, link_id=a["id"]) == {"clicks": 3, "visitors": 2}
    assert (await _get(harness, ada.auth, tag="promo"))["clicks"] == 3
    assert (await _get(harness, ada.auth, tag="missing"))["clicks"] == 0
    assert await _get(harness, ada.auth, group_by="devices") == [
        {"device": "desktop", "clicks": 2, "visitors": 1},
        {"device": "mobile", "clicks": 2, "visitors": 1},
    ]
    assert await _get(harness, ada.auth, group_by="os", link_id=a["id"]) == [
        {"os": "iOS", "clicks": 2, "visitors": 1},
        {"os": "Windows", "clicks": 1, "visitors": 1},
    ]
    assert await _get(harness, ada.auth, group_by="referrer_domains", link_id=a["id"]) == [
        {"referrer_domain": "(direct)", "clicks": 1, "visitors": 1},
        {"referrer_domain": "news.example", "clicks": 1, "visitors": 1},
        {"referrer_domain": "social.example", "clicks": 1, "visitors": 1},
    ]
    top = await _get(harness, ada.auth, group_by="top_links")
    assert [(row["link_id"], row["clicks"], row["key"]) for row in top] == [
        (a["id"], 3, "a"),
        (b["id"], 1, "b"),
    ]
    assert top[0]["short_url"] == "http://lh.test/a"
    series = await _get(harness, ada.auth, group_by="timeseries", interval="24h")
    assert isinstance(series, list) and sum(p["clicks"] for p in series) == 4
    assert all({"start", "clicks", "visitors"} == p.keys() for p in series)
    assert sum(p["visitors"] for p in series) >= 2  # the iPhone and the Windows visitor

    listed = (await harness.client.get("/api/v1/links?sort=-clicks", headers=ada.auth)).json()[
        "data"
    ]
    assert [(x["key"], x["clicks"]) for x in listed] == [("a", 3), ("b", 1)]  # bots not counted
    assert listed[0]["last_clicked_at"] is not None


async def test_country_from_trusted_header(harness: Harness) -> None:
    harness.redirect_app.country_header = b"cf-ipcountry"
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/", key="geo")
    for country in ("DE", "DE", "us", "ZZZ"):
        await harness.client.get("/geo", headers={"user-agent": WINDOWS, "cf-ipcountry": country})
    await harness.ingest()
    assert await _get(harness, ada.auth, group_by="countries") == [
        {"country": "DE", "clicks": 2, "visitors": 1},
        {"country": "", "clicks": 1, "visitors": 1},
        {"country": "US", "clicks": 1, "visitors": 1},
    ]


async def test_replayed_batch_counts_once(harness: Harness) -> None:
    """A worker that dies after inserting but before acking replays the same batch."""
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/", key="once")
    for _ in range(5):
        await harness.client.get("/once", headers={"user-agent": WINDOWS})
    batch = await harness.consumer.read_batch(1000)
    assert batch is not None
    from linkhop.apps.worker import SqlCounterSink
    from linkhop.ingest.service import prepare_batch
    from linkhop.ingest.sink import ClickHouseClickSink

    prepared = prepare_batch(batch.items, geo=None, store_ip="none")
    await ClickHouseClickSink(harness.store.ch, database=harness.store.database).insert_clicks(
        prepared.rows, batch.token
    )
    await SqlCounterSink(harness.runtime).apply(token=batch.token, counts=prepared.counts)
    # "crash" here: no ack. The next worker run replays the same batch with the same token.
    assert await harness.ingest() == 5
    assert (await _get(harness, ada.auth))["clicks"] == 5
    got = (await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)).json()
    assert got["clicks"] == 5


async def test_bad_analytics_input(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for params, field in (
        ({"group_by": "colours"}, "group_by"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"interval": "7d", "start": "2026-01-01T00:00:00Z"}, "interval"),
        ({"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end"),
    ):
        r = await harness.client.get("/api/v1/analytics", params=params, headers=ada.auth)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in r.json()["detail"], (field, r.text)
    unknown = await harness.client.get(
        "/api/v1/analytics", params={"link_id": "link_nope"}, headers=ada.auth
    )
    assert unknown.status_code == 404
    now = datetime.now(UTC).isoformat()
    ok = await harness.client.get("/api/v1/analytics", params={"end": now}, headers=ada.auth)
    assert ok.status_code == 200
