"""Unique visitors in the rollups as ``uniqCombined(14)`` states instead of ``uniq`` states.

Why: reading a rollup merges one visitors state per row, and a ``uniq`` state is a hash set of up
to 65 536 hashes that ``uniqMerge`` re-inserts one by one. An org's 90-day count read ~90 × (parts)
such states: at 10 M clicks the rollup answer (130 ms) was slower than scanning the raw rows
(85 ms; bench/README.md). ``uniqCombined(14)`` is exact for small sets and becomes a
HyperLogLog of 2^14 cells (≤ 12 KiB, ~0.8 % standard error, against ``uniq``'s ~1.6 % above
65 536) whose merge is a register-wise max: the same 90-day merge measured 14 ms instead of 45
ms. HyperLogLog merges are lossless, so the merged figure still equals ``uniqCombined(14)`` over
the raw rows, which is what the raw path now computes (analytics/queries.py).

How: the rollups are derived data, so each one is rebuilt from ``clicks``: its view and table
are dropped, created again with the new state type and filled from the raw rows, then the view
starts again (run with the workers stopped, like 0004 and 0005: docs/analytics.md "Upgrading").
Dropped and created, not ALTERed: a state of one function cannot be converted into another's,
and CREATE/DROP is what Replicated tables on a cluster take without a mutation. The tables lose
their retention TTL on the way; every linkhop process puts it back at start-up
(``retention.apply_retention`` checks the tables, not only its log; on a cluster the generated
script with ``--retention`` does). ``clicks_hourly`` is now complete for clicks older than its
view as well. Rollup buckets whose raw rows the retention TTL already removed cannot be rebuilt:
at most one bucket per org at the retention edge, about to expire itself.
"""

_ORG_DIMENSION_PAIRS = """[
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

# (rollup table, its view, the table's columns and key, the SELECT that feeds it); __STATE__ and
# __TYPE__ stand for the visitors state function and its column type.
_ROLLUPS: list[tuple[str, str, str, str]] = [
    (
        "clicks_hourly",
        "clicks_hourly_mv",
        """
(
    org_id String,
    link_id String,
    hour DateTime('UTC'),                                -- start of the UTC hour
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors __TYPE__                                    -- visitors state; merge to read
)
-- Rows with the same key fold at merge time (sum, state union); readers still GROUP BY.
ENGINE = AggregatingMergeTree
-- Monthly partitions like clicks (retention and backups work month by month on every table).
PARTITION BY toYYYYMM(hour)
-- One org, then links, then time; bot last so "humans only" filters the key's tail.
ORDER BY (org_id, link_id, hour, bot)
-- A retried insert must be dropped here too (its view block carries the insert's token).
SETTINGS non_replicated_deduplication_window = 10000
""",
        """
SELECT
    org_id,
    link_id,
    toDateTime(toStartOfHour(ts), 'UTC') AS hour,
    bot,
    toUInt64(count()) AS clicks,
    __STATE__(visitor_id) AS visitors
FROM $db.clicks
GROUP BY org_id, link_id, hour, bot
""",
    ),
    (
        "clicks_daily",
        "clicks_daily_mv",
        """
(
    org_id String,
    link_id String,
    day DateTime('UTC'),                                 -- UTC midnight starting the day
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors __TYPE__                                    -- visitors state; merge to read
)
-- Rows with the same key fold at merge time (sum, state union); readers still GROUP BY.
ENGINE = AggregatingMergeTree
-- Monthly partitions like clicks.
PARTITION BY toYYYYMM(day)
-- Tenancy first, then the link, then time: a per-link range and an org's top links are each
-- one contiguous slice. bot last.
ORDER BY (org_id, link_id, day, bot)
-- A retried insert must be dropped here as well as in clicks.
SETTINGS non_replicated_deduplication_window = 10000
""",
        """
SELECT
    org_id,
    link_id,
    toStartOfDay(ts) AS day,
    bot,
    toUInt64(count()) AS clicks,
    __STATE__(visitor_id) AS visitors
FROM $db.clicks
GROUP BY org_id, link_id, day, bot
""",
    ),
    (
        "clicks_org_dims_daily",
        "clicks_org_dims_daily_mv",
        """
(
    org_id String,
    dim LowCardinality(String),                          -- dimension name, e.g. 'country'
    value String,                                        -- its value as stored in clicks
    day DateTime('UTC'),                                 -- UTC midnight starting the day
    bot UInt8,
    clicks SimpleAggregateFunction(sum, UInt64),
    visitors __TYPE__                                    -- visitors state; merge to read
)
-- Rows with the same key fold at merge time; readers GROUP BY with sum / merge.
ENGINE = AggregatingMergeTree
-- Monthly partitions like clicks.
PARTITION BY toYYYYMM(day)
-- One org, one dimension, then the days of the range: one contiguous slice per query.
ORDER BY (org_id, dim, day, value, bot)
-- A retried insert must be dropped here too.
SETTINGS non_replicated_deduplication_window = 10000
""",
        """
SELECT
    org_id,
    pair.1 AS dim,
    pair.2 AS value,
    toStartOfDay(ts) AS day,
    bot,
    toUInt64(count()) AS clicks,
    __STATE__(visitor_id) AS visitors
FROM $db.clicks
ARRAY JOIN __PAIRS__ AS pair
GROUP BY org_id, dim, value, day, bot
""".replace("__PAIRS__", _ORG_DIMENSION_PAIRS),
    ),
]


def _rebuild(column_type: str, state: str) -> list[str]:
    statements: list[str] = []
    for table, view, columns, select in _ROLLUPS:
        feed = select.replace("__STATE__", state)
        statements += [
            f"DROP VIEW IF EXISTS $db.{view}",
            f"DROP TABLE IF EXISTS $db.{table}",
            f"CREATE TABLE IF NOT EXISTS $db.{table}" + columns.replace("__TYPE__", column_type),
            f"INSERT INTO $db.{table}{feed}",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS $db.{view} TO $db.{table} AS{feed}",
        ]
    return statements


UP: list[str] = _rebuild("AggregateFunction(uniqCombined(14), UInt64)", "uniqCombinedState(14)")

DOWN: list[str] = _rebuild("AggregateFunction(uniq, UInt64)", "uniqState")
