"""kill -9 against the click stream: workers, redirects and Redis itself, as real processes.

Private Redis servers run with an AOF (``conftest.aof_redis`` says why ``always`` here) unless
the test is about what happens without one.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from stream_checks import GIVE_UP_S, REDIS_URL, Names, RedisServer, drain, event, free_port

from linkhop.queue.local import SpoolPublisher
from linkhop.queue.redis_entries import pack_events
from linkhop.queue.redis_streams import RedisStreamConsumer, RedisStreamPublisher, stream_client

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


def consumer(
    redis: Redis, stream: str, name: str, *, claim_idle: float = 60.0
) -> RedisStreamConsumer:
    return RedisStreamConsumer(
        redis,
        stream=stream,
        group="workers",
        consumer_name=name,
        dlq_stream=f"{stream}:dlq",
        claim_idle=claim_idle,
    )


async def spawn(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / script), *args, stdout=asyncio.subprocess.PIPE
    )


async def test_a_worker_killed_between_read_and_ack_is_replayed_with_the_same_token(
    shared_redis: Redis, names: Names, eventually
) -> None:
    for n in range(0, 12, 3):
        await shared_redis.xadd(names.stream, pack_events([event("K", n + k) for k in range(3)]))
    proc = await spawn(
        "redis_consumer_proc.py", REDIS_URL, names.stream, names.group, "doomed", names.dlq, "12"
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), GIVE_UP_S)
    token, hex_items = line.decode().split()
    handed_out = [bytes.fromhex(item) for item in hex_items.split(",")]
    assert handed_out == [event("K", n) for n in range(12)]
    proc.kill()
    await proc.wait()
    pending = await shared_redis.xpending(names.stream, names.group)
    assert pending["pending"] == 4  # the dead worker's four entries

    # Another worker claims the dead one's batch once it has idled claim_idle: same token.
    survivor = consumer(shared_redis, names.stream, "survivor", claim_idle=0.5)
    batches: list[tuple[str, list[bytes]]] = []
    await eventually(lambda: _read_into(survivor, batches))
    assert batches == [(token, handed_out)]
    assert survivor.claimed_entries == 4
    for n in range(12, 30):
        await shared_redis.xadd(names.stream, pack_events([event("K", n)]))
    rest, _ = await drain(survivor)
    assert rest == [event("K", n) for n in range(12, 30)]


async def _read_into(reader: RedisStreamConsumer, out: list[tuple[str, list[bytes]]]) -> bool:
    batch = await reader.read_batch(1000)
    if batch is None:
        return False
    out.append((batch.token, batch.items))
    await reader.ack(batch)
    return True


async def test_a_restarted_worker_replays_its_own_batch_at_once(
    shared_redis: Redis, names: Names
) -> None:
    for n in range(5):
        await shared_redis.xadd(names.stream, pack_events([event("R", n)]))
    proc = await spawn(
        "redis_consumer_proc.py", REDIS_URL, names.stream, names.group, "pod-1", names.dlq, "3"
    )
    assert proc.stdout is not None
    token = (await asyncio.wait_for(proc.stdout.readline(), GIVE_UP_S)).split()[0].decode()
    proc.kill()
    await proc.wait()
    # Same consumer name (a pod restarted in place): no claim_idle wait, same token.
    restarted = consumer(shared_redis, names.stream, "pod-1", claim_idle=3600)
    batch = await restarted.read_batch(1000)
    assert batch is not None
    assert batch.token == token
    assert batch.items == [event("R", n) for n in range(3)]


async def test_redis_killed_and_restarted_with_aof_loses_no_published_event(
    aof_redis: RedisServer, tmp_path: Path, eventually
) -> None:
    redis = stream_client(aof_redis.url, timeout=0.5)
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(
        redis, stream="clicks", spool=spool, send_timeout=0.5, retry_interval=0.05
    )
    await publisher.start()
    sent = [event("P", n) for n in range(3000)]
    for payload in sent[:1000]:
        publisher.publish(payload)
    await publisher.flush()
    assert publisher.sent_events == 1000

    aof_redis.kill()
    for index, payload in enumerate(sent[1000:2000]):
        publisher.publish(payload)  # never raises: the redirect keeps answering
        if index % 100 == 0:
            await asyncio.sleep(0.01)  # let the flush task run into the dead Redis
    await publisher.flush()
    assert not publisher.redis_available
    assert publisher.spooled == 1000

    aof_redis.start()  # same folder: loads the AOF
    for payload in sent[2000:]:
        publisher.publish(payload)

    async def replayed() -> bool:
        await publisher.flush()
        return publisher.redis_available and publisher.replayed == publisher.spooled

    await eventually(replayed)
    await publisher.close()
    await spool.close()
    got, _ = await drain(consumer(redis, "clicks", "w1"))
    assert Counter(got) == Counter(sent)  # nothing lost, nothing twice
    await redis.aclose()


async def test_publishing_flat_out_through_a_redis_kill_loses_nothing(
    aof_redis: RedisServer, tmp_path: Path, eventually
) -> None:
    redis = stream_client(aof_redis.url, timeout=0.5)
    spool = SpoolPublisher(tmp_path / "spool")
    publisher = RedisStreamPublisher(
        redis, stream="clicks", spool=spool, send_timeout=0.5, retry_interval=0.05
    )
    await publisher.start()
    sent = [event("Q", n) for n in range(6000)]
    for index, payload in enumerate(sent):
        if index == 2000:
            aof_redis.kill()  # whatever the flush task is doing right now
        if index == 4000:
            aof_redis.start()
        publisher.publish(payload)
        if index % 20 == 0:
            await asyncio.sleep(0.001)

    async def settled() -> bool:
        await publisher.flush()
        return publisher.redis_available and publisher.replayed == publisher.spooled

    await eventually(settled)
    await publisher.close()
    await spool.close()
    got, _ = await drain(consumer(redis, "clicks", "w1"))
    assert set(got) == set(sent)  # nothing lost
    # A send cut by the kill has an unknown outcome and is spooled anyway: it may arrive twice,
    # for the sink's click_id dedup to absorb. Nothing else may.
    twice = len(got) - len(set(got))
    assert twice <= publisher.send_errors * 16 * 500  # one round trip: 16 entries of 500
    await redis.aclose()


async def test_pending_entries_survive_a_redis_kill_with_aof(
    aof_redis: RedisServer,
) -> None:
    redis = stream_client(aof_redis.url, timeout=0.5)
    sent = [event("S", n) for n in range(2000)]
    for start in range(0, 2000, 200):
        await redis.xadd("clicks", pack_events(sent[start : start + 200]))
    reader = consumer(redis, "clicks", "w1")
    held = await reader.read_batch(600)
    assert held is not None
    aof_redis.kill()
    aof_redis.start()
    await redis.aclose()  # its pooled connection died with the server
    redis = stream_client(aof_redis.url, timeout=0.5)
    assert (await redis.xpending("clicks", "workers"))["pending"] == 3  # PEL kept
    restarted = consumer(redis, "clicks", "w1")
    again = await restarted.read_batch(600)
    assert again == held
    await restarted.ack(again)
    rest, _ = await drain(restarted)
    assert held.items + rest == sent
    await redis.aclose()


async def test_a_redis_without_persistence_loses_the_group_and_workers_recover(
    volatile_redis: RedisServer,
) -> None:
    redis = stream_client(volatile_redis.url, timeout=0.5)
    await redis.xadd("clicks", pack_events([b"lost"]))
    reader = consumer(redis, "clicks", "w1")
    held = await reader.read_batch(10)
    assert held is not None

    volatile_redis.kill()
    volatile_redis.start()
    with pytest.raises(RedisConnectionError):  # the pooled connection died with the server
        await redis.ping()
    assert await redis.xlen("clicks") == 0  # what production must avoid with AOF
    await reader.ack(held)  # the group is gone: XACK has nothing to do and does not fail
    await redis.xadd("clicks", pack_events([b"after"]))
    with structlog.testing.capture_logs() as logs:
        got, _ = await drain(reader)
    assert got == [b"after"]
    assert [e["event"] for e in logs] == ["click_stream_group_recreated"]
    await redis.aclose()


async def test_a_killed_redirects_spool_is_replayed_by_another(
    shared_redis: Redis, names: Names, tmp_path: Path, eventually
) -> None:
    spool_dir = tmp_path / "spool"
    down = f"redis://127.0.0.1:{free_port()}/0"
    proc = await spawn("redis_publisher_proc.py", str(spool_dir), down, "T")
    assert proc.stdout is not None
    accepted = [int(await asyncio.wait_for(proc.stdout.readline(), GIVE_UP_S)) for _ in range(400)]
    proc.kill()  # SIGKILL while it is publishing flat out
    await proc.wait()

    spool = SpoolPublisher(spool_dir)
    survivor = RedisStreamPublisher(
        shared_redis, stream=names.stream, spool=spool, retry_interval=0.05
    )
    await survivor.start()

    async def drained() -> bool:
        return survivor.replayed >= len(accepted)

    await eventually(drained)
    await survivor.close()
    await spool.close()
    got, _ = await drain(consumer(shared_redis, names.stream, "w1"))
    numbers = [int(item.split(b":")[1]) for item in got]
    assert len(numbers) == len(set(numbers))
    assert set(accepted) <= set(numbers)  # every event flushed to the spool survived the kill
    assert got == [event("T", n) for n in numbers]


async def test_entries_taken_by_a_read_whose_reply_was_lost_come_back_first(
    aof_redis: RedisServer,
) -> None:
    redis = stream_client(aof_redis.url, timeout=0.5)
    reader = consumer(redis, "clicks", "w1")
    assert await reader.read_batch(10) is None  # creates the group; nothing pending
    await redis.xadd("clicks", pack_events([b"orphan"]))
    await redis.xadd("clicks", pack_events([b"later"]))
    # The server delivered an entry to w1 but the reply never arrived (here: read by hand).
    await redis.xreadgroup("workers", "w1", {"clicks": ">"}, count=1)
    aof_redis.kill()
    with pytest.raises(RedisConnectionError):
        await reader.read_batch(10)
    aof_redis.start()

    batch = await reader.read_batch(10)
    assert batch is not None
    assert batch.items == [b"orphan"]  # not b"later": the PEL never holds two batches
    await reader.ack(batch)
    rest, _ = await drain(reader)
    assert rest == [b"later"]
    await redis.aclose()
