"""Hourly rollup of clicks and unique visitors per link, fed by a materialized view."""

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.clicks_hourly
(
    org_id String,
    link_id String,
    hour DateTime('UTC'),                                -- start of the UTC hour
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors AggregateFunction(uniq, UInt64)             -- uniqState(visitor_id); uniqMerge to read
)
-- AggregatingMergeTree folds rows with the same key into one at merge time: sum for clicks, the
-- uniq state union for visitors. Readers still GROUP BY and sum / uniqMerge, since unmerged parts
-- may hold several rows per key.
ENGINE = AggregatingMergeTree
-- Same monthly partitioning as clicks, so retention can drop matching months of both.
PARTITION BY toYYYYMM(hour)
-- Same access path as clicks: one org, then links, then time. bot last so the default
-- "humans only" read is a filter on the tail of the key.
ORDER BY (org_id, link_id, hour, bot)
-- Dedup window on the rollup as well: when a retried batch reaches the view, its block must be
-- dropped here too, or the retry is counted twice in the rollup while the raw table is right.
SETTINGS non_replicated_deduplication_window = 1000
""",
    """
CREATE MATERIALIZED VIEW IF NOT EXISTS $db.clicks_hourly_mv TO $db.clicks_hourly AS
SELECT
    org_id,
    link_id,
    toDateTime(toStartOfHour(ts), 'UTC') AS hour,
    bot,
    toUInt64(count()) AS clicks,
    uniqState(visitor_id) AS visitors
FROM $db.clicks
GROUP BY org_id, link_id, hour, bot
""",
    # Rows already in clicks are NOT backfilled: on a new install there are none. After a
    # down/up of this step, backfill in a quiet window with INSERT INTO clicks_hourly SELECT ….
]

DOWN: list[str] = [
    "DROP VIEW IF EXISTS $db.clicks_hourly_mv",
    "DROP TABLE IF EXISTS $db.clicks_hourly",
]
