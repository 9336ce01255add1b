"""The three rollups rebuilt with index granules of 256 rows instead of 8 192.

Why: ClickHouse reads whole granules, and a rollup read deserializes the visitors state of every
row in each granule it touches, wanted or not. A rollup query wants few rows per part: one link's
90 days (~180 rows of ``clicks_daily``), or one org's days of one dimension (a few hundred rows of
``clicks_org_dims_daily``, sorted among every other org's and dimension's rows). With 8 192-row
granules each part read decoded thousands of foreign states to use a few hundred: on 10 M
synthetic clicks an org's referrers decoded 115 000 states to merge 1 309 (bench/README.md).
With 256-row granules the waste is at most two granules per part. The cost is a primary index
32x longer, which for a rollup is still small (one mark per 256 aggregated rows).

How: exactly as 0008, each rollup's view and table are dropped, the table is created again with
the new ``index_granularity`` and filled from ``clicks``, and the view starts again (run with the
workers stopped: docs/analytics.md "Upgrading"). ``index_granularity`` cannot be ALTERed, and
CREATE/DROP is what Replicated tables on a cluster take without a mutation. The retention TTL is
put back at start-up, as after 0008.
"""

from __future__ import annotations

import importlib

# 0008 holds the rollups' DDL as applied; this migration is that DDL with one more setting.
_previous = importlib.import_module("linkhop.clickhouse.migrations.0008_visitors_uniq_combined")
_STATE_TYPE = "AggregateFunction(uniqCombined(14), UInt64)"
_STATE = "uniqCombinedState(14)"
_SETTING = "SETTINGS non_replicated_deduplication_window = 10000"


def _rebuild(granularity: int) -> list[str]:
    statements: list[str] = []
    for table, view, columns, select in _previous._ROLLUPS:
        assert _SETTING in columns, table
        created = columns.replace("__TYPE__", _STATE_TYPE).replace(
            _SETTING, f"{_SETTING}, index_granularity = {granularity}"
        )
        feed = select.replace("__STATE__", _STATE)
        statements += [
            f"DROP VIEW IF EXISTS $db.{view}",
            f"DROP TABLE IF EXISTS $db.{table}",
            f"CREATE TABLE IF NOT EXISTS $db.{table}" + created,
            f"INSERT INTO $db.{table}{feed}",
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS $db.{view} TO $db.{table} AS{feed}",
        ]
    return statements


UP: list[str] = _rebuild(256)

DOWN: list[str] = _rebuild(8192)
