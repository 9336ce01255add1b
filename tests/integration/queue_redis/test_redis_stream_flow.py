"""The click stream on the machine's Redis: publish → consumer group → ack, exactly once.

Each test has streams of its own (``names``). No process is killed here; see the fault tests.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis
from stream_checks import Names, drain, event

from linkhop.queue.local import SpoolPublisher
from linkhop.queue.redis_entries import pack_events, unpack_events
from linkhop.queue.redis_group import DLQ_DELIVERIES, DLQ_REASON, DLQ_SOURCE_ID
from linkhop.queue.redis_streams import RedisStreamConsumer, RedisStreamPublisher


def consumer(
    redis: Redis,
    names: Names,
    name: str = "w1",
    *,
    claim_idle: float = 60.0,
    max_deliveries: int = 5,
    max_entries_per_read: int = 1000,
    events_per_entry_hint: int = 500,
) -> RedisStreamConsumer:
    return RedisStreamConsumer(
        redis,
        stream=names.stream,
        group=names.group,
        consumer_name=name,
        dlq_stream=names.dlq,
        claim_idle=claim_idle,
        max_deliveries=max_deliveries,
        max_entries_per_read=max_entries_per_read,
        events_per_entry_hint=events_per_entry_hint,
    )


async def test_ten_thousand_published_events_are_read_exactly_once_in_packed_entries(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(shared_redis, stream=names.stream, spool=spool, max_batch=500)
    reader = consumer(shared_redis, names)
    await reader.ensure_group()
    sent = [event("A", n) for n in range(10_000)]
    for payload in sent:
        publisher.publish(payload)
    await publisher.flush()

    # Packed: 10 000 events in 20 entries of 500, not 10 000 entries.
    assert await shared_redis.xlen(names.stream) == 20
    assert (publisher.sent_entries, publisher.sent_events, publisher.spooled) == (20, 10_000, 0)
    assert await reader.lag() == 20

    got, tokens = await drain(reader, max_items=2000)
    assert got == sent  # one consumer sees publish order
    assert len(tokens) == len(set(tokens))
    assert await reader.lag() == 0
    assert await shared_redis.xlen(names.dlq) == 0
    # Everything is acked, so trimming may drop all of it.
    await reader.trim()
    assert await shared_redis.xlen(names.stream) == 0
    await publisher.close()
    await spool.close()


async def test_the_background_task_sends_without_an_explicit_flush(
    shared_redis: Redis, names: Names, tmp_path: Path, eventually
) -> None:
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(shared_redis, stream=names.stream, spool=spool)
    await publisher.start()
    for n in range(50):
        publisher.publish(event("B", n))

    async def arrived() -> bool:
        return publisher.sent_events == 50

    await eventually(arrived)
    reader = consumer(shared_redis, names)
    got, _ = await drain(reader)
    assert got == [event("B", n) for n in range(50)]
    await publisher.close()
    await spool.close()


async def test_an_unacked_batch_is_handed_out_again_with_the_same_token(
    shared_redis: Redis, names: Names
) -> None:
    for n in range(3):
        await shared_redis.xadd(names.stream, pack_events([event("C", n), event("C", n + 100)]))
    reader = consumer(shared_redis, names)
    first = await reader.read_batch(1000)
    assert first is not None
    again = await reader.read_batch(1000)  # e.g. the ClickHouse insert failed: a retry
    assert again == first
    # In-process retries are not deliveries: the counter still says 1.
    pending = await shared_redis.xpending_range(names.stream, names.group, "-", "+", 10)
    assert {row["times_delivered"] for row in pending} == {1}

    # A new process with the same consumer name reads its pending list back: same token.
    restarted = consumer(shared_redis, names)
    replayed = await restarted.read_batch(1000)
    assert replayed == first
    await restarted.ack(replayed)
    assert await restarted.read_batch(1000) is None
    with pytest.raises(ValueError, match="not the batch in flight"):
        await restarted.ack(first)  # acked already: acking twice is a caller bug


async def test_a_batch_takes_whole_entries_and_aims_at_max_items(
    shared_redis: Redis, names: Names
) -> None:
    for entry in range(10):
        await shared_redis.xadd(
            names.stream, pack_events([event("D", entry * 10 + k) for k in range(10)])
        )
    reader = consumer(shared_redis, names)
    sizes = []
    while (batch := await reader.read_batch(25)) is not None:
        sizes.append(len(batch.items))
        await reader.ack(batch)
    assert sum(sizes) == 100
    assert all(size % 10 == 0 for size in sizes)  # a packed entry is never split
    assert max(sizes) <= 30  # no more entries than the target needs


async def test_entries_published_before_the_group_existed_are_delivered(
    shared_redis: Redis, names: Names
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"early"]))
    reader = consumer(shared_redis, names)
    await reader.ensure_group()
    await reader.ensure_group()  # idempotent: BUSYGROUP is fine
    await consumer(shared_redis, names, "w2").ensure_group()
    got, _ = await drain(reader)
    assert got == [b"early"]


async def test_a_malformed_entry_goes_to_the_dlq_at_once_and_the_group_flows_on(
    shared_redis: Redis, names: Names
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"good-1"]))
    bad_id = await shared_redis.xadd(names.stream, {b"n": b"1", b"e": b"not framed"})
    damaged = pack_events([b"x", b"y"])
    damaged[b"e"] = damaged[b"e"][:-1]
    await shared_redis.xadd(names.stream, damaged)
    await shared_redis.xadd(names.stream, pack_events([b"good-2", b"good-3"]))

    reader = consumer(shared_redis, names)
    got, _ = await drain(reader)
    assert got == [b"good-1", b"good-2", b"good-3"]
    dead = await shared_redis.xrange(names.dlq)
    assert len(dead) == 2
    first = dead[0][1]
    assert first[DLQ_SOURCE_ID] == bad_id
    assert first[DLQ_REASON].startswith(b"malformed: unknown entry format version")
    assert first[b"e"] == b"not framed"  # the original fields are kept for inspection
    assert dead[1][1][DLQ_REASON].startswith(b"malformed: record at byte")
    assert await reader.lag() == 0  # nothing left pending: the bad entries were acked


async def test_an_entry_that_outlives_max_deliveries_is_dead_lettered(
    shared_redis: Redis, names: Names
) -> None:
    poison_id = await shared_redis.xadd(names.stream, pack_events([b"poison"]))
    tokens = set()
    for _ in range(3):  # three workers take it and die before the ack
        batch = await consumer(shared_redis, names, max_deliveries=3).read_batch(100)
        assert batch is not None
        assert batch.items == [b"poison"]
        tokens.add(batch.token)
    assert len(tokens) == 1  # every replay had the same token
    await shared_redis.xadd(names.stream, pack_events([b"after"]))

    fourth = consumer(shared_redis, names, max_deliveries=3)
    got, _ = await drain(fourth)
    assert got == [b"after"]  # the group keeps flowing
    dead = await shared_redis.xrange(names.dlq)
    assert [(fields[DLQ_SOURCE_ID], fields[DLQ_DELIVERIES]) for _, fields in dead] == [
        (poison_id, b"4")
    ]
    assert b"delivered 4 times without an ack" in dead[0][1][DLQ_REASON]
    assert unpack_events(dead[0][1]) == [b"poison"]
    assert fourth.dead_lettered == 1


async def test_the_worker_can_dead_letter_a_batch_it_rejects(
    shared_redis: Redis, names: Names
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"a", b"b"]))
    reader = consumer(shared_redis, names)
    batch = await reader.read_batch(10)
    assert batch is not None
    await reader.dead_letter(batch, "ClickHouse refused the block: bad value")
    assert await reader.read_batch(10) is None
    [(_, fields)] = await shared_redis.xrange(names.dlq)
    assert fields[DLQ_REASON] == b"rejected: ClickHouse refused the block: bad value"


async def test_a_dead_consumers_whole_batch_is_claimed_with_its_token(
    shared_redis: Redis, names: Names, eventually
) -> None:
    for n in range(4):
        await shared_redis.xadd(names.stream, pack_events([event("E", n)]))
    first = consumer(shared_redis, names, "dead-1", events_per_entry_hint=1)
    second = consumer(shared_redis, names, "dead-2", events_per_entry_hint=1)
    lost_a = await first.read_batch(2)
    lost_b = await second.read_batch(2)
    assert lost_a is not None
    assert lost_b is not None
    assert (len(lost_a.items), len(lost_b.items)) == (2, 2)
    # Both die here. A survivor claims each dead batch whole, one per read, same tokens.
    survivor = consumer(shared_redis, names, "survivor", claim_idle=0.2)
    claimed = []

    async def claims() -> bool:
        batch = await survivor.read_batch(1000)
        if batch is not None:
            claimed.append(batch)
            await survivor.ack(batch)
        return len(claimed) == 2

    await eventually(claims)
    assert claimed == [lost_a, lost_b]
    for n in range(4, 6):
        await shared_redis.xadd(names.stream, pack_events([event("E", n)]))
    rest, _ = await drain(survivor)
    assert rest == [event("E", n) for n in (4, 5)]
    assert survivor.claimed_entries == 4


async def test_retrying_a_batch_keeps_it_from_being_claimed(
    shared_redis: Redis, names: Names, eventually
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"slow"]))
    busy = consumer(shared_redis, names, "busy")
    batch = await busy.read_batch(10)
    assert batch is not None

    async def idle_ms() -> int:
        [row] = await shared_redis.xpending_range(names.stream, names.group, "-", "+", 1)
        return int(row["time_since_delivered"])

    async def has_idled() -> bool:
        return await idle_ms() >= 300

    await eventually(has_idled)
    before = await idle_ms()
    assert await busy.read_batch(10) == batch  # the worker retries (say ClickHouse is down)
    assert await idle_ms() < before  # the retry refreshed the idle time
    other = consumer(shared_redis, names, "other", claim_idle=60.0)
    assert await other.read_batch(10) is None
    await busy.ack(batch)


async def test_redis_losing_the_group_is_recovered_with_one_log_line(
    shared_redis: Redis, names: Names
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"before"]))
    reader = consumer(shared_redis, names)
    got, _ = await drain(reader)
    assert got == [b"before"]
    await shared_redis.delete(names.stream)  # what a Redis restart without AOF does
    await shared_redis.xadd(names.stream, pack_events([b"after"]))

    with structlog.testing.capture_logs() as logs:
        got, _ = await drain(reader)
    assert got == [b"after"]
    assert [e["event"] for e in logs] == ["click_stream_group_recreated"]
    assert reader.groups_recreated == 1


async def test_trim_never_drops_a_pending_or_undelivered_entry(
    shared_redis: Redis, names: Names
) -> None:
    ids = [await shared_redis.xadd(names.stream, pack_events([event("F", n)])) for n in range(6)]
    reader = consumer(shared_redis, names, max_entries_per_read=1, events_per_entry_hint=1)
    first = await reader.read_batch(1)
    assert first is not None
    await reader.ack(first)
    held = await reader.read_batch(1)  # pending, not acked
    assert held is not None
    # Another group that has read nothing pins the whole stream.
    await shared_redis.xgroup_create(names.stream, "audit", id="0")
    assert await reader.trim() == 0
    await shared_redis.xgroup_destroy(names.stream, "audit")

    await reader.trim()
    left = [entry_id for entry_id, _ in await shared_redis.xrange(names.stream)]
    assert left[0] <= ids[1]  # approximate trimming may keep more, never less
    assert set(ids[1:]) <= set(left)
    assert await reader.lag() == 5  # 1 pending + 4 never delivered
    await reader.ack(held)
    rest, _ = await drain(reader)
    assert rest == [event("F", n) for n in range(2, 6)]


async def test_a_client_that_decodes_replies_is_refused() -> None:
    decoding = Redis(decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        RedisStreamConsumer(decoding, stream="s", group="g", consumer_name="c", dlq_stream="s:dlq")
    await decoding.aclose()


async def test_events_never_sent_are_counted_once_in_the_stream(
    shared_redis: Redis, names: Names, tmp_path: Path, eventually
) -> None:
    # Past max_buffered, publish writes to the spool itself; the replay brings those back.
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(
        shared_redis, stream=names.stream, spool=spool, max_buffered=10, retry_interval=0.05
    )
    sent = [event("G", n) for n in range(25)]
    for payload in sent:
        publisher.publish(payload)
    assert (publisher.published, publisher.spooled) == (25, 15)
    await publisher.start()  # the replay task drains the spool into the stream

    async def replayed() -> bool:
        return publisher.replayed == 15

    await eventually(replayed)
    await publisher.close()
    reader = consumer(shared_redis, names)
    got, _ = await drain(reader)
    assert Counter(got) == Counter(sent)
    assert publisher.replayed == 15
    await spool.close()


async def test_a_redis_that_refuses_the_write_gets_the_events_later_from_the_spool(
    shared_redis: Redis, names: Names, tmp_path: Path, eventually
) -> None:
    await shared_redis.set(names.stream, b"not a stream")  # every XADD now fails: WRONGTYPE
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(
        shared_redis, stream=names.stream, spool=spool, retry_interval=0.05
    )
    await publisher.start()
    sent = [event("W", n) for n in range(1200)]
    for payload in sent:
        publisher.publish(payload)
    await publisher.flush()
    assert publisher.spooled == 1200
    assert publisher.send_errors >= 1

    await shared_redis.delete(names.stream)  # the operator fixes Redis

    async def replayed() -> bool:
        return publisher.replayed == 1200

    await eventually(replayed)
    await publisher.close()
    await spool.close()
    got, _ = await drain(consumer(shared_redis, names))
    assert Counter(got) == Counter(sent)


async def test_an_oversized_payload_is_refused_by_publish(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(shared_redis, stream=names.stream, spool=spool)
    with pytest.raises(ValueError, match="exceeds"):
        publisher.publish(b"x" * (16 * 1024 * 1024 + 1))
    assert publisher.published == 0
    await publisher.close()
    await spool.close()
