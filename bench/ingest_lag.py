"""The lag part of the ingest benchmark: the worker loop keeping up with live redirects."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench import procs, redirect_servers, seed, wrk
from bench.console import say
from bench.events import BROWSER_UA
from bench.ingest_sinks import LagSink
from bench.results import Report, Row
from bench.stats import percentile
from linkhop.apps.analytics_store import open_analytics
from linkhop.apps.bootstrap import build_runtime, prepare_database
from linkhop.apps.worker import SqlCounterSink, _consumer
from linkhop.ingest.sink import ClickHouseClickSink
from linkhop.ingest.tasks import run_worker
from linkhop.queue.base import ClickConsumer
from linkhop.settings import Settings

if TYPE_CHECKING:
    from bench.ingest import Params

TARGET_LAG = "lag p95 ≤ 5 s"
PAUSE_MS = 10  # each wrk connection waits this long between requests: rate ≈ conns × 100/s
NAME = "lag under redirect load ({queue}, worker loop on the client core)"
# The lag server's Redis cache records expire soon (nothing else deletes them).
_REDIS_CACHE_TTL_S = "600"


async def _sample_depth(consumer: ClickConsumer, depths: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        depths.append(await consumer.lag())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _wait_empty(consumer: ClickConsumer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    # Polling is the point: the queue depth is only observable by asking for it.
    while time.monotonic() < deadline and await consumer.lag() > 0:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def run_lag(
    settings: Settings,
    report: Report,
    *,
    params: Params,
    links: list[seed.SeededLink],
    workdir: Path,
    domain: str,
    server_env: dict[str, str] | None = None,
) -> None:
    """Serve redirects at ``params.lag_rate`` for ``params.lag_seconds`` while ingesting.

    The queue is the one ``settings`` selects (the spool, or with ``redis_url`` the Redis
    stream, consumed by the worker's own consumer); ``server_env`` must point the redirect
    server at the same one (``LINKHOP_REDIS_URL``, ``LINKHOP_CLICK_STREAM``, …).
    """
    redis = settings.redis_url is not None
    name = NAME.format(queue="Redis Streams" if redis else "spool")
    if not wrk.available():
        report.skip(name, "wrk is not installed (run bench/setup.sh)", target=TARGET_LAG)
        return
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {
        "LINKHOP_DEFAULT_DOMAIN": domain,
        "LINKHOP_CACHE_TTL_SECONDS": "3600",
        **({"LINKHOP_REDIS_CACHE_TTL_SECONDS": _REDIS_CACHE_TTL_S} if redis else {}),
        **(server_env or {}),
    }
    server = procs.linkhop(
        "redirect", data_dir=settings.data_dir, port=procs.free_port(), log_dir=logs, env=env
    )
    pinned = procs.can_pin()
    server.start(cpus=procs.PINNED_SERVER if pinned else None)
    before = os.sched_getaffinity(0)
    if pinned:
        procs.set_affinity(os.getpid(), procs.PINNED_CLIENT)
    runtime = build_runtime(settings)
    await prepare_database(runtime, apply_migrations=True)
    store = await open_analytics(settings)
    consumer = await _consumer(settings)  # the worker's own: spool, or Redis consumer group
    sink = LagSink(ClickHouseClickSink(store.ch, database=store.database))
    stop, sampling = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(
        run_worker(
            stop=stop,
            interval=settings.ingest_interval_seconds,
            consumer=consumer,
            sink=sink,
            counters=SqlCounterSink(runtime),
            geo=None,
            store_ip=settings.store_ip,
            max_items=settings.ingest_batch_size,
            drain_seconds=30.0,
        )
    )
    depths: list[int] = []
    try:
        requests = wrk.write_requests(
            workdir / "lag.txt", [("GET", f"/{x.key}", "") for x in links]
        )
        warm = wrk.write_script(
            workdir / "lag-warm.lua",
            headers={"Host": domain, "User-Agent": BROWSER_UA},
            sequential=True,
        )
        await asyncio.to_thread(
            redirect_servers.warm,
            server,
            script=warm,
            requests_file=requests,
            count=len(links),
            log=logs / "wrk.log",
            step_s=1.0 if params.lag_seconds < 2 else 2.0,
        )
        await _wait_empty(consumer, 60)
        sink.lags.clear()
        connections = max(1, round(params.lag_rate * PAUSE_MS / 1000))
        script = wrk.write_script(
            workdir / "lag.lua",
            headers={"Host": domain, "User-Agent": BROWSER_UA},
            pause_ms=PAUSE_MS,
        )
        say(f"ingest: lag run, {connections} paced connections (~{params.lag_rate} req/s)")
        sampler = asyncio.create_task(_sample_depth(consumer, depths, sampling))
        result = await asyncio.to_thread(
            wrk.run,
            server.base,
            script=script,
            requests_file=requests,
            duration_s=params.lag_seconds,
            connections=connections,
            cpus=procs.PINNED_CLIENT if pinned else None,
            log=logs / "wrk.log",
        )
        await _wait_empty(consumer, 60)
        sampling.set()
        await sampler
    finally:
        stop.set()
        sampling.set()
        await worker
        await consumer.close()
        store.close()
        await runtime.engine.dispose()
        server.stop()
        procs.set_affinity(os.getpid(), frozenset(before))
    p95 = percentile(sink.lags, 95)
    report.add(
        Row(
            name=name,
            target=TARGET_LAG,
            met=p95 <= 5.0 if sink.lags else None,
            note=(
                f"{len(sink.lags)} clicks ingested; redirect p99 {result.p99_ms:.1f} ms; "
                f"worker polls every {settings.ingest_interval_seconds:g} s"
                + (
                    "; queue depth in stream entries (each packs the clicks of ≈ 5 ms)"
                    if redis
                    else ""
                )
            ),
            metrics={
                "offered_rps": round(result.rps),
                "lag_p50_s": round(percentile(sink.lags, 50), 2),
                "lag_p95_s": round(p95, 2),
                "lag_max_s": round(max(sink.lags, default=0.0), 2),
                "queue_p95": int(percentile([float(d) for d in depths], 95)),
                "queue_max": max(depths, default=0),
            },
        )
    )
