"""The log of retention policies applied to the click tables (``linkhop.clickhouse.retention``).

The TTLs themselves are not set here: they follow settings, which change without a migration, so
``retention.apply_retention`` sets them at start-up and appends one row here per change. Going
down leaves any TTL in place (older code simply does not manage it).
"""

UP: list[str] = [
    """
CREATE TABLE IF NOT EXISTS $db.retention_log
(
    seq UInt32,                                          -- order in which policies were applied
    fingerprint String,                                  -- RetentionPolicy.fingerprint()
    policy String,                                       -- RetentionPolicy.describe() (JSON)
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
-- Append-only, a handful of rows: a plain MergeTree ordered by step keeps the whole history.
ENGINE = MergeTree
ORDER BY seq
""",
]

DOWN: list[str] = [
    "DROP TABLE IF EXISTS $db.retention_log",
]
