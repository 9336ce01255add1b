"""API benchmark: link creation rate and list-page latency on 100 k links, SQLite and PostgreSQL.

A real ``linkhop api`` process (pinned to core 0) with ``links`` links already in its database.
List pages are timed one request at a time from this process (on core 1): latency is what a
dashboard user feels. Creation is wrk on core 1 posting ``POST /api/v1/links`` from several
connections at once, each a different destination with a random key, as API clients do. Bulk
creation is wrk posting ``POST /api/v1/links/bulk`` with ``bulk_size`` links per request; its
rate counts the rows that actually appeared in the database, not requests times batch size.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench import pg, procs, profile, seed, wrk
from bench.console import say
from bench.results import Report, Row
from bench.stats import percentile
from linkhop.apps.bootstrap import build_runtime
from linkhop.db.engine import unit_of_work
from linkhop.links.models import Link
from linkhop.settings import Settings

TARGET_CREATE = "≥ 1 k links/s"
TARGET_BULK = "≥ 10 k links/s"
LIST = "/api/v1/links"
BULK = "/api/v1/links/bulk"


@dataclass(frozen=True)
class Params:
    """Dataset size and durations."""

    links: int = 100_000
    create_seconds: float = 10.0
    connections: int = 16
    list_runs: int = 30
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    bulk_size: int = 1000
    bulk_connections: int = 2

    @classmethod
    def quick(cls) -> Params:
        """Shorter create runs, 20 list samples."""
        return cls(create_seconds=5.0, list_runs=20)

    @classmethod
    def smoke(cls) -> Params:
        """Seconds, tiny data, SQLite only."""
        return cls(
            links=200,
            create_seconds=1.0,
            connections=2,
            list_runs=2,
            backends=("sqlite",),
            bulk_size=50,
            bulk_connections=1,
        )


def _list_latency(
    client: httpx.Client, report: Report, backend: str, links: int, runs: int
) -> None:
    first = client.get(LIST, params={"limit": 50})
    first.raise_for_status()
    cursor = first.json().get("next_cursor")
    pages: list[tuple[str, dict[str, str | int]]] = [
        ("first page (50, newest first)", {"limit": 50}),
        ("next page (cursor)", {"limit": 50, "cursor": cursor or ""}),
        ("sorted by clicks", {"limit": 50, "sort": "-clicks"}),
        ("search (q=)", {"limit": 50, "q": f"page {links // 2}"}),
    ]
    for label, params in pages:
        for _ in range(2):  # warm-up
            client.get(LIST, params=params).raise_for_status()
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            client.get(LIST, params=params).raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        report.add(
            Row(
                name=f"list {label} · {backend}",
                note=f"GET {LIST} at {links:,} links, one request at a time",
                metrics={
                    "p50_ms": round(percentile(times, 50), 1),
                    "p95_ms": round(percentile(times, 95), 1),
                },
                detail={"runs_ms": [round(t, 2) for t in times]},
            )
        )


def _create_rate(
    server: procs.Child, report: Report, backend: str, params: Params, key: str, workdir: Path
) -> None:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    script = wrk.write_script(workdir / "create.lua", headers=headers)
    bodies = wrk.write_requests(
        workdir / "create.txt",
        [("POST", LIST, f'{{"url":"https://www.example.com/new/{n}"}}') for n in range(5000)],
    )
    before = server.cpu()
    with profile.spy(server.pid, f"api-create-{backend}"):
        result = wrk.run(
            server.base,
            script=script,
            requests_file=bodies,
            duration_s=params.create_seconds,
            connections=params.connections,
            cpus=procs.PINNED_CLIENT if procs.can_pin() else None,
            log=workdir / "wrk.log",
        )
    created = result.requests - result.status_errors
    rate = created / result.duration_s if result.duration_s else 0.0
    report.add(
        Row(
            name=f"create one link per request · {backend}",
            target=TARGET_CREATE,
            met=rate >= 1000,
            note=f"{params.connections} concurrent connections",
            metrics={
                "per_s": round(rate),
                "non_2xx": result.status_errors,
                "p50_ms": round(result.p50_ms, 1),
                "p99_ms": round(result.p99_ms, 1),
                "cpu_ms_req": round((server.cpu() - before) * 1000 / max(result.requests, 1), 2),
            },
        )
    )


async def _count_links(settings: Settings) -> int:
    runtime = build_runtime(settings)
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            return int((await session.execute(select(func.count()).select_from(Link))).scalar_one())
    finally:
        await runtime.engine.dispose()


def _bulk_rate(
    server: procs.Child,
    report: Report,
    backend: str,
    params: Params,
    account: seed.Account,
    settings: Settings,
    workdir: Path,
) -> None:
    headers = {"Authorization": f"Bearer {account.api_key}", "Content-Type": "application/json"}
    script = wrk.write_script(workdir / "bulk.lua", headers=headers)
    size = params.bulk_size

    def body(n: int) -> str:
        links = ",".join(f'{{"url":"https://www.example.com/bulk/{n}/{i}"}}' for i in range(size))
        return f'{{"links":[{links}]}}'

    bodies = wrk.write_requests(workdir / "bulk.txt", [("POST", BULK, body(n)) for n in range(20)])
    before_rows = asyncio.run(_count_links(settings))
    before = server.cpu()
    with profile.spy(server.pid, f"api-bulk-{backend}"):
        result = wrk.run(
            server.base,
            script=script,
            requests_file=bodies,
            duration_s=params.create_seconds,
            connections=params.bulk_connections,
            cpus=procs.PINNED_CLIENT if procs.can_pin() else None,
            log=workdir / "wrk.log",
        )
    cpu_s = server.cpu() - before
    # wrk stops mid-request at the deadline: requests it gave up on may still have committed,
    # so the rate counts rows, over wrk's duration.
    created = asyncio.run(_count_links(settings)) - before_rows
    rate = created / result.duration_s if result.duration_s else 0.0
    report.add(
        Row(
            name=f"bulk create ({size} links per request) · {backend}",
            target=TARGET_BULK,
            met=rate >= 10_000,
            note=(
                f"POST {BULK}, {params.bulk_connections} concurrent connections; "
                f"{created:,} links created; server CPU "
                f"{cpu_s * 1e6 / max(created, 1):,.0f} µs per link"
            ),
            metrics={
                "per_s": round(rate),
                "non_2xx": result.status_errors,
                "p50_ms": round(result.p50_ms, 1),
                "p99_ms": round(result.p99_ms, 1),
                "cpu_ms_req": round(cpu_s * 1000 / max(result.requests, 1), 2),
            },
        )
    )


def _backend(backend: str, params: Params, workdir: Path, report: Report) -> None:
    data_dir, logs = workdir / backend / "data", workdir / backend / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = procs.free_port()
    url = pg.create_database() if backend == "postgresql" else None
    try:
        settings = seed.bench_settings(data_dir, port=port, database_url=url)

        async def prepare() -> seed.Account:
            account = await seed.create_account(settings)
            await seed.bulk_links(settings, account=account, count=params.links)
            # A production table has been analysed (autovacuum, sqlite's optimize) long before
            # anyone lists it; 100 k rows inserted a second ago have not, and the planners then
            # guess (PostgreSQL skipped the trigram search index on such fresh statistics).
            await seed.analyze(settings)
            return account

        say(f"api: {backend}: seeding {params.links:,} links")
        account = asyncio.run(prepare())
        env = {"LINKHOP_DATABASE_URL": url} if url else {}
        server = procs.linkhop("api", data_dir=data_dir, port=port, log_dir=logs, env=env)
        server.start(cpus=procs.PINNED_SERVER if procs.can_pin() else None)
        before = os.sched_getaffinity(0)
        try:
            if procs.can_pin():
                procs.set_affinity(os.getpid(), procs.PINNED_CLIENT)
            headers = {"Authorization": f"Bearer {account.api_key}"}
            with httpx.Client(base_url=server.base, headers=headers, timeout=30) as client:
                _list_latency(client, report, backend, params.links, params.list_runs)
            if wrk.available():
                _create_rate(server, report, backend, params, account.api_key, workdir / backend)
                _bulk_rate(server, report, backend, params, account, settings, workdir / backend)
            else:
                report.skip(f"create · {backend}", "wrk is not installed", target=TARGET_CREATE)
                report.skip(f"bulk create · {backend}", "wrk is not installed", target=TARGET_BULK)
        finally:
            procs.set_affinity(os.getpid(), frozenset(before))
            server.stop()
    finally:
        if url:
            pg.drop_database()


def run(params: Params, workdir: Path, *, quick: bool = False) -> Report:
    """Measure every configured backend in turn."""
    report = Report(
        bench="api",
        quick=quick,
        params=dataclasses.asdict(params),
        columns=[
            ("per_s", "links/s"),
            ("p50_ms", "p50 ms"),
            ("p95_ms", "p95 ms"),
            ("p99_ms", "p99 ms"),
            ("cpu_ms_req", "server CPU ms/req"),
        ],
    )
    for backend in params.backends:
        if backend == "postgresql" and (reason := pg.unavailable_reason()):
            report.skip("PostgreSQL rows", reason)
            continue
        say(f"api: {backend}")
        _backend(backend, params, workdir, report)
    return report
