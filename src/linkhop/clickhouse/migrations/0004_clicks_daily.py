"""Daily rollup of clicks and unique visitors per link, fed by a materialized view.

Serves ``count``, ``timeseries`` (day and month buckets) and ``top_links`` for whole UTC days;
``analytics.rollups`` adds the partial days at both ends of a range from ``clicks_hourly`` and
``clicks``. Existing clicks are copied in by this migration (run it with the workers stopped, see
docs/analytics.md "Upgrading"), so the rollup is complete from the start.
"""

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.clicks_daily
(
    org_id String,
    link_id String,
    day DateTime('UTC'),                                 -- UTC midnight starting the day
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors AggregateFunction(uniq, UInt64)             -- uniqState(visitor_id); uniqMerge to read
)
-- AggregatingMergeTree folds rows with the same key at merge time (sum for clicks, union of the
-- uniq states for visitors); readers still GROUP BY with sum / uniqMerge, as parts may be unmerged.
ENGINE = AggregatingMergeTree
-- Monthly partitions like clicks, so the same months can be dropped or backed up together.
PARTITION BY toYYYYMM(day)
-- Tenancy first (every query filters one org), then the link, then time: a per-link range is one
-- contiguous slice and an org's top links are one contiguous org slice. bot last: the default
-- "humans only" read is a filter on the tail of the key.
ORDER BY (org_id, link_id, day, bot)
-- A retried insert (same insert_deduplication_token) must be dropped here as well as in clicks.
SETTINGS non_replicated_deduplication_window = 10000
""",
    # Clean slate, so re-running an interrupted UP cannot copy the existing clicks twice.
    "TRUNCATE TABLE IF EXISTS $db.clicks_daily",
    """
INSERT INTO $db.clicks_daily
SELECT
    org_id,
    link_id,
    toStartOfDay(ts) AS day,
    bot,
    toUInt64(count()) AS clicks,
    uniqState(visitor_id) AS visitors
FROM $db.clicks
GROUP BY org_id, link_id, day, bot
""",
    """
CREATE MATERIALIZED VIEW IF NOT EXISTS $db.clicks_daily_mv TO $db.clicks_daily AS
SELECT
    org_id,
    link_id,
    toStartOfDay(ts) AS day,
    bot,
    toUInt64(count()) AS clicks,
    uniqState(visitor_id) AS visitors
FROM $db.clicks
GROUP BY org_id, link_id, day, bot
""",
]

DOWN: list[str] = [
    "DROP VIEW IF EXISTS $db.clicks_daily_mv",
    "DROP TABLE IF EXISTS $db.clicks_daily",
]
