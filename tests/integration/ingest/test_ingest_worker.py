"""run_worker against real chDB: polling, backoff while ClickHouse fails, drain on stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from ingest_doubles import MemoryCounters, MemoryQueue, click_payload
from structlog.testing import capture_logs

from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
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


StartWorker = Callable[..., asyncio.Task[None]]


@pytest.fixture
async def start_worker() -> AsyncIterator[StartWorker]:
    """Start run_worker as a task with fast test timings; a task left running is cancelled."""
    tasks: list[asyncio.Task[None]] = []

    def start(
        sink: ClickHouseClickSink,
        queue: MemoryQueue,
        counters: MemoryCounters,
        stop: asyncio.Event,
        **kw: Any,
    ) -> asyncio.Task[None]:
        options: dict[str, Any] = {
            "interval": 0.01,
            "max_items": 10,
            "drain_seconds": 10.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
        }
        options.update(kw)
        task = asyncio.create_task(
            run_worker(
                stop=stop,
                consumer=queue,
                sink=sink,
                counters=counters,
                geo=None,
                store_ip="full",
                **options,
            )
        )
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def row_count(store: ClickHouse, database: str) -> int:
    return int(store.query(runner.render("SELECT count() FROM $db.clicks", database))[0][0])


async def test_worker_picks_up_clicks_published_while_it_runs(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    chdb_store: ClickHouse,
    ch_database: str,
    start_worker: StartWorker,
) -> None:
    stop = asyncio.Event()
    worker = start_worker(sink, queue, counters, stop)
    await eventually(lambda: _true_after_reads(queue, 3))

    for _ in range(25):
        queue.publish(click_payload())

    async def queue_empty() -> bool:
        return await queue.lag() == 0

    await eventually(queue_empty)
    stop.set()
    await asyncio.wait_for(worker, PATIENCE_SECONDS)
    assert row_count(chdb_store, ch_database) == 25
    assert counters.clicks == {"link_a": 25}


async def _true_after_reads(queue: MemoryQueue, reads: int) -> bool:
    return queue.reads >= reads


async def test_stop_drains_everything_still_queued(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    chdb_store: ClickHouse,
    ch_database: str,
    start_worker: StartWorker,
) -> None:
    for _ in range(35):
        queue.publish(click_payload())
    stop = asyncio.Event()
    stop.set()

    with capture_logs() as logs:
        # A long interval proves the drain does not wait for the next tick.
        await asyncio.wait_for(
            start_worker(sink, queue, counters, stop, interval=3600), PATIENCE_SECONDS
        )

    assert row_count(chdb_store, ch_database) == 35
    assert await queue.lag() == 0
    assert counters.clicks == {"link_a": 35}
    assert [e["items"] for e in logs if e["event"] == "ingest_drained"] == [35]


async def test_worker_backs_off_while_clickhouse_fails_then_catches_up(
    chdb_store: ClickHouse,
    ch_database: str,
    queue: MemoryQueue,
    counters: MemoryCounters,
    start_worker: StartWorker,
) -> None:
    # The worker's database does not exist yet: every insert fails, as while ClickHouse is down.
    late = f"{ch_database}_late"
    sink = ClickHouseClickSink(chdb_store, database=late)
    for _ in range(5):
        queue.publish(click_payload())
    stop = asyncio.Event()

    try:
        with capture_logs() as logs:
            worker = start_worker(sink, queue, counters, stop)

            async def failed_five_times() -> bool:
                return sum(e["event"] == "ingest_failed" for e in logs) >= 5

            await eventually(failed_five_times)
            await asyncio.to_thread(runner.migrate, chdb_store, late)

            async def queue_empty() -> bool:
                return await queue.lag() == 0

            await eventually(queue_empty)
            stop.set()
            await asyncio.wait_for(worker, PATIENCE_SECONDS)
        assert row_count(chdb_store, late) == 5
    finally:
        chdb_store.command(runner.render("DROP DATABASE IF EXISTS $db", late))
    assert counters.clicks == {"link_a": 5}
    failures = [e for e in logs if e["event"] == "ingest_failed"]
    # One compact line per failure: no traceback, a capped backoff, a growing attempt number.
    assert all("exc_info" not in e and len(e["error"]) <= 300 for e in failures)
    assert [e["attempt"] for e in failures[:5]] == [1, 2, 3, 4, 5]
    assert [e["retry_in"] for e in failures[:5]] == [0.01, 0.02, 0.04, 0.05, 0.05]
    assert [e["event"] for e in logs].count("ingest_recovered") == 1


async def test_drain_gives_up_at_its_deadline_and_leaves_the_queue_intact(
    chdb_store: ClickHouse,
    ch_database: str,
    queue: MemoryQueue,
    counters: MemoryCounters,
    start_worker: StartWorker,
) -> None:
    sink = ClickHouseClickSink(chdb_store, database=f"{ch_database}_missing")
    for _ in range(3):
        queue.publish(click_payload())
    stop = asyncio.Event()
    stop.set()

    with capture_logs() as logs:
        await asyncio.wait_for(
            start_worker(sink, queue, counters, stop, drain_seconds=0.3),
            PATIENCE_SECONDS,
        )

    assert await queue.lag() == 3
    assert counters.clicks == {}
    assert any(e["event"] == "ingest_failed" and e.get("draining") for e in logs)
    assert logs[-1]["event"] == "ingest_drain_incomplete"
