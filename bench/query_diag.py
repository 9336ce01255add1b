"""Diagnostics for the per-org queries: where their time goes, measured on the same data.

Each row answers one question about the slowest shape (one big org over 90 days): what the raw
table alone costs (``run_query(rollups=False)``, no ``FINAL``), what the raw read cost with
``FINAL`` (the read path before the rollups), what the ``clicks_hourly`` rollup alone costs,
and what ``run_query`` costs once every table's parts are merged (after ``OPTIMIZE … FINAL``,
which is what background merges converge to).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from bench.query_data import BIG_ORG, DATABASE
from bench.results import Report, Row
from bench.stats import percentile
from linkhop.analytics.queries import count_sql
from linkhop.analytics.schemas import AnalyticsQuery
from linkhop.analytics.service import run_query
from linkhop.analytics.timeranges import resolve_range
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import TIMED_TABLES

_ROLLUP = """
SELECT sum(clicks) AS clicks, uniqCombinedMerge(14)(visitors) AS visitors
FROM `{db}`.clicks_hourly
WHERE org_id = {{org_id:String}}
  AND hour >= toStartOfHour(fromUnixTimestamp64Milli({{start_ms:Int64}}, 'UTC'))
  AND hour < fromUnixTimestamp64Milli({{end_ms:Int64}}, 'UTC')
  AND bot = 0
"""


async def _timed(call: Callable[[], Awaitable[object]], runs: int) -> list[float]:
    for _ in range(2):
        await call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(name: str, note: str, times: list[float]) -> Row:
    return Row(
        name=name,
        note=note,
        metrics={
            "p50_ms": round(percentile(times, 50), 1),
            "p95_ms": round(percentile(times, 95), 1),
        },
    )


async def diagnose(
    ch: ClickHouse, report: Report, *, now: datetime, runs: int, merge: bool = True
) -> None:
    """Add the diagnostic rows for ``count · per org`` (90 days).

    ``merge=False`` skips the last row, whose ``OPTIMIZE … FINAL`` would change a store that is
    kept for later runs.
    """
    query = AnalyticsQuery(group_by="count", org_id=BIG_ORG, interval="90d")
    time_range = resolve_range(query, now)
    times = await _timed(
        lambda: run_query(ch=ch, database=DATABASE, query=query, now=now, rollups=False), runs
    )
    report.add(_row("diag: count · per org, raw table only", "run_query(rollups=False)", times))
    sql, params = count_sql(query, database=DATABASE, time_range=time_range, rollups=False)
    final = sql.replace("`clicks`", "`clicks` FINAL")
    times = await _timed(lambda: ch.aquery(final, params), runs)
    report.add(_row("diag: count · per org, raw with FINAL", "the read before rollups", times))
    assert time_range.start is not None
    assert time_range.end is not None
    rollup_params = {
        "org_id": BIG_ORG,
        "start_ms": int(time_range.start.timestamp() * 1000),
        "end_ms": int(time_range.end.timestamp() * 1000),
    }
    rollup = _ROLLUP.format(db=DATABASE)
    times = await _timed(lambda: ch.aquery(rollup, rollup_params), runs)
    report.add(
        _row(
            "diag: count · per org, from clicks_hourly",
            "the hourly rollup (sum + uniqCombinedMerge), hour-aligned range",
            times,
        )
    )
    if not merge:
        report.notes.append("the parts-merged diagnostic is skipped: --workdir keeps the store")
        return
    started = time.perf_counter()
    for table in TIMED_TABLES:
        await ch.acommand(f"OPTIMIZE TABLE `{DATABASE}`.`{table}` FINAL")
    merged_in = time.perf_counter() - started
    times = await _timed(lambda: run_query(ch=ch, database=DATABASE, query=query, now=now), runs)
    report.add(
        _row(
            "diag: count · per org, parts merged",
            f"run_query after OPTIMIZE … FINAL of clicks and rollups (took {merged_in:.0f} s)",
            times,
        )
    )
