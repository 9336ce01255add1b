"""ingest_once against real chDB: enrichment, idempotent replays, malformed items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from ingest_doubles import MemoryCounters, MemoryQueue, SimulatedCrashError, click_payload
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import render
from linkhop.ingest.service import ingest_once
from linkhop.ingest.sink import ClickHouseClickSink

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def run_once(
    sink: ClickHouseClickSink, queue: MemoryQueue, counters: MemoryCounters, max_items: int = 100
) -> int:
    return await ingest_once(
        consumer=queue,
        sink=sink,
        counters=counters,
        geo=None,
        store_ip="anonymized",
        max_items=max_items,
    )


Query = Callable[[str], list[tuple[object, ...]]]


@pytest.fixture
def query(chdb_store: ClickHouse, ch_database: str) -> Query:
    """Run SQL against this test's database, written as ``$db``."""
    return lambda sql: chdb_store.query(render(sql, ch_database))


@pytest.fixture
def count_rows(query: Query) -> Callable[[], int]:
    """Rows in this test's `clicks` table, duplicates included (no FINAL)."""
    return lambda: int(str(query("SELECT count() FROM $db.clicks")[0][0]))


def counter_value(outcome: str) -> float:
    value = REGISTRY.get_sample_value("linkhop_ingest_clicks_total", {"outcome": outcome})
    return value or 0.0


async def test_empty_queue_is_a_no_op(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
) -> None:
    assert await run_once(sink, queue, counters) == 0
    assert count_rows() == 0
    assert counters.tokens == set()


async def test_batch_is_enriched_inserted_counted_and_acked(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
    query: Query,
) -> None:
    queue.publish(click_payload(ts=1_764_072_000.250))
    queue.publish(click_payload(ts=1_764_072_009.999, country=""))
    queue.publish(click_payload(link_id="link_b", ts=1_764_072_005.0, method="HEAD"))
    queue.publish(click_payload(link_id="link_b", ts=1_764_072_006.0, ua=GOOGLEBOT))
    queue.publish(click_payload(link_id="link_c", ts=1_764_072_007.0, trigger="qr"))

    assert await run_once(sink, queue, counters) == 5

    def select(columns: str) -> list[tuple[object, ...]]:
        return query(f"SELECT {columns} FROM $db.clicks ORDER BY ts")

    assert select("link_id, ts, trigger, ip, country, continent") == [
        ("link_a", datetime(2025, 11, 25, 12, 0, 0, 250_000), "link", "81.2.69.0", "GB", "EU"),
        ("link_b", datetime(2025, 11, 25, 12, 0, 5), "link", "81.2.69.0", "GB", "EU"),
        ("link_b", datetime(2025, 11, 25, 12, 0, 6), "link", "81.2.69.0", "GB", "EU"),
        ("link_c", datetime(2025, 11, 25, 12, 0, 7), "qr", "81.2.69.0", "GB", "EU"),
        ("link_a", datetime(2025, 11, 25, 12, 0, 9, 999_000), "link", "81.2.69.0", "", ""),
    ]
    assert select("device, browser, os, bot, bot_reason") == [
        ("mobile", "Mobile Safari", "iOS", 0, ""),
        ("bot", "Mobile Safari", "iOS", 1, "head_request"),
        ("bot", "Googlebot", "", 1, "ua_parser_spider"),
        ("mobile", "Mobile Safari", "iOS", 0, ""),
        ("mobile", "Mobile Safari", "iOS", 0, ""),
    ]
    assert set(select("referrer_domain, utm_source, utm_medium")) == {
        ("google.com", "news", "email")
    }
    # Bots are stored but never counted; link_b had only bot clicks.
    assert counters.clicks == {"link_a": 2, "link_c": 1}
    assert counters.last_ts["link_a"] == datetime(2025, 11, 25, 12, 0, 9, 999_000, tzinfo=UTC)
    assert await queue.lag() == 0
    assert queue.pending is None


async def test_crash_after_insert_before_ack_replays_as_a_no_op(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
    query: Query,
) -> None:
    # Two months, so the insert is split into one block per partition: each must dedup.
    queue.publish(click_payload(ts=1_764_072_000.0))
    queue.publish(click_payload(ts=1_767_225_600.5))  # 2026-01-01
    queue.publish(click_payload(link_id="link_b"))
    queue.crash_on_next_ack = True

    with pytest.raises(SimulatedCrashError):
        await run_once(sink, queue, counters)
    assert count_rows() == 3
    assert counters.clicks == {"link_a": 2, "link_b": 1}
    first_token = queue.pending.token if queue.pending else None

    # The restarted worker gets the same batch with the same token.
    assert await run_once(sink, queue, counters) == 3

    assert count_rows() == 3
    assert query("SELECT uniqExact(click_id) FROM $db.clicks") == [(3,)]
    # The hourly rollup, fed by a materialized view, dropped the replayed block too.
    assert query("SELECT sum(clicks) FROM $db.clicks_hourly") == [(3,)]
    assert counters.clicks == {"link_a": 2, "link_b": 1}
    assert counters.tokens == {first_token}
    assert await queue.lag() == 0


async def test_crash_before_counters_applies_them_exactly_once_on_replay(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
) -> None:
    for _ in range(4):
        queue.publish(click_payload())
    counters.crash_on_next_apply = True

    with pytest.raises(SimulatedCrashError):
        await run_once(sink, queue, counters)
    assert count_rows() == 4
    assert counters.clicks == {}

    assert await run_once(sink, queue, counters) == 4

    assert count_rows() == 4
    assert counters.clicks == {"link_a": 4}


async def test_malformed_items_are_skipped_logged_and_counted(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
    query: Query,
) -> None:
    queue.publish(click_payload(key="good-1"))
    queue.publish(b"\x00 not json")
    queue.publish(click_payload(key="good-2", trigger="carrier-pigeon"))
    queue.publish(click_payload(key="good-3"))
    malformed_before = counter_value("malformed")
    human_before = counter_value("human")

    with capture_logs() as logs:
        assert await run_once(sink, queue, counters) == 4

    keys = query("SELECT key FROM $db.clicks ORDER BY key")
    assert keys == [("good-1",), ("good-3",)]
    skipped = [entry for entry in logs if entry["event"] == "click_malformed"]
    assert [entry["index"] for entry in skipped] == [1, 2]
    assert "trigger" in skipped[1]["reason"]
    assert all(entry["log_level"] == "warning" for entry in skipped)
    assert counter_value("malformed") - malformed_before == 2
    assert counter_value("human") - human_before == 2
    assert counters.clicks == {"link_a": 2}
    assert await queue.lag() == 0


async def test_a_batch_of_only_malformed_items_is_acked(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
) -> None:
    queue.publish(b"{}")
    queue.publish(b"[]")

    assert await run_once(sink, queue, counters) == 2

    assert count_rows() == 0
    assert counters.tokens == set()
    assert await queue.lag() == 0


async def test_batches_follow_max_items(
    sink: ClickHouseClickSink,
    queue: MemoryQueue,
    counters: MemoryCounters,
    count_rows: Callable[[], int],
) -> None:
    for _ in range(5):
        queue.publish(click_payload())

    taken = [await run_once(sink, queue, counters, max_items=2) for _ in range(4)]

    assert taken == [2, 2, 1, 0]
    assert count_rows() == 5
    assert counters.clicks == {"link_a": 5}
    assert len(counters.tokens) == 3
