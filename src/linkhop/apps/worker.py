"""The click worker composition: spool → enrich → ClickHouse + per-link counters.

Start-up waits for its backends in the background (``bootstrap.Backend``): the ops port answers
at once, ``/readyz`` names what is not reached yet, and ingestion starts when all are.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import structlog

from linkhop.apps.analytics_store import AnalyticsStore
from linkhop.apps.bootstrap import (
    Backend,
    ConfigurationError,
    all_ready,
    analytics_backend,
    build_runtime,
    database_backend,
)
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
    # No ensure_group() here: read_batch creates the group when it first runs, and a Redis that
    # fails meanwhile is retried by the ingestion loop instead of ending the worker.
    return RedisStreamConsumer(
        stream_client(settings.redis_url),
        stream=settings.click_stream,
        group=settings.click_stream_group,
        consumer_name=name,
        dlq_stream=settings.click_stream_dlq,
        claim_idle=settings.click_stream_claim_idle_seconds,
        max_deliveries=settings.click_stream_max_deliveries,
    )


def stream_group_backend(settings: Settings) -> Backend[None]:
    """Redis for a worker: the click stream's consumer group exists (XGROUP CREATE MKSTREAM)."""
    from linkhop.queue.redis_group import ensure_group  # noqa: PLC0415 — Redis only
    from linkhop.queue.redis_streams import stream_client  # noqa: PLC0415

    assert settings.redis_url is not None
    client = stream_client(settings.redis_url)

    async def connect() -> None:
        await ensure_group(client, stream=settings.click_stream, group=settings.click_stream_group)

    async def ping() -> None:
        await client.ping()

    return Backend("redis", settings.redis_url, connect=connect, probe=ping, critical=True)


def worker_backends(runtime: Runtime) -> list[Backend[Any]]:
    """What a standalone worker needs: the database, ClickHouse and (if set) Redis."""
    settings = runtime.settings
    backends: list[Backend[Any]] = [
        database_backend(runtime, critical=True),
        analytics_backend(runtime, critical=True),
    ]
    if settings.redis_url:
        backends.append(stream_group_backend(settings))
    return backends


async def ingest_when_ready(
    *, runtime: Runtime, backends: Sequence[Backend[Any]], stop: asyncio.Event
) -> None:
    """Wait until every backend was reached, then ingest until ``stop``."""
    if not await all_ready(backends, stop):
        return
    store: AnalyticsStore | None = next(b.value for b in backends if b.name == "clickhouse")
    assert store is not None  # reached, so opened
    await run_ingestion(runtime=runtime, store=store, stop=stop)


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


async def _serve_ops(settings: Settings, app: Any, stop: asyncio.Event) -> None:
    """/healthz, /readyz and /metrics of a standalone worker (for probes and Prometheus)."""
    if not settings.worker_port:
        return
    import uvicorn  # noqa: PLC0415 — only the standalone worker serves HTTP

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
        try:
            runtime = build_runtime(settings)
        except ConfigurationError as exc:  # retrying cannot help: one line, no traceback
            log.error("configuration_error", error=exc.detail)
            sys.exit(2)
        from linkhop.apps.ops import OpsApp  # noqa: PLC0415

        backends = worker_backends(runtime)
        bus = _invalidation_bus(settings, runtime)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ops = asyncio.create_task(
            _serve_ops(settings, OpsApp({b.name: b.check for b in backends}), stop)
        )
        reaching = [
            asyncio.create_task(b.reach(stop=stop, max_delay=settings.backend_retry_max_seconds))
            for b in backends
        ]
        log.info(
            "worker_started",
            spool=str(settings.resolved_spool_dir),
            ops_port=settings.worker_port or None,
        )
        try:
            await ingest_when_ready(runtime=runtime, backends=backends, stop=stop)
        finally:
            stop.set()
            for task in reaching:
                task.cancel()
            await asyncio.gather(*reaching, return_exceptions=True)
            await ops
            if bus is not None:
                await bus.aclose(grace=2.0)
            store: AnalyticsStore | None = next(
                (b.value for b in backends if b.name == "clickhouse"), None
            )
            if store is not None:
                store.close()
            await runtime.engine.dispose()
            log.info("worker_stopped")

    asyncio.run(main())
