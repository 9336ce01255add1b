"""The click worker composition: spool → enrich → ClickHouse + per-link counters."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Iterator, Mapping

import structlog

from linkhop.apps.analytics_store import AnalyticsStore, open_analytics
from linkhop.apps.bootstrap import build_runtime, prepare_database
from linkhop.cache.invalidation import InvalidationBus
from linkhop.db.engine import unit_of_work
from linkhop.ingest.geo import GeoReader
from linkhop.ingest.service import LinkCount
from linkhop.ingest.sink import ClickHouseClickSink
from linkhop.ingest.tasks import run_worker
from linkhop.links import service as links_service
from linkhop.logging import configure_logging
from linkhop.metrics import QUEUE_LAG
from linkhop.queue.base import ClickConsumer
from linkhop.queue.local import SpoolConsumer
from linkhop.runtime import Runtime
from linkhop.settings import Settings

log = structlog.get_logger("linkhop.worker")


class SqlCounterSink:
    """Adds click counts to ``links.clicks`` once per batch token, in its own transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def apply(self, *, token: str, counts: Mapping[str, LinkCount]) -> None:
        """Apply unless the token was seen (the token row commits with the counters)."""
        async with unit_of_work(self.runtime.sessionmaker) as session:
            stale = await links_service.apply_click_counts(
                session, token=token, counts={k: (v.clicks, v.last_ts) for k, v in counts.items()}
            )
        if stale:  # links with a click limit: caches must see the new count
            self.runtime.invalidate(stale)


async def _consumer(settings: Settings) -> ClickConsumer:
    """The Redis Streams consumer group with ``redis_url``, else the local spool."""
    if not settings.redis_url:
        return SpoolConsumer(settings.resolved_spool_dir)
    from linkhop.queue.redis_streams import (  # noqa: PLC0415 — Redis only
        RedisStreamConsumer,
        stream_client,
    )

    name = settings.click_stream_consumer_name or f"{socket.gethostname()}-{os.getpid()}"
    consumer = RedisStreamConsumer(
        stream_client(settings.redis_url),
        stream=settings.click_stream,
        group=settings.click_stream_group,
        consumer_name=name,
        dlq_stream=settings.click_stream_dlq,
        claim_idle=settings.click_stream_claim_idle_seconds,
        max_deliveries=settings.click_stream_max_deliveries,
    )
    await consumer.ensure_group()
    return consumer


async def _trim_stream(consumer: ClickConsumer, stop: asyncio.Event) -> None:
    """Trim the stream below the group's lowest pending entry once a minute (never past it)."""
    trim = getattr(consumer, "trim", None)
    while trim is not None and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 60.0)
        with contextlib.suppress(Exception):
            await trim()


async def report_lag(consumer: ClickConsumer, stop: asyncio.Event) -> None:
    """Keep the queue-lag gauge current."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            QUEUE_LAG.set(await consumer.lag())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)


async def run_ingestion(*, runtime: Runtime, store: AnalyticsStore, stop: asyncio.Event) -> None:
    """Run the ingestion loop until ``stop``, then drain within the shutdown grace."""
    settings = runtime.settings
    consumer = await _consumer(settings)
    geo = GeoReader(settings.geoip_db) if settings.geoip_db else None
    lag_task = asyncio.create_task(report_lag(consumer, stop))
    trim_task = asyncio.create_task(_trim_stream(consumer, stop))
    try:
        await run_worker(
            stop=stop,
            interval=settings.ingest_interval_seconds,
            consumer=consumer,
            sink=ClickHouseClickSink(store.ch, database=store.database),
            counters=SqlCounterSink(runtime),
            geo=geo,
            store_ip=settings.store_ip,
            max_items=settings.ingest_batch_size,
            drain_seconds=settings.shutdown_grace_seconds,
        )
    finally:
        await lag_task
        await trim_task
        await consumer.close()
        if geo is not None:
            geo.close()


async def _serve_ops(
    settings: Settings, runtime: Runtime, store: AnalyticsStore, stop: asyncio.Event
) -> None:
    """/healthz, /readyz and /metrics of a standalone worker (for probes and Prometheus)."""
    if not settings.worker_port:
        return
    import uvicorn  # noqa: PLC0415 — only the standalone worker serves HTTP

    from linkhop.apps.bootstrap import check_database  # noqa: PLC0415
    from linkhop.apps.ops import OpsApp  # noqa: PLC0415

    async def clickhouse() -> None:
        if not await store.ch.aping():
            raise OSError("ClickHouse did not answer a ping")

    app = OpsApp({"database": lambda: check_database(runtime), "clickhouse": clickhouse})

    class _OpsServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the worker's loop owns SIGTERM/SIGINT and stops this server itself

    server = _OpsServer(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.worker_port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving


def _invalidation_bus(settings: Settings, runtime: Runtime) -> InvalidationBus | None:
    """With Redis, counter changes of click-limited links reach every redirect replica."""
    if not settings.redis_url:
        return None
    from linkhop.cache.redis_keys import cache_client  # noqa: PLC0415 — Redis only

    bus = InvalidationBus(
        cache_client(settings.redis_url, timeout=settings.redis_cache_timeout_seconds)
    )
    runtime.invalidation_hooks.append(
        lambda entries: bus.publish_nowait((e.domain, e.key_lookup) for e in entries)
    )
    return bus


def run_worker_process(settings: Settings) -> None:
    """``linkhop worker``: ingest clicks until SIGTERM/SIGINT."""
    configure_logging(level=settings.log_level, fmt=settings.log_format)

    async def main() -> None:
        runtime = build_runtime(settings)
        await prepare_database(runtime, apply_migrations=settings.auto_migrate)
        store = await open_analytics(settings)
        bus = _invalidation_bus(settings, runtime)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ops = asyncio.create_task(_serve_ops(settings, runtime, store, stop))
        log.info(
            "worker_started",
            spool=str(settings.resolved_spool_dir),
            ops_port=settings.worker_port or None,
        )
        try:
            await run_ingestion(runtime=runtime, store=store, stop=stop)
        finally:
            stop.set()
            await ops
            if bus is not None:
                await bus.aclose(grace=2.0)
            store.close()
            await runtime.engine.dispose()
            log.info("worker_stopped")

    asyncio.run(main())
