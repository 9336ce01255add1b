"""Enrichment of raw clicks: user agents, bots, referrers, IPs, UTM tags, countries."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest

from linkhop.clickhouse.tables import CLICK_COLUMNS as TABLE_COLUMNS
from linkhop.ingest.enrich import (
    CLICK_COLUMNS,
    classify,
    click_time,
    enrich,
    referrer_domain,
    store_ip_value,
    utm_params,
    visitor_id,
)
from linkhop.ingest.schemas import RawClick

IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67"
)
MACOS_FIREFOX = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.5.0"
SLACKBOT = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
IPAD_SAFARI = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
PLAYSTATION = (
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/13.0 Safari/605.1.15"
)
SAMSUNG_TV = (
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "85.0.4183.93/6.0 TV Safari/537.36"
)
GALAXY_WATCH = (
    "Mozilla/5.0 (Linux; Android 11; SM-R860 Build/RP1A.200720.012; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/124 Mobile Safari/537.36"
)
HEADLESS_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/124.0.0.0 Safari/537.36"
)
CUBOT_PHONE = (
    "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "method", "expected"),
    [
        (IPHONE_SAFARI, "GET", ("mobile", "Mobile Safari", "17.4", "iOS", "17.4", "")),
        (ANDROID_CHROME, "GET", ("mobile", "Chrome Mobile", "124.0.6367", "Android", "14", "")),
        (WINDOWS_EDGE, "GET", ("desktop", "Edge", "124.0.2478", "Windows", "10", "")),
        (MACOS_FIREFOX, "GET", ("desktop", "Firefox", "125.0", "macOS", "14.4", "")),
        (GOOGLEBOT, "GET", ("bot", "Googlebot", "2.1", "", "", "ua_parser_spider")),
        (CURL, "GET", ("bot", "curl", "8.5.0", "", "", "ua_keyword")),
        (SLACKBOT, "GET", ("bot", "Slackbot-LinkExpanding", "1.0", "", "", "ua_parser_spider")),
        ("", "GET", ("bot", "", "", "", "", "empty_ua")),
        ("   ", "GET", ("bot", "", "", "", "", "empty_ua")),
        (IPHONE_SAFARI, "HEAD", ("bot", "Mobile Safari", "17.4", "iOS", "17.4", "head_request")),
        ("", "HEAD", ("bot", "", "", "", "", "head_request")),
        (IPAD_SAFARI, "GET", ("tablet", "Mobile Safari", "17.4", "iOS", "17.4", "")),
        (ANDROID_TABLET, "GET", ("tablet", "Chrome", "124.0.0", "Android", "13", "")),
        (PLAYSTATION, "GET", ("console", "Safari", "13.0", "", "", "")),
        (SAMSUNG_TV, "GET", ("tv", "Safari", "", "Tizen", "6.0", "")),
        (GALAXY_WATCH, "GET", ("wearable", "Android", "11", "Android", "11", "")),
        (HEADLESS_CHROME, "GET", ("bot", "HeadlessChrome", "124.0.0", "Linux", "", "ua_keyword")),
        (CUBOT_PHONE, "GET", ("mobile", "Chrome Mobile", "124.0.0", "Android", "10", "")),
    ],
    ids=[
        "iphone-safari",
        "android-chrome",
        "windows-edge",
        "macos-firefox",
        "googlebot",
        "curl",
        "slackbot",
        "empty-ua",
        "blank-ua",
        "head-request",
        "head-empty-ua",
        "ipad",
        "android-tablet",
        "playstation",
        "smart-tv",
        "galaxy-watch",
        "headless-chrome",
        "cubot-is-not-a-bot",
    ],
)
def test_classify_user_agent(ua: str, method: str, expected: tuple[str, ...]) -> None:
    assert tuple(classify(ua=ua, method=method)) == expected


@pytest.mark.parametrize(
    "ua",
    [
        "Twitterbot/1.0",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Wget/1.21.3",
        "python-requests/2.32.3",
        "python-httpx/0.28.1",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 BingPreview/1.0b",
    ],
)
def test_link_unfurlers_and_http_libraries_are_bots(ua: str) -> None:
    info = classify(ua=ua, method="GET")

    assert info.device == "bot"
    assert info.bot_reason in {"ua_parser_spider", "ua_keyword"}


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        ("https://www.Google.com/search?q=x", "google.com"),
        ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com"),
        ("http://WWW.EXAMPLE.ORG:8080/path", "example.org"),
        ("https://t.co/abc", "t.co"),
        ("android-app://com.google.android.gm/", "com.google.android.gm"),
        ("https://example.com./", "example.com"),
        ("https://[2001:db8::1]/x", "2001:db8::1"),
        ("", ""),
        ("not a url", ""),
        ("example.com/no-scheme", ""),
        ("https://[::1/broken", ""),
        ("about:blank", ""),
    ],
)
def test_referrer_domain(referrer: str, expected: str) -> None:
    assert referrer_domain(referrer) == expected


@pytest.mark.parametrize(
    ("ip", "policy", "expected"),
    [
        ("81.2.69.160", "full", "81.2.69.160"),
        ("81.2.69.160", "anonymized", "81.2.69.0"),
        ("81.2.69.160", "none", ""),
        (
            "2a02:1810:1c07:9200:1234:5678:9abc:def0",
            "full",
            "2a02:1810:1c07:9200:1234:5678:9abc:def0",
        ),
        ("2a02:1810:1c07:9200:1234:5678:9abc:def0", "anonymized", "2a02:1810:1c07::"),
        ("2A02:1810:1C07::1", "full", "2a02:1810:1c07::1"),
        ("::ffff:81.2.69.160", "anonymized", "81.2.69.0"),
        ("not-an-ip", "full", ""),
        ("not-an-ip", "anonymized", ""),
    ],
)
def test_store_ip_policy(ip: str, policy: str, expected: str) -> None:
    assert store_ip_value(ip, policy) == expected  # type: ignore[arg-type]  # policy from table


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://example.com/p?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
            "&utm_term=shoes&utm_content=hero",
            ("newsletter", "email", "spring", "shoes", "hero"),
        ),
        ("https://example.com/p?utm_source=a%20b&x=1", ("a b", "", "", "", "")),
        ("https://example.com/p?UTM_Source=Mixed", ("Mixed", "", "", "", "")),
        ("https://example.com/p?utm_source=first&utm_source=second", ("first", "", "", "", "")),
        ("https://example.com/p?utm_medium=", ("", "", "", "", "")),
        ("https://example.com/p", ("", "", "", "", "")),
        ("https://example.com/utm_source/page", ("", "", "", "", "")),
        ("https://example.com/p#utm_source=fragment", ("", "", "", "", "")),
    ],
)
def test_utm_params(url: str, expected: tuple[str, ...]) -> None:
    assert utm_params(url) == expected


def test_visitor_id_is_first_eight_bytes_of_sha256_of_ip_and_ua() -> None:
    expected = int.from_bytes(hashlib.sha256(b"81.2.69.160\nMozilla/5.0").digest()[:8], "big")

    assert visitor_id("81.2.69.160", "Mozilla/5.0") == expected
    assert visitor_id("81.2.69.161", "Mozilla/5.0") != expected
    assert 0 <= expected < 2**64


def test_click_time_keeps_milliseconds_exactly() -> None:
    assert click_time(1_764_072_000.123) == datetime(2025, 11, 25, 12, 0, 0, 123_000, tzinfo=UTC)


def raw(**overrides: object) -> RawClick:
    click: dict[str, object] = {
        "click_id": "01938d2e-7b1c-7a3e-9f00-1234567890ab",
        "ts": 1_764_072_000.5,
        "org_id": "org_1",
        "link_id": "link_1",
        "domain": "go.example.com",
        "key": "spring",
        "url": "https://shop.example.com/?utm_source=qr&utm_campaign=fair",
        "trigger": "qr",
        "ip": "81.2.69.160",
        "ua": IPHONE_SAFARI,
        "referrer": "https://www.linkedin.com/feed/",
        "country": "",
        "method": "GET",
    }
    click.update(overrides)
    return click  # type: ignore[return-value]  # overrides are the test's input


def test_enrich_builds_a_full_row_in_column_order() -> None:
    row = enrich(raw(country="gb"), geo=None, store_ip="anonymized")

    assert tuple(row._fields) == CLICK_COLUMNS
    assert row._asdict() == {
        "click_id": uuid.UUID("01938d2e-7b1c-7a3e-9f00-1234567890ab"),
        "ts": datetime(2025, 11, 25, 12, 0, 0, 500_000, tzinfo=UTC),
        "org_id": "org_1",
        "link_id": "link_1",
        "domain": "go.example.com",
        "key": "spring",
        "url": "https://shop.example.com/?utm_source=qr&utm_campaign=fair",
        "trigger": "qr",
        "ip": "81.2.69.0",
        "country": "GB",
        "region": "",
        "city": "",
        "continent": "EU",
        "device": "mobile",
        "browser": "Mobile Safari",
        "browser_version": "17.4",
        "os": "iOS",
        "os_version": "17.4",
        "ua": IPHONE_SAFARI,
        "bot": 0,
        "bot_reason": "",
        "referrer": "https://www.linkedin.com/feed/",
        "referrer_domain": "linkedin.com",
        "utm_source": "qr",
        "utm_medium": "",
        "utm_campaign": "fair",
        "utm_term": "",
        "utm_content": "",
        "visitor_id": visitor_id("81.2.69.160", IPHONE_SAFARI),
    }


def test_visitor_id_uses_the_full_ip_whatever_is_stored() -> None:
    kept = enrich(raw(), geo=None, store_ip="full")
    dropped = enrich(raw(), geo=None, store_ip="none")

    assert dropped.ip == ""
    assert kept.ip == "81.2.69.160"
    assert dropped.visitor_id == kept.visitor_id


@pytest.mark.parametrize(
    ("header", "country", "continent"),
    [
        ("US", "US", "NA"),
        (" de ", "DE", "EU"),
        ("jp", "JP", "AS"),
        ("BR", "BR", "SA"),
        ("AU", "AU", "OC"),
        ("NG", "NG", "AF"),
        ("AQ", "AQ", "AN"),
        ("XX", "", ""),  # Cloudflare's "unknown"
        ("T1", "", ""),  # Cloudflare's Tor marker
        ("USA", "", ""),
        ("", "", ""),
    ],
)
def test_country_from_edge_header(header: str, country: str, continent: str) -> None:
    row = enrich(raw(country=header), geo=None, store_ip="none")

    assert (row.country, row.continent, row.region, row.city) == (country, continent, "", "")


def test_bots_are_flagged_with_their_reason() -> None:
    row = enrich(raw(ua=GOOGLEBOT), geo=None, store_ip="none")

    assert (row.bot, row.bot_reason, row.device) == (1, "ua_parser_spider", "bot")


def test_oversized_headers_are_capped_for_storage() -> None:
    long_ua = IPHONE_SAFARI + " x" * 2000
    row = enrich(
        raw(ua=long_ua, referrer="https://example.com/" + "a" * 5000), geo=None, store_ip="none"
    )

    assert len(row.ua) == 512
    assert len(row.referrer) == 2048
    assert row.referrer_domain == "example.com"
    assert row.device == "mobile"


def test_row_layout_matches_the_clickhouse_table_contract() -> None:
    assert CLICK_COLUMNS == TABLE_COLUMNS
