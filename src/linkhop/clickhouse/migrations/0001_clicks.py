"""The raw click table: one row per redirect, bots included and flagged."""

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.clicks
(
    click_id UUID,                              -- UUIDv7 made on the redirect path
    ts DateTime64(3, 'UTC'),                    -- when the redirect was served
    org_id String,
    link_id String,
    domain LowCardinality(String),              -- short domain, normalised host
    key String,                                 -- short code as requested
    url String,                                 -- destination chosen (rules / A/B applied)
    trigger LowCardinality(String),             -- link | qr | api
    ip String,                                  -- possibly anonymised by org setting
    country LowCardinality(String),             -- ISO-3166 alpha-2, '' when unknown
    region String,
    city String,
    continent LowCardinality(String),           -- AF AN AS EU NA OC SA, '' when unknown
    device LowCardinality(String),   -- desktop|mobile|tablet|tv|console|wearable|bot|other
    browser LowCardinality(String),
    browser_version String,
    os LowCardinality(String),
    os_version String,
    ua String,
    bot UInt8,                                  -- 1 = bot; excluded from counts unless asked
    bot_reason LowCardinality(String),
    referrer String,                            -- '' = direct
    referrer_domain String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_term String,
    utm_content String,
    visitor_id UInt64                           -- hash of ip+ua, for unique visitors
)
-- ReplacingMergeTree is the SECOND line of defence against a batch counted twice (the first is
-- the insert dedup token, within the window below): rows with the same sorting key, i.e. the same
-- click_id at the same ts, collapse when parts merge, and the raw export reads with FINAL. Counts
-- do not (they must agree with the rollups, which cannot collapse): analytics/queries.py.
ENGINE = ReplacingMergeTree
-- Monthly partitions: a few dozen parts per year keep merges cheap, and a month is the unit in
-- which old data is dropped (retention) or backed up.
PARTITION BY toYYYYMM(ts)
-- Every analytics query filters one org, usually one link or a few, then a time range: this
-- prefix lets the primary index skip straight to those granules. click_id last makes the key
-- unique per click, so ReplacingMergeTree collapses only true duplicates.
ORDER BY (org_id, link_id, ts, click_id)
-- No TTL here: per-org retention follows settings and is set (and changed) on this table and
-- every rollup by clickhouse/retention.py; ttl_only_drop_parts stays off because a part mixes orgs.
-- non_replicated_deduplication_window: remember the last 1000 insert tokens (default 0 = off), so
-- a batch retried with the same insert_deduplication_token is dropped (10 000 since 0003).
SETTINGS non_replicated_deduplication_window = 1000
""",
]

DOWN: list[str] = [
    "DROP TABLE IF EXISTS $db.clicks",
]
