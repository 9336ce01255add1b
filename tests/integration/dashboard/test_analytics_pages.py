"""The analytics pages: they show exactly what GET /api/v1/analytics returns for the same
filters (totals, chart data, every table), honour the bots toggle, time zones and custom ranges,
export CSV through the session cookie, refuse bad filters with messages, stay inside the org,
and explain (not crash) when the analytics store is missing."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import orjson
import pytest

from tests.integration.dashboard.web import Browser, add_member, sign_in, text_of
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
)
MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BREAKDOWNS = {
    "countries": "country",
    "devices": "device",
    "browsers": "browser",
    "os": "os",
    "referrer_domains": "referrer_domain",
    "referrers": "referrer",
    "triggers": "trigger",
}
SERIES = re.compile(r"data-series='([^']*)'")
ROW = re.compile(
    r'<tr data-testid="breakdown-row" data-value="([^"]*)">.*?'
    r'data-testid="clicks">([\d,]+)<.*?data-testid="visitors">([\d,]+)<',
    re.S,
)


async def _traffic(h: Harness) -> tuple[Account, dict[str, Any], dict[str, Any]]:
    """Two links with clicks from several devices and referrers, a QR scan and bots."""
    ada = await h.account("ada@example.com")
    a = await h.create_link(ada, url="https://example.com/a", key="a", tags=["promo"])
    b = await h.create_link(ada, url="https://example.com/b", key="b")
    for path, ua, ref, country in (
        ("/a", IPHONE, "https://www.news.example/item", "DE"),
        ("/a", IPHONE, "", "DE"),
        ("/a", WINDOWS, "https://social.example/", "US"),
        ("/a?qr=1", MAC, "", "FR"),
        ("/a", GOOGLEBOT, "", "US"),
        ("/b", WINDOWS, "https://social.example/p", "US"),
        ("/b", "", "", "US"),
    ):
        headers = {"user-agent": ua, "referer": ref, "cf-ipcountry": country}
        r = await h.client.get(path, headers=headers)
        assert r.status_code == 302, (path, r.status_code)
    assert await h.ingest() == 7
    return ada, a, b


async def _api(h: Harness, account: Account, **params: str) -> Any:
    r = await h.client.get("/api/v1/analytics", params=params, headers=account.auth)
    assert r.status_code == 200, r.text
    return r.json()


def _section(html: str, table_id: str) -> str:
    start = html.index(f'id="{table_id}"')
    return html[start : html.index("</table>", start)]


def _rows(html: str, table_id: str) -> list[tuple[str, int, int]]:
    return [
        (unescape(value), int(clicks.replace(",", "")), int(visitors.replace(",", "")))
        for value, clicks, visitors in ROW.findall(_section(html, table_id))
    ]


def _value(html: str, element_id: str) -> int:
    found = re.search(rf'id="{element_id}"[^>]*data-value="(\d+)"', html)
    assert found, element_id
    return int(found.group(1))


def _series(html: str) -> dict[str, Any]:
    found = SERIES.search(html)
    assert found, "no chart data"
    data: dict[str, Any] = orjson.loads(unescape(found.group(1)))
    return data


def _export_href(html: str) -> str:
    found = re.search(r'href="([^"]+)" id="export-csv"', html)
    assert found, "no export button"
    return unescape(found.group(1))


async def _compare(h: Harness, b: Browser, account: Account, page: str, api: dict[str, str]) -> str:
    """GET the page and assert every number on it equals the API's answer for ``api``."""
    r = await b.get(page)
    assert r.status_code == 200, r.text
    html = r.text
    count = await _api(h, account, **api)
    assert _value(html, "total-clicks") == count["clicks"], page
    assert _value(html, "total-visitors") == count["visitors"], page
    assert text_of(html, "total-clicks") == f"{count['clicks']:,}"

    series = await _api(h, account, group_by="timeseries", **api)
    chart = _series(html)
    assert chart["x"] == [int(datetime.fromisoformat(p["start"]).timestamp()) for p in series]
    assert chart["clicks"] == [p["clicks"] for p in series]
    assert chart["visitors"] == [p["visitors"] for p in series]
    assert chart["zone"] == api["timezone"]
    table = re.findall(r'data-testid="series-row" data-start="([^"]+)"', html)
    assert table == [p["start"] for p in series]

    for group_by, key in BREAKDOWNS.items():
        rows = await _api(h, account, group_by=group_by, limit="10", **api)
        expected = [(r[key], r["clicks"], r["visitors"]) for r in rows]
        if expected:
            assert _rows(html, f"breakdown-{group_by}") == expected, (page, group_by)
        else:
            assert f'data-testid="breakdown-{group_by}-empty"' in html, (page, group_by)
    triggers = await _api(h, account, group_by="triggers", **api)
    qr = sum(row["clicks"] for row in triggers if row["trigger"] == "qr")
    assert _value(html, "total-qr-scans") == qr
    return html


async def test_pages_show_the_numbers_the_api_returns(harness: Harness) -> None:
    ada, a, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York")).date()
    start = datetime.combine(
        today - timedelta(days=1), datetime.min.time(), ZoneInfo("America/New_York")
    )
    end = datetime.combine(
        today + timedelta(days=1), datetime.min.time(), ZoneInfo("America/New_York")
    )
    cases: list[tuple[str, dict[str, str]]] = [
        ("interval=24h&tz=UTC", {"interval": "24h", "timezone": "UTC"}),
        ("interval=7d&tz=Europe/Berlin", {"interval": "7d", "timezone": "Europe/Berlin"}),
        (
            "interval=30d&tz=Asia/Kolkata&bots=1",
            {"interval": "30d", "timezone": "Asia/Kolkata", "include_bots": "true"},
        ),
        ("interval=90d&tz=UTC", {"interval": "90d", "timezone": "UTC"}),
        (
            f"interval=custom&start={today - timedelta(days=1)}&end={today}&tz=America/New_York",
            {"start": start.isoformat(), "end": end.isoformat(), "timezone": "America/New_York"},
        ),
    ]
    for query, api in cases:
        org_html = await _compare(harness, b, ada, f"/app/analytics?{query}", api)
        top = await _api(harness, ada, group_by="top_links", limit="10", **api)
        assert _rows(org_html, "top-links") == [
            (r["link_id"], r["clicks"], r["visitors"]) for r in top
        ]
        link_api = {**api, "link_id": a["id"]}
        link_html = await _compare(
            harness, b, ada, f"/app/links/{a['id']}/analytics?{query}", link_api
        )
        assert 'id="top-links"' not in link_html
        # The export button carries the same filters (and the link) as the page.
        for html, wanted in ((org_html, api), (link_html, link_api)):
            href = _export_href(html)
            assert urlsplit(href).path == "/app/analytics/export"
            assert dict(parse_qsl(urlsplit(href).query)) == {"format": "csv", **wanted}

    # What the traffic was: known values, so the comparison above compared something.
    page = await b.get("/app/analytics?interval=24h&tz=UTC")
    assert _value(page.text, "total-clicks") == 5  # 7 requests, 2 bots
    assert _value(page.text, "total-qr-scans") == 1
    assert _rows(page.text, "breakdown-devices") == [("desktop", 3, 2), ("mobile", 2, 1)]
    assert ("social.example", 2, 1) in _rows(page.text, "breakdown-referrer_domains")
    assert [v for v, _, _ in _rows(page.text, "breakdown-triggers")] == ["link", "qr"]
    assert "QR code scan" in _section(page.text, "breakdown-triggers")
    assert sum(_series(page.text)["clicks"]) == 5


async def test_bots_toggle_changes_the_counts(harness: Harness) -> None:
    ada, a, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    off = await b.get("/app/analytics?interval=24h&tz=UTC")
    on = await b.get("/app/analytics?interval=24h&tz=UTC&bots=1")
    assert (_value(off.text, "total-clicks"), _value(on.text, "total-clicks")) == (5, 7)
    assert 'id="bots" name="bots" value="1" data-testid="bots-toggle" checked' in on.text
    assert 'data-testid="bots-toggle" checked' not in off.text
    assert sum(_series(on.text)["clicks"]) == 7
    link_on = await b.get(f"/app/links/{a['id']}/analytics?interval=24h&bots=1")
    link_off = await b.get(f"/app/links/{a['id']}/analytics?interval=24h")
    assert (_value(link_off.text, "total-clicks"), _value(link_on.text, "total-clicks")) == (4, 5)
    assert "include_bots=true" in _export_href(on.text)
    assert "include_bots" not in _export_href(off.text)


async def test_csv_export_works_with_the_session_cookie(harness: Harness) -> None:
    ada, a, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    page = await b.get(f"/app/links/{a['id']}/analytics?interval=7d&tz=Europe/Paris")
    r = await b.get(_export_href(page.text))  # the page's own button, with the cookie only
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == _value(page.text, "total-clicks") == 4
    assert {row["link_id"] for row in rows} == {a["id"]}


async def test_time_zone_defaults_to_the_browser_cookie_then_utc(harness: Harness) -> None:
    ada, _, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    page = await b.get("/app/analytics")
    assert 'data-tz-auto="1" data-tz="UTC"' in page.text  # nothing known yet
    assert '<label class="segment" for="interval-7d"><input type="radio"' in page.text
    assert 'id="interval-7d" value="7d" data-testid="interval-7d" checked' in page.text
    b.client.cookies.set("linkhop_tz", "Asia/Tokyo", domain="lh.test", path="/app")
    page = await b.get("/app/analytics")
    assert 'data-tz-auto="1" data-tz="Asia/Tokyo"' in page.text
    assert '<option value="Asia/Tokyo" selected>' in page.text
    assert _series(page.text)["zone"] == "Asia/Tokyo"
    chosen = await b.get("/app/analytics?tz=America/Chicago")
    assert 'data-tz-auto="0" data-tz="America/Chicago"' in chosen.text
    first = _series(chosen.text)["x"][0]
    local = datetime.fromtimestamp(first, UTC).astimezone(ZoneInfo("America/Chicago"))
    assert (local.hour, local.minute) == (0, 0)  # daily buckets start at local midnight


async def test_bad_filters_get_messages_not_errors(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    b = await sign_in(harness, ada.email)
    today = date.today()
    for query, field, words in (
        (f"interval=custom&start={today}&end={today - timedelta(days=3)}", "end", "before"),
        ("interval=custom", "start", "first day"),
        ("interval=custom&start=yesterday", "start", "YYYY-MM-DD"),
        ("tz=Mars/Olympus", "tz", "Unknown time zone"),
        ("interval=5y", "interval", "Choose"),
        ("interval=custom&start=0001-01-01&end=9999-12-31", "start", "from 1970-01-01"),
    ):
        r = await b.get(f"/app/analytics?{query}")
        assert r.status_code == 422, (query, r.status_code)
        message = text_of(r.text, f"error-{field}") or ""
        assert words in message, (query, message)
        assert 'id="total-clicks"' not in r.text and 'id="export-csv"' not in r.text


async def test_a_custom_range_alone_shows_its_clicks(harness: Harness) -> None:
    ada, _, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    long_ago = await b.get("/app/analytics?interval=custom&start=2020-01-01&end=2020-01-31")
    assert long_ago.status_code == 200
    assert _value(long_ago.text, "total-clicks") == 0
    assert len(_series(long_ago.text)["x"]) == 31  # one bucket per day, empty ones included
    assert 'data-testid="breakdown-countries-empty"' in long_ago.text
    today = datetime.now(UTC).date()
    now = await b.get(f"/app/analytics?interval=custom&start={today}&tz=UTC")  # end: today
    assert _value(now.text, "total-clicks") == 5
    assert f'id="end" name="end" value="{today}"' in now.text
    assert _series(now.text)["unit"] == "hour"


async def test_viewers_see_analytics_and_other_orgs_get_404(harness: Harness) -> None:
    ada, a, _ = await _traffic(harness)
    await add_member(harness, "vic@example.com", org_id=ada.org_id, role="viewer")
    vic = await sign_in(harness, "vic@example.com")
    for path in ("/app/analytics?interval=24h", f"/app/links/{a['id']}/analytics?interval=24h"):
        r = await vic.get(path)
        assert r.status_code == 200, path
        assert _value(r.text, "total-clicks") > 0
        assert 'id="export-csv"' in r.text
    assert "View link" in (await vic.get(f"/app/links/{a['id']}/analytics")).text
    export = await vic.get(_export_href(r.text))
    assert export.status_code == 200

    bob = await harness.account("bob@beta.example", org="Beta")
    other = await sign_in(harness, bob.email)
    r = await other.get(f"/app/links/{a['id']}/analytics")
    assert r.status_code == 404 and text_of(r.text, "error-page") is not None
    assert "example.com/a" not in r.text
    own = await other.get("/app/analytics?interval=24h")  # org B sees only its own (no) clicks
    assert _value(own.text, "total-clicks") == 0
    assert a["id"] not in own.text


async def test_a_missing_analytics_store_is_a_message(harness: Harness) -> None:
    ada, a, _ = await _traffic(harness)
    b = await sign_in(harness, ada.email)
    harness.runtime.clickhouse = None
    for path in ("/app/analytics", f"/app/links/{a['id']}/analytics"):
        r = await b.get(path)
        assert r.status_code == 503, path
        assert 'data-testid="analytics-unavailable"' in r.text
        assert "Analytics are unavailable right now" in r.text
        assert "not configured" in r.text
        assert 'id="analytics-filters"' in r.text  # still the app's page, with its navigation
        assert 'data-testid="nav-analytics"' in r.text
        assert 'id="total-clicks"' not in r.text
