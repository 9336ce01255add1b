"""Synthetic clicks generated inside ClickHouse (``numbers()``), into the real migrated schema.

Generating in the engine is ~10x faster than shipping Arrow batches from Python and needs no
memory here. The shape follows real traffic: one big org holds 30 % of all clicks, links within
an org are log-uniform (link 0 gets ~10 % of its org), a year of timestamps, 5 % bots, and
countries, devices, browsers and referrers drawn from skewed lists.

Clicks arrive in time order, as they do in production: row ``number`` is stamped
``number / rows`` of the way through the year, so each inserted block covers a few days, as
the worker's batches cover seconds. (Random timestamps made every block span the whole year,
so every rollup part held a row for every day: a read then merged each day's visitors state
once per part — six to a hundred times — which no live store does.) ``settle`` then merges each
closed month, which background merges do to a live store's older months.
"""

from __future__ import annotations

from dataclasses import dataclass

from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import TIMED_TABLES

DATABASE = "linkhop"
SPAN_DAYS = 365
BIG_ORG = "org_0"
HOT_LINK = "link_0_0"

_INSERT = """
INSERT INTO $db.clicks
SELECT
    generateUUIDv7(number) AS click_id,
    fromUnixTimestamp64Milli(
        toInt64({end_ms:Int64} - {span_ms:UInt64}
            + intDiv(number * {span_ms:UInt64}, {rows:UInt64})),
        'UTC'
    ) AS ts,
    concat('org_', toString(o)) AS org_id,
    concat('link_', toString(o), '_', toString(l)) AS link_id,
    'lnk.bench' AS domain,
    concat('k', toString(o), 'x', toString(l)) AS key,
    concat('https://www.example-shop.com/p/', toString(l)) AS url,
    if(h3 % 20 = 0, 'qr', 'link') AS trigger,
    IPv4NumToString(toUInt32(bitAnd(h5, 0xFFFFFF00))) AS ip,
    ['US','US','US','DE','GB','FR','IN','BR','JP','CA','NL','ES','IT','MX',''][1 + h5 % 15]
        AS country,
    '' AS region,
    '' AS city,
    '' AS continent,
    if(is_bot, 'bot', ['desktop','desktop','mobile','mobile','mobile','tablet'][1 + h3 % 6])
        AS device,
    if(is_bot, 'Googlebot',
       ['Chrome','Chrome','Safari','Chrome Mobile','Mobile Safari','Firefox','Edge'][1 + h6 % 7])
        AS browser,
    toString(100 + h6 % 21) AS browser_version,
    ['Windows','Mac OS X','iOS','Android','Linux'][1 + h3 % 5] AS os,
    toString(10 + h3 % 8) AS os_version,
    'Mozilla/5.0 (synthetic benchmark user agent; like Gecko) Chrome/120.0.0.0 Safari/537.36'
        AS ua,
    toUInt8(is_bot) AS bot,
    if(is_bot, 'ua_parser_spider', '') AS bot_reason,
    ['','','','https://www.google.com/','https://t.co/x','https://www.linkedin.com/feed/',
     'https://news.ycombinator.com/item?id=1','https://www.reddit.com/r/x/'][1 + h6 % 8]
        AS referrer,
    ['','','','google.com','t.co','linkedin.com','news.ycombinator.com','reddit.com'][1 + h6 % 8]
        AS referrer_domain,
    if(h3 % 4 = 0, 'newsletter', '') AS utm_source,
    if(h3 % 4 = 0, 'email', '') AS utm_medium,
    if(h3 % 4 = 0, 'launch', '') AS utm_campaign,
    '' AS utm_term,
    '' AS utm_content,
    cityHash64(number % 3000000) AS visitor_id
FROM
(
    SELECT
        number,
        cityHash64(number, 1) AS h1,
        cityHash64(number, 2) AS h2,
        cityHash64(number, 3) AS h3,
        cityHash64(number, 5) AS h5,
        cityHash64(number, 6) AS h6,
        h1 % 100 >= 95 AS is_bot,
        if(intDiv(h1, 100) % 10 < 3, 0, 1 + intDiv(h1, 1000) % ({orgs:UInt32} - 1)) AS o,
        toUInt32(floor(pow({links:UInt32}, (h2 % 1000000) / 1000000.0))) - 1 AS l
    FROM numbers({start:UInt64}, {count:UInt64})
)
-- Every click_id is unique, so collapsing equal keys inside each inserted block finds nothing:
-- skipping that pass halves the load time (measured 6.0 -> 3.2 s per million rows) and stores
-- exactly the same rows.
SETTINGS optimize_on_insert = 0
"""


@dataclass(frozen=True)
class Dataset:
    """What was generated: row count, the newest click time, and the store's part count."""

    rows: int
    end_ms: int
    parts: int


def generate(
    ch: ClickHouse,
    *,
    rows: int,
    end_ms: int,
    orgs: int,
    links_per_org: int,
    chunk: int = 10_000_000,
    progress: bool = True,
) -> Dataset:
    """Migrate ``linkhop`` and insert ``rows`` synthetic clicks ending at ``end_ms``."""
    from bench.console import say  # noqa: PLC0415 — keeps this module's imports minimal

    runner.migrate(ch, DATABASE)
    sql = runner.render(_INSERT, DATABASE)
    for start in range(0, rows, chunk):
        count = min(chunk, rows - start)
        ch.command(
            sql,
            {
                "end_ms": end_ms,
                "span_ms": SPAN_DAYS * 86_400_000,
                "orgs": max(orgs, 2),
                "links": max(links_per_org, 2),
                "start": start,
                "count": count,
                "rows": rows,
            },
        )
        if progress:
            say(f"query: generated {start + count:,} of {rows:,} clicks")
    parts = ch.query(
        "SELECT count() FROM system.parts WHERE active AND database = {db:String} "
        "AND table = 'clicks'",
        {"db": DATABASE},
    )[0][0]
    return Dataset(rows=rows, end_ms=end_ms, parts=int(parts))


def settle(ch: ClickHouse) -> tuple[int, float]:
    """Merge every closed month of every click table (``OPTIMIZE … PARTITION … FINAL``).

    A live store's background merges fold an older month into few parts; a store generated in
    minutes has not had that time. The current month stays as inserted. Returns the number of
    partitions merged and the seconds it took.
    """
    import time  # noqa: PLC0415 — keeps this module's imports minimal

    started = time.perf_counter()
    merged = 0
    for table in TIMED_TABLES:
        partitions = [
            str(row[0])
            for row in ch.query(
                "SELECT DISTINCT partition_id FROM system.parts WHERE active "
                "AND database = {db:String} AND table = {t:String} ORDER BY partition_id",
                {"db": DATABASE, "t": table},
            )
        ]
        for partition in partitions[:-1]:  # the newest month is still being written
            assert partition.isdigit(), partition  # toYYYYMM: spliced as a literal
            ch.command(f"OPTIMIZE TABLE `{DATABASE}`.`{table}` PARTITION ID '{partition}' FINAL")
            merged += 1
    return merged, time.perf_counter() - started
