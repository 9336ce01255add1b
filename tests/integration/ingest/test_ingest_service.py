"""ingest_once against real chDB: enrichment, idempotent replays, malformed items."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.client import Client
from ingest_doubles import (
    DATABASE,
    MemoryCounters,
    MemoryQueue,
    SimulatedCrashError,
    click_payload,
)
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from linkhop.ingest.service import ingest_once
from linkhop.ingest.sink import ClickHouseClickSink

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


async def run_once(ch: Client, queue: MemoryQueue, counters: MemoryCounters, **kw: int) -> int:
    return await ingest_once(
        consumer=queue,
        sink=ClickHouseClickSink(ch, database=DATABASE),
        counters=counters,
        geo=None,
        store_ip="anonymized",
        max_items=kw.get("max_items", 100),
    )


def row_count(ch: Client) -> int:
    return int(ch.command(f"SELECT count() FROM {DATABASE}.clicks"))


def counter_value(outcome: str) -> float:
    value = REGISTRY.get_sample_value("linkhop_ingest_clicks_total", {"outcome": outcome})
    return value or 0.0


async def test_empty_queue_is_a_no_op(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    assert await run_once(ch, queue, counters) == 0
    assert row_count(ch) == 0
    assert counters.tokens == set()


async def test_batch_is_enriched_inserted_counted_and_acked(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    queue.publish(click_payload(ts=1_764_072_000.250))
    queue.publish(click_payload(ts=1_764_072_009.999, country=""))
    queue.publish(click_payload(link_id="link_b", ts=1_764_072_005.0, method="HEAD"))
    queue.publish(click_payload(link_id="link_b", ts=1_764_072_006.0, ua=GOOGLEBOT))
    queue.publish(click_payload(link_id="link_c", ts=1_764_072_007.0, trigger="qr"))

    assert await run_once(ch, queue, counters) == 5

    def select(columns: str) -> list[tuple[object, ...]]:
        query = f"SELECT {columns} FROM {DATABASE}.clicks ORDER BY ts"
        return [tuple(row) for row in ch.query(query).result_rows]

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
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    # Two months, so the insert is split into one block per partition: each must dedup.
    queue.publish(click_payload(ts=1_764_072_000.0))
    queue.publish(click_payload(ts=1_767_225_600.5))  # 2026-01-01
    queue.publish(click_payload(link_id="link_b"))
    queue.crash_on_next_ack = True

    with pytest.raises(SimulatedCrashError):
        await run_once(ch, queue, counters)
    assert row_count(ch) == 3
    assert counters.clicks == {"link_a": 2, "link_b": 1}
    first_token = queue.pending.token if queue.pending else None

    # The restarted worker gets the same batch with the same token.
    assert await run_once(ch, queue, counters) == 3

    assert row_count(ch) == 3
    assert int(ch.command(f"SELECT uniqExact(click_id) FROM {DATABASE}.clicks")) == 3
    assert counters.clicks == {"link_a": 2, "link_b": 1}
    assert counters.tokens == {first_token}
    assert await queue.lag() == 0


async def test_crash_before_counters_applies_them_exactly_once_on_replay(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    for _ in range(4):
        queue.publish(click_payload())
    counters.crash_on_next_apply = True

    with pytest.raises(SimulatedCrashError):
        await run_once(ch, queue, counters)
    assert row_count(ch) == 4
    assert counters.clicks == {}

    assert await run_once(ch, queue, counters) == 4

    assert row_count(ch) == 4
    assert counters.clicks == {"link_a": 4}


async def test_malformed_items_are_skipped_logged_and_counted(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    queue.publish(click_payload(key="good-1"))
    queue.publish(b"\x00 not json")
    queue.publish(click_payload(key="good-2", trigger="carrier-pigeon"))
    queue.publish(click_payload(key="good-3"))
    malformed_before = counter_value("malformed")
    human_before = counter_value("human")

    with capture_logs() as logs:
        assert await run_once(ch, queue, counters) == 4

    keys = ch.query(f"SELECT key FROM {DATABASE}.clicks ORDER BY key").result_rows
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
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    queue.publish(b"{}")
    queue.publish(b"[]")

    assert await run_once(ch, queue, counters) == 2

    assert row_count(ch) == 0
    assert counters.tokens == set()
    assert await queue.lag() == 0


async def test_batches_follow_max_items(
    ch: Client, queue: MemoryQueue, counters: MemoryCounters
) -> None:
    for _ in range(5):
        queue.publish(click_payload())

    taken = [await run_once(ch, queue, counters, max_items=2) for _ in range(4)]

    assert taken == [2, 2, 1, 0]
    assert row_count(ch) == 5
    assert counters.clicks == {"link_a": 5}
    assert len(counters.tokens) == 3
