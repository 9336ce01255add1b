"""The click ingestion worker loop: drain the queue, sleep, retry with backoff, flush on stop."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from linkhop.ingest.enrich import StoreIp
from linkhop.ingest.geo import GeoReader
from linkhop.ingest.service import ClickSink, CounterSink, ingest_once
from linkhop.queue.base import ClickConsumer

log = structlog.get_logger()


async def _sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, returning early as soon as ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def run_worker(
    *,
    stop: asyncio.Event,
    interval: float,
    consumer: ClickConsumer,
    sink: ClickSink,
    counters: CounterSink,
    geo: GeoReader | None,
    store_ip: StoreIp,
    max_items: int,
    drain_seconds: float = 10.0,
    backoff_initial: float = 0.5,
    backoff_max: float = 30.0,
) -> None:
    """Ingest until ``stop`` is set, then flush what is queued within ``drain_seconds``."""
    delay = backoff_initial
    failures = 0
    while not stop.is_set():
        try:
            taken = await ingest_once(
                consumer=consumer,
                sink=sink,
                counters=counters,
                geo=geo,
                store_ip=store_ip,
                max_items=max_items,
            )
        # ClickHouse down, the counter store down, a queue hiccup: all are retried the same way,
        # because the batch is still un-acked and will replay with its token.
        except Exception as exc:
            failures += 1
            # One line per failure, no traceback: an outage must not flood the logs.
            log.warning("ingest_failed", error=_describe(exc), attempt=failures, retry_in=delay)
            await _sleep_unless_stopped(stop, delay)
            delay = min(delay * 2, backoff_max)
            continue
        if failures:
            log.info("ingest_recovered", failed_attempts=failures)
            failures, delay = 0, backoff_initial
        if taken == 0:
            await _sleep_unless_stopped(stop, interval)
    await _drain(
        consumer=consumer,
        sink=sink,
        counters=counters,
        geo=geo,
        store_ip=store_ip,
        max_items=max_items,
        seconds=drain_seconds,
        retry_delay=backoff_initial,
    )


async def _drain(
    *,
    consumer: ClickConsumer,
    sink: ClickSink,
    counters: CounterSink,
    geo: GeoReader | None,
    store_ip: StoreIp,
    max_items: int,
    seconds: float,
    retry_delay: float,
) -> None:
    """Ingest until the queue is empty or the deadline passes (graceful shutdown)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    drained = 0
    while (left := deadline - loop.time()) > 0:
        try:
            taken = await asyncio.wait_for(
                ingest_once(
                    consumer=consumer,
                    sink=sink,
                    counters=counters,
                    geo=geo,
                    store_ip=store_ip,
                    max_items=max_items,
                ),
                timeout=left,
            )
        except TimeoutError:
            break
        except Exception as exc:  # same retry policy as the main loop
            log.warning("ingest_failed", error=_describe(exc), draining=True)
            await asyncio.sleep(min(retry_delay, max(deadline - loop.time(), 0)))
            continue
        if taken == 0:
            log.info("ingest_drained", items=drained)
            return
        drained += taken
    # Whatever is left stays in the queue un-acked and is ingested by the next worker start.
    log.warning("ingest_drain_incomplete", items=drained, seconds=seconds)
