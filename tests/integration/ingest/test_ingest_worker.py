"""run_worker against real chDB: polling, backoff while ClickHouse fails, drain on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from clickhouse_connect.driver.client import Client
from ingest_doubles import CLICKS_DDL, DATABASE, MemoryCounters, MemoryQueue, click_payload
from structlog.testing import capture_logs

from linkhop.ingest.sink import ClickHouseClickSink
from linkhop.ingest.tasks import run_worker

# Upper bound for a condition to come true; a hang fails the test instead of blocking CI.
PATIENCE_SECONDS = 20.0


async def eventually(condition: Callable[[], Awaitable[bool]]) -> None:
    # Polling, because the conditions watch a queue and a database that have no events to wait on.
    async with asyncio.timeout(PATIENCE_SECONDS):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.01)


def start_worker(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters, stop: asyncio.Event, **kw: Any
) -> asyncio.Task[None]:
    options: dict[str, Any] = {
        "interval": 0.01,
        "max_items": 10,
        "drain_seconds": 10.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
    }
    options.update(kw)
    return asyncio.create_task(
        run_worker(
            stop=stop,
            consumer=queue,
            sink=ClickHouseClickSink(ch, database=DATABASE),
            counters=counters,
            geo=None,
            store_ip="full",
            **options,
        )
    )


def row_count(ch: Client) -> int:
    return int(ch.command(f"SELECT count() FROM {DATABASE}.clicks"))


async def test_worker_picks_up_clicks_published_while_it_runs(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    stop = asyncio.Event()
    worker = start_worker(ch, queue, counters, stop)
    await eventually(lambda: _true_after_reads(queue, 3))

    for _ in range(25):
        queue.publish(click_payload())

    async def queue_empty() -> bool:
        return await queue.lag() == 0

    await eventually(queue_empty)
    stop.set()
    await asyncio.wait_for(worker, PATIENCE_SECONDS)
    assert row_count(ch) == 25
    assert counters.clicks == {"link_a": 25}


async def _true_after_reads(queue: MemoryQueue, reads: int) -> bool:
    return queue.reads >= reads


async def test_stop_drains_everything_still_queued(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    for _ in range(35):
        queue.publish(click_payload())
    stop = asyncio.Event()
    stop.set()

    with capture_logs() as logs:
        # A long interval proves the drain does not wait for the next tick.
        await asyncio.wait_for(
            start_worker(ch, queue, counters, stop, interval=3600), PATIENCE_SECONDS
        )

    assert row_count(ch) == 35
    assert await queue.lag() == 0
    assert counters.clicks == {"link_a": 35}
    assert [e["items"] for e in logs if e["event"] == "ingest_drained"] == [35]


async def test_worker_backs_off_while_clickhouse_fails_then_catches_up(
    chdb_client: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    # No `clicks` table yet: every insert fails the way it does while ClickHouse is down.
    for _ in range(5):
        queue.publish(click_payload())
    stop = asyncio.Event()

    with capture_logs() as logs:
        worker = start_worker(chdb_client, queue, counters, stop)

        async def failed_five_times() -> bool:
            return sum(e["event"] == "ingest_failed" for e in logs) >= 5

        await eventually(failed_five_times)
        await asyncio.to_thread(chdb_client.command, CLICKS_DDL)

        async def queue_empty() -> bool:
            return await queue.lag() == 0

        await eventually(queue_empty)
        stop.set()
        await asyncio.wait_for(worker, PATIENCE_SECONDS)

    assert row_count(chdb_client) == 5
    assert counters.clicks == {"link_a": 5}
    failures = [e for e in logs if e["event"] == "ingest_failed"]
    # One compact line per failure: no traceback, a capped backoff, a growing attempt number.
    assert all("exc_info" not in e and len(e["error"]) <= 300 for e in failures)
    assert [e["attempt"] for e in failures[:5]] == [1, 2, 3, 4, 5]
    assert [e["retry_in"] for e in failures[:5]] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert [e["event"] for e in logs].count("ingest_recovered") == 1


async def test_drain_gives_up_at_its_deadline_and_leaves_the_queue_intact(
    chdb_client: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    for _ in range(3):
        queue.publish(click_payload())
    stop = asyncio.Event()
    stop.set()

    with capture_logs() as logs:
        await asyncio.wait_for(
            start_worker(chdb_client, queue, counters, stop, drain_seconds=0.3),
            PATIENCE_SECONDS,
        )

    assert await queue.lag() == 3
    assert counters.clicks == {}
    assert any(e["event"] == "ingest_failed" and e.get("draining") for e in logs)
    assert logs[-1]["event"] == "ingest_drain_incomplete"
