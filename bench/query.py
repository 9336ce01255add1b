"""Analytics query benchmark: the dashboard's queries through ``analytics.service.run_query``.

Clicks are generated in bulk inside chDB (``query_data``), then each dashboard query runs
``runs`` times after two warm-up runs, for the busiest link of the biggest org and for that
whole org, over the last 90 days: p50 and p95 of the wall time of ``run_query``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.console import say
from bench.query_data import BIG_ORG, DATABASE, HOT_LINK, Dataset, generate, settle
from bench.query_diag import diagnose
from bench.results import Report, Row
from bench.stats import percentile
from linkhop.analytics.schemas import AnalyticsQuery, GroupBy
from linkhop.analytics.service import run_query
from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse, chdb_dsn

TARGET_MS = 100.0
LINK_QUERIES: tuple[GroupBy, ...] = ("count", "timeseries", "countries", "referrers", "devices")
ORG_QUERIES: tuple[GroupBy, ...] = (*LINK_QUERIES, "top_links")
_KEPT = "bench-dataset.json"  # in a kept store: what was generated, for reuse


@dataclass(frozen=True)
class Params:
    """Dataset size and repetitions."""

    rows: int = 10_000_000
    runs: int = 30
    orgs: int = 100
    links_per_org: int = 1_000

    @classmethod
    def quick(cls) -> Params:
        """Same 10 M rows, the minimum of 20 runs per query."""
        return cls(runs=20)

    @classmethod
    def big(cls, *, quick: bool) -> Params:
        """100 M rows (the target's size): several minutes to generate."""
        return cls(rows=100_000_000, runs=20 if quick else 30)

    @classmethod
    def smoke(cls) -> Params:
        """Seconds, tiny data."""
        return cls(rows=20_000, runs=2, orgs=3, links_per_org=10)


async def _time_query(
    ch: ClickHouse, query: AnalyticsQuery, now: datetime, runs: int
) -> list[float]:
    for _ in range(2):  # warm-up: first reads load marks and primary index into memory
        await run_query(ch=ch, database=DATABASE, query=query, now=now)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await run_query(ch=ch, database=DATABASE, query=query, now=now)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _sizes(params: Params) -> dict[str, int]:
    """What makes two generated stores the same data (not the number of timed runs)."""
    return {"rows": params.rows, "orgs": params.orgs, "links_per_org": params.links_per_org}


def _load_kept(store: Path, params: Params) -> Dataset | None:
    """The dataset a previous run kept in ``store`` if it was generated with these sizes."""
    try:
        kept = json.loads((store / _KEPT).read_text())
    except (OSError, ValueError):
        return None
    if kept.get("params") != _sizes(params):
        return None
    return Dataset(rows=kept["rows"], end_ms=kept["end_ms"], parts=kept["parts"])


def _keep(store: Path, params: Params, dataset: Dataset) -> None:
    record = {"params": _sizes(params), **dataclasses.asdict(dataset)}
    (store / _KEPT).write_text(json.dumps(record))


def run(
    params: Params,
    workdir: Path,
    *,
    quick: bool = False,
    diagnostics: bool = True,
    keep: bool = False,
) -> Report:
    """Generate the clicks, then time every dashboard query for one link and one org.

    With ``keep`` (``--workdir``) the generated store stays in ``workdir`` and a later run with
    the same sizes reuses it instead of generating again (100 M clicks take about an hour);
    its queries then run at the time the data ends, as in the run that generated it.
    """
    report = Report(
        bench="query",
        quick=quick,
        params=dataclasses.asdict(params),
        columns=[("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("matched", "clicks in range")],
    )
    size = f"{params.rows / 1e6:g} M"
    target = f"p50 ≤ 100 ms (target at 100 M clicks; this run: {size})"
    store = workdir / "clickhouse"
    kept = _load_kept(store, params) if keep else None
    if keep and kept is None:
        shutil.rmtree(store, ignore_errors=True)  # another size's data, or none: start afresh
    ch = ClickHouse.connect(chdb_dsn(store))
    try:
        if kept is not None:
            dataset = kept
            # Applies any migration added since the data was generated (no-op otherwise).
            runner.migrate(ch, DATABASE)
            report.notes.append(
                f"{dataset.rows:,} clicks reused from an earlier run's store ({store}), "
                f"{dataset.parts} active parts when generated"
            )
        else:
            end_ms = int(datetime.now(UTC).timestamp() * 1000)
            started = time.perf_counter()
            dataset = generate(
                ch,
                rows=params.rows,
                end_ms=end_ms,
                orgs=params.orgs,
                links_per_org=params.links_per_org,
            )
            took = time.perf_counter() - started
            merged, settled_in = settle(ch)
            report.notes.append(
                f"{dataset.rows:,} clicks generated in time order in {took:.0f} s "
                f"({dataset.rows / took:,.0f} rows/s, materialized views included), "
                f"{dataset.parts} active parts in clicks; then the {merged} closed month "
                f"partitions of clicks and the rollups merged in {settled_in:.0f} s, as background "
                "merges leave a live store's older months (query_data.py); the current month "
                "as inserted"
            )
            if keep:
                _keep(store, params, dataset)
        report.notes.append(
            "queries read the rollups where they can and the raw table without FINAL "
            "(analytics/queries.py)"
        )
        now = datetime.fromtimestamp(dataset.end_ms / 1000, UTC)

        async def go() -> None:
            for scope, link_id, kinds in (
                ("link", HOT_LINK, LINK_QUERIES),
                ("org", None, ORG_QUERIES),
            ):
                matched_query = AnalyticsQuery(org_id=BIG_ORG, link_id=link_id, interval="90d")
                matched = await run_query(ch=ch, database=DATABASE, query=matched_query, now=now)
                assert isinstance(matched, dict)
                clicks = matched["clicks"]
                assert isinstance(clicks, int)
                for group_by in kinds:
                    query = AnalyticsQuery(
                        group_by=group_by, org_id=BIG_ORG, link_id=link_id, interval="90d", limit=10
                    )
                    times = await _time_query(ch, query, now, params.runs)
                    p50 = percentile(times, 50)
                    row = report.add(
                        Row(
                            name=f"{group_by} · per {scope}",
                            target=target,
                            met=p50 <= TARGET_MS,
                            metrics={
                                "p50_ms": round(p50, 1),
                                "p95_ms": round(percentile(times, 95), 1),
                                "matched": clicks,
                            },
                            detail={"runs_ms": [round(t, 2) for t in times]},
                        )
                    )
                    say(f"query: {row.name:24} p50 {p50:7.1f} ms  p95 {row.metrics['p95_ms']} ms")
            if diagnostics:
                await diagnose(ch, report, now=now, runs=params.runs, merge=not keep)

        asyncio.run(go())
    finally:
        ch.close()
        if not keep:
            shutil.rmtree(store, ignore_errors=True)
    return report
