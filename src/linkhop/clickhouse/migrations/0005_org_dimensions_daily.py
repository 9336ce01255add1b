"""Daily rollup per org and dimension value, for the dashboard's org-wide top-N lists.

One click becomes one row per dimension (``ARRAY JOIN`` below), keyed by the dimension's name
and value, so one table answers "top countries", "top referrers", "top devices"… of an org, and,
through the pseudo-dimension ``all``, the org's click count and timeseries. A
dimension filter (``country=FR``) or a group_by not listed here reads ``clicks`` instead. Regions
and cities are left out: their values only mean something with their country, and they are
numerous enough that a rollup would hold nearly as many rows as the raw table.

There is deliberately no per-LINK dimension rollup: most links get a few clicks a day, so
(link, day, dimension, value) rows would outnumber the raw clicks (14 rows per click),
while ``clicks``, keyed (org_id, link_id, ts), already reads one link's range in one slice. An
org's top-N over 90 days, by contrast, reads ~90 × (values per dimension) rows here instead of
every click of every link.

``value`` keeps what ``clicks`` stores ('' for a direct visit); readers apply the same
``(direct)`` label as the raw path. Existing clicks are copied in by this migration (run it with
the workers stopped, see docs/analytics.md "Upgrading").
"""

# The dimensions, as (name, clicks column). Kept literal here: an applied migration must not
# change meaning when code changes. tables.ROLLUP_DIMENSIONS mirrors it (a test compares them).
# 'all' is every click once (value ''): the org's count and timeseries read ~90 rows from it.
_PAIRS = """[
        ('all', ''),
        ('country', toString(country)),
        ('continent', toString(continent)),
        ('device', toString(device)),
        ('browser', toString(browser)),
        ('os', toString(os)),
        ('trigger', toString(trigger)),
        ('referrer', referrer),
        ('referrer_domain', referrer_domain),
        ('utm_source', utm_source),
        ('utm_medium', utm_medium),
        ('utm_campaign', utm_campaign),
        ('utm_term', utm_term),
        ('utm_content', utm_content)
    ]"""

_SELECT = """
SELECT
    org_id,
    pair.1 AS dim,
    pair.2 AS value,
    toStartOfDay(ts) AS day,
    bot,
    toUInt64(count()) AS clicks,
    uniqState(visitor_id) AS visitors
FROM $db.clicks
ARRAY JOIN __PAIRS__ AS pair
GROUP BY org_id, dim, value, day, bot
""".replace("__PAIRS__", _PAIRS)

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.clicks_org_dims_daily
(
    org_id String,
    dim LowCardinality(String),                          -- dimension name, e.g. 'country'
    value String,                                        -- its value as stored in clicks
    day DateTime('UTC'),                                 -- UTC midnight starting the day
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors AggregateFunction(uniq, UInt64)             -- uniqState(visitor_id); uniqMerge to read
)
-- Rows with the same key fold at merge time; readers GROUP BY with sum / uniqMerge.
ENGINE = AggregatingMergeTree
-- Monthly partitions like clicks (retention and backups work month by month on every table).
PARTITION BY toYYYYMM(day)
-- One org, one dimension, then the days of the range: one contiguous slice per query. value
-- before bot so a day's values sit together for the GROUP BY value.
ORDER BY (org_id, dim, day, value, bot)
-- A retried insert must be dropped here too (its view block carries the insert's token).
SETTINGS non_replicated_deduplication_window = 10000
""",
    # Clean slate, so re-running an interrupted UP cannot copy the existing clicks twice.
    "TRUNCATE TABLE IF EXISTS $db.clicks_org_dims_daily",
    "INSERT INTO $db.clicks_org_dims_daily" + _SELECT,
    "CREATE MATERIALIZED VIEW IF NOT EXISTS $db.clicks_org_dims_daily_mv "
    "TO $db.clicks_org_dims_daily AS" + _SELECT,
]

DOWN: list[str] = [
    "DROP VIEW IF EXISTS $db.clicks_org_dims_daily_mv",
    "DROP TABLE IF EXISTS $db.clicks_org_dims_daily",
]
