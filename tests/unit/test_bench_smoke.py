"""The benchmark harness still runs: each benchmark for about a second on tiny data.

The four run at once as ``python -m bench <name> --smoke`` subprocesses (the real entry point;
chDB allows one store per process, so they cannot share this test process), and each test reads
back its result file. No timings are asserted, only that every part ran and produced sane rows.
wrk and nginx come from ``bench/setup.sh``, the Redis rows need the Redis of
``LINKHOP_BENCH_REDIS_URL`` (database 14 on 127.0.0.1:6379 by default); without them their parts
are skipped locally and are an error under ``LINKHOP_TEST_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench import nginx, redis_bench, results, wrk
from bench.report import render
from bench.results import Report, Row

from tests.conftest import unavailable

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
BENCHES = ("redirect", "ingest", "query", "api")


@dataclass
class SmokeRun:
    """One ``python -m bench <name> --smoke`` run: exit code, output, the report it saved."""

    returncode: int
    output: str
    report: Report | None


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SmokeRun]:
    """Run the four smoke benchmarks concurrently and collect what each left behind."""
    root = tmp_path_factory.mktemp("bench")
    started: dict[str, tuple[subprocess.Popen[str], Path]] = {}
    for name in BENCHES:
        out = root / name
        out.mkdir()
        argv = [sys.executable, "-m", "bench", name, "--smoke", "--results-dir", str(out)]
        argv += ["--workdir", str(out / "work")]
        started[name] = (
            subprocess.Popen(
                argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ),
            out,
        )
    done: dict[str, SmokeRun] = {}
    for name, (proc, out) in started.items():
        output, _ = proc.communicate(timeout=240)
        files = sorted(out.glob("*.json"))
        done[name] = SmokeRun(proc.returncode, output, results.load(files[-1]) if files else None)
    return done


def _report(runs: dict[str, SmokeRun], name: str) -> Report:
    run = runs[name]
    assert run.returncode == 0, run.output[-3000:]
    assert run.report is not None, run.output[-3000:]
    assert run.report.bench == name
    assert render(run.report).count("\n|") >= len(run.report.rows)
    return run.report


def _measured(report: Report, name: str) -> Row:
    row = next((r for r in report.rows if r.name == name), None)
    assert row is not None, [r.name for r in report.rows]
    assert not row.skipped, row.skipped
    return row


def test_redirect_smoke(runs: dict[str, SmokeRun]) -> None:
    if not wrk.available():
        unavailable("wrk is not installed (bench/setup.sh)")
    if not nginx.available():
        unavailable("nginx is not installed (bench/setup.sh)")
    report = _report(runs, "redirect")
    hit = _measured(report, "hit · pinned")
    assert hit.metrics["rps"]
    assert hit.metrics["x_nginx"] is not None
    assert hit.metrics["socket_errors"] == 0
    # Every redirect spooled exactly one click (a few may still be in flight when wrk stops).
    clicks = hit.metrics["clicks_per_req"]
    assert isinstance(clicks, float)
    assert 0.9 <= clicks <= 1.2
    password = _measured(report, "password · pinned")
    assert password.metrics["clicks_per_req"] == 0
    assert any(r.skipped.startswith("not available yet") for r in report.rows)
    granian = _measured(report, "hit-granian · pinned")
    assert granian.metrics["socket_errors"] == 0
    assert isinstance(granian.metrics["clicks_per_req"], float)
    assert 0.9 <= granian.metrics["clicks_per_req"] <= 1.2
    if down := redis_bench.unavailable():
        unavailable(down)
    streamed = _measured(report, "hit-redis · pinned").metrics["streamed_per_req"]
    # The clicks reached the Redis stream (those published in the last 5 ms may be in flight).
    assert isinstance(streamed, float)
    assert 0.9 <= streamed <= 1.2
    miss = _measured(report, "miss-redis · pinned")
    # Every request missed the one-entry LRU and Redis answered (the database hardly ever).
    assert isinstance(miss.metrics["cache_hit_ratio"], float)
    assert miss.metrics["cache_hit_ratio"] < 0.5
    assert isinstance(miss.metrics["redis_share"], float)
    assert miss.metrics["redis_share"] >= 0.9


def test_ingest_smoke(runs: dict[str, SmokeRun]) -> None:
    report = _report(runs, "ingest")
    drain = _measured(report, "spool → enrich → chDB + counters (end to end)")
    assert drain.metrics["events"] == drain.metrics["stored"] == 300
    if not wrk.available():
        unavailable("wrk is not installed (bench/setup.sh): no lag run")
    lag = next(r for r in report.rows if r.name.startswith("lag under redirect load (spool"))
    assert not lag.skipped
    assert lag.metrics["lag_p95_s"] is not None
    if down := redis_bench.unavailable():
        unavailable(down)
    stream = _measured(report, "Redis Streams → enrich → chDB + counters (end to end)")
    assert stream.metrics["events"] == stream.metrics["stored"] == 300
    redis_lag = _measured(
        report, "lag under redirect load (Redis Streams, worker loop on the client core)"
    )
    assert isinstance(redis_lag.metrics["lag_p95_s"], float)


def test_query_smoke(runs: dict[str, SmokeRun]) -> None:
    report = _report(runs, "query")
    org = _measured(report, "count · per org")
    link = _measured(report, "count · per link")
    assert isinstance(org.metrics["matched"], int)
    assert isinstance(link.metrics["matched"], int)
    assert 0 < link.metrics["matched"] < org.metrics["matched"]
    assert _measured(report, "top_links · per org").metrics["p95_ms"] is not None
    assert any(r.name.startswith("diag:") for r in report.rows)


def test_query_reuses_the_clicks_it_kept(
    runs: dict[str, SmokeRun], tmp_path_factory: pytest.TempPathFactory
) -> None:
    # --workdir keeps the generated store; the next run with the same sizes reuses it (100 M
    # clicks take an hour to generate) and still times every query on it.
    first = _report(runs, "query")
    assert any("generated" in note for note in first.notes), first.notes
    out = tmp_path_factory.mktemp("bench-again")
    work = next(p for p in tmp_path_factory.getbasetemp().glob("bench*/query/work"))
    argv = [sys.executable, "-m", "bench", "query", "--smoke", "--results-dir", str(out)]
    done = subprocess.run(
        [*argv, "--workdir", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    again = results.load(sorted(out.glob("*.json"))[-1])
    assert any("reused" in note for note in again.notes), again.notes
    assert [r.name for r in again.rows] == [r.name for r in first.rows]
    assert (
        _measured(again, "count · per org").metrics["matched"]
        == (_measured(first, "count · per org").metrics["matched"])
    )


def test_api_smoke(runs: dict[str, SmokeRun]) -> None:
    report = _report(runs, "api")
    assert _measured(report, "list first page (50, newest first) · sqlite").metrics["p50_ms"]
    if not wrk.available():
        unavailable("wrk is not installed (bench/setup.sh): no create run")
    create = _measured(report, "create one link per request · sqlite")
    assert create.metrics["non_2xx"] == 0
    assert create.metrics["per_s"]
