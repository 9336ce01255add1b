"""The batch path (``prepare_batch``) gives exactly the rows ``enrich`` gives, click by click."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_ingest_geo import geoip2_country, write_mmdb

from linkhop.ingest.enrich import (
    BOT_INDEX,
    CLICK_COLUMNS,
    LINK_INDEX,
    TS_INDEX,
    StoreIp,
    enrich,
)
from linkhop.ingest.geo import GeoReader
from linkhop.ingest.schemas import RawClick, decode_click, encode_click
from linkhop.ingest.service import LinkCount, prepare_batch

UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.4.0",
    "",
    "x" * 700,
]
REFERRERS = [
    "",
    "https://www.google.com/",
    "https://t.co/x",
    "not a url",
    "https://[::1/",
    "r" * 3000,
]
URLS = [
    "https://example.com/",
    "https://example.com/?utm_source=a&UTM_MEDIUM=b&utm_source=c",
    "https://example.com/p?utm_campaign=%E2%82%AC",
]
IPS = ["81.2.69.160", "81.2.69.7", "10.0.0.1", "2001:db8:1:2::3", "::ffff:81.2.69.1", "junk", ""]
COUNTRIES = ["", "GB", "us", "XX"]


def clicks(n: int, seed: int = 3) -> list[RawClick]:
    rng = random.Random(seed)
    base = 1_764_072_000.0
    out: list[RawClick] = []
    for i in range(n):
        out.append(
            {
                "click_id": f"01938d2e-7b1c-7a3e-9f00-{i:012x}",
                "ts": round(base + rng.random() * 100, 3),
                "org_id": "org_1",
                "link_id": rng.choice(["link_a", "link_b", "link_c"]),
                "domain": "go.example.com",
                "key": "k",
                "url": rng.choice(URLS),
                "trigger": rng.choice(["link", "qr"]),
                "ip": rng.choice(IPS),
                "ua": rng.choice(UAS),
                "referrer": rng.choice(REFERRERS),
                "country": rng.choice(COUNTRIES),
                "method": rng.choice(["GET", "GET", "GET", "HEAD"]),
            }
        )
    return out


def test_row_positions_match_the_columns() -> None:
    assert CLICK_COLUMNS[TS_INDEX] == "ts"
    assert CLICK_COLUMNS[LINK_INDEX] == "link_id"
    assert CLICK_COLUMNS[BOT_INDEX] == "bot"


@pytest.mark.parametrize("store_ip", ["full", "anonymized", "none"])
@pytest.mark.parametrize("with_geo", [False, True])
def test_batch_rows_equal_enrich_rows(store_ip: StoreIp, with_geo: bool, tmp_path: Path) -> None:
    raws = clicks(400)
    geo = None
    if with_geo:
        path = write_mmdb(
            tmp_path / "c.mmdb",
            {("81.2.69.0/24",): geoip2_country("GB", "EU"), ("2001:db8::/32",): {}},
            db_type="GeoIP2-Country",
        )
        geo = GeoReader(path)
    try:
        prepared = prepare_batch([encode_click(c) for c in raws], geo=geo, store_ip=store_ip)
        expected = [enrich(decode_click(encode_click(c)), geo=geo, store_ip=store_ip) for c in raws]
    finally:
        if geo is not None:
            geo.close()
    assert prepared.malformed == []
    assert prepared.rows == expected
    # The insert rows carry the same values, click id as text and ts as epoch milliseconds.
    for row, want in zip(prepared.clicks, expected, strict=True):
        assert row[0] == str(want.click_id)
        since_epoch = want.ts - datetime(1970, 1, 1, tzinfo=UTC)
        assert row[TS_INDEX] == round(since_epoch / timedelta(milliseconds=1))
        assert row[2:] == tuple(want[2:])


def test_counts_are_human_clicks_and_latest_time_per_link() -> None:
    raws = clicks(300, seed=8)
    prepared = prepare_batch([encode_click(c) for c in raws], geo=None, store_ip="none")
    rows = [enrich(c, geo=None, store_ip="none") for c in raws]
    want: dict[str, LinkCount] = {}
    for link_id, group in itertools.groupby(
        sorted((r for r in rows if not r.bot), key=lambda r: r.link_id), key=lambda r: r.link_id
    ):
        members = list(group)
        want[link_id] = LinkCount(len(members), max(r.ts for r in members))
    assert prepared.counts == want
    assert prepared.bots == sum(r.bot for r in rows) > 0


def test_bad_items_are_skipped_and_named_by_index() -> None:
    good = encode_click(clicks(1)[0])
    items = [good, b"{not json", b"[1, 2]", good.replace(b'"org_1"', b'""'), good]
    prepared = prepare_batch(items, geo=None, store_ip="full")
    assert [index for index, _ in prepared.malformed] == [1, 2, 3]
    assert len(prepared.clicks) == 2
