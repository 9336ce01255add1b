"""``linkhop queue …`` against the machine's Redis: status, dead letters, redrive, purge.

Entries reach the dead-letter stream through the real consumer (a malformed entry at once, a
batch the worker rejects through ``RedisStreamConsumer.dead_letter``), and redriven ones are
read back by the real consumer. The CLI runs in-process through Typer's runner.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from stream_checks import REDIS_URL, Names, drain, event, free_port
from typer.testing import CliRunner, Result

from linkhop.cli import app
from linkhop.queue.local import SpoolConsumer, SpoolPublisher
from linkhop.queue.redis_entries import pack_events
from linkhop.queue.redis_group import DLQ_REASON
from linkhop.queue.redis_streams import RedisStreamConsumer


def env(names: Names, tmp_path: Path, redis_url: str | None = REDIS_URL) -> dict[str, str]:
    made = {
        "LINKHOP_DATA_DIR": str(tmp_path / "data"),
        "LINKHOP_CLICK_STREAM": names.stream,
        "LINKHOP_CLICK_STREAM_DLQ": names.dlq,
        "LINKHOP_CLICK_STREAM_GROUP": names.group,
    }
    if redis_url is not None:
        made["LINKHOP_REDIS_URL"] = redis_url
    return made


async def cli(environment: dict[str, str], *args: str) -> Result:
    # run_admin calls asyncio.run: the command needs a thread without a running loop.
    return await asyncio.to_thread(CliRunner().invoke, app, ["queue", *args], env=environment)


def consumer(redis: Redis, names: Names, name: str = "w1") -> RedisStreamConsumer:
    return RedisStreamConsumer(
        redis, stream=names.stream, group=names.group, consumer_name=name, dlq_stream=names.dlq
    )


async def rejected_entry(redis: Redis, names: Names, payloads: list[bytes]) -> bytes:
    """Publish ``payloads`` in one entry; the worker rejects the batch (sink down for good)."""
    await redis.xadd(names.stream, pack_events(payloads))
    reader = consumer(redis, names)
    batch = await reader.read_batch(1000)
    assert batch is not None
    assert batch.items == payloads
    await reader.dead_letter(batch, "ClickHouse refused the block: table is read-only")
    [(dlq_id, _)] = await redis.xrange(names.dlq)
    return bytes(dlq_id)


async def test_a_malformed_entry_shows_in_dead_letters_with_its_reason_and_is_not_redriven(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"good"]))
    bad_id = await shared_redis.xadd(names.stream, {b"n": b"1", b"e": b"not framed" * 100})
    got, _ = await drain(consumer(shared_redis, names))
    assert got == [b"good"]
    [(dlq_id, _)] = await shared_redis.xrange(names.dlq)

    result = await cli(env(names, tmp_path), "dead-letters", "--json")
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["id"] == dlq_id.decode()
    assert row["source_id"] == bad_id.decode()
    assert row["reason"].startswith("malformed: unknown entry format version")
    assert row["events"] is None
    assert row["payload_bytes"] == 1000
    assert row["payload_head"] == ("not framed" * 7)[:64]  # the head only, never the whole

    table = await cli(env(names, tmp_path), "dead-letters")
    assert table.exit_code == 0, table.output
    assert dlq_id.decode() in table.stdout
    assert "malformed" in table.stdout

    # Redriving it would only dead-letter it again: refused by id, kept by --all.
    refused = await cli(env(names, tmp_path), "redrive", dlq_id.decode())
    assert refused.exit_code == 1
    assert "nothing was moved" in refused.stderr
    kept = await cli(env(names, tmp_path), "redrive", "--all")
    assert kept.exit_code == 0, kept.output
    assert f"kept {dlq_id.decode()}: malformed" in kept.stdout
    assert await shared_redis.xlen(names.dlq) == 1


async def test_a_redriven_entry_is_ingested_by_the_consumer_exactly_once(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    payloads = [event("R", n) for n in range(5)]
    dlq_id = await rejected_entry(shared_redis, names, payloads)
    await shared_redis.xadd(names.stream, pack_events([b"after"]))
    got, _ = await drain(consumer(shared_redis, names))
    assert got == [b"after"]  # the group went on; the rejected batch waits in the DLQ

    result = await cli(env(names, tmp_path), "redrive", dlq_id.decode())
    assert result.exit_code == 0, result.output
    assert f"moved {dlq_id.decode()} -> " in result.stdout
    assert "moved 1 entries (5 events)" in result.stdout
    assert await shared_redis.xlen(names.dlq) == 0
    # The original packed fields went back, not the DLQ wrapper.
    [(_, fields)] = await shared_redis.xrevrange(names.stream, count=1)
    assert fields == pack_events(payloads)

    # Another worker (or the same one) reads it as new, once.
    first, _ = await drain(consumer(shared_redis, names, "w2"))
    again, _ = await drain(consumer(shared_redis, names, "w1"))
    assert Counter(first + again) == Counter(payloads)
    assert await shared_redis.xlen(names.dlq) == 0


async def test_an_unknown_id_is_an_error_and_moves_nothing(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    dlq_id = (await rejected_entry(shared_redis, names, [b"x", b"y"])).decode()
    length = await shared_redis.xlen(names.stream)

    result = await cli(env(names, tmp_path), "redrive", dlq_id, "1-1")
    assert result.exit_code == 1
    assert "1-1" in result.stderr
    assert "nothing was moved" in result.stderr
    assert "Traceback" not in result.output
    assert await shared_redis.xlen(names.dlq) == 1
    assert await shared_redis.xlen(names.stream) == length

    usage = await cli(env(names, tmp_path), "redrive", "nonsense")
    assert usage.exit_code == 2
    neither = await cli(env(names, tmp_path), "redrive")
    assert neither.exit_code == 2
    assert await shared_redis.xlen(names.dlq) == 1


async def test_a_dry_run_shows_what_would_move_and_moves_nothing(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    dlq_id = (await rejected_entry(shared_redis, names, [b"a", b"b", b"c"])).decode()
    length = await shared_redis.xlen(names.stream)
    for args in (["--all", "--dry-run"], [dlq_id, "--dry-run"]):
        result = await cli(env(names, tmp_path), "redrive", *args)
        assert result.exit_code == 0, result.output
        assert f"would move {dlq_id} (3 events)" in result.stdout
    assert await shared_redis.xlen(names.dlq) == 1
    assert await shared_redis.xlen(names.stream) == length

    moved = await cli(env(names, tmp_path), "redrive", "--all")
    assert moved.exit_code == 0, moved.output
    assert "moved 1 entries (3 events)" in moved.stdout
    assert await shared_redis.xlen(names.dlq) == 0
    got, _ = await drain(consumer(shared_redis, names, "w3"))
    assert got == [b"a", b"b", b"c"]


async def test_status_matches_xlen_and_xpending(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    await rejected_entry(shared_redis, names, [b"dead"])
    for n in range(3):
        await shared_redis.xadd(names.stream, pack_events([event("S", n)]))
    busy = RedisStreamConsumer(
        shared_redis,
        stream=names.stream,
        group=names.group,
        consumer_name="busy",
        dlq_stream=names.dlq,
        events_per_entry_hint=1,
    )
    batch = await busy.read_batch(2)  # two entries pending, one never delivered
    assert batch is not None
    for n in range(3, 7):
        await shared_redis.xadd(names.stream, pack_events([event("S", n)]))

    result = await cli(env(names, tmp_path), "status", "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    pending = await shared_redis.xpending(names.stream, names.group)
    assert doc["backend"] == "redis"
    assert doc["length"] == await shared_redis.xlen(names.stream)
    assert doc["group"]["exists"] is True
    assert doc["group"]["pending"] == pending["pending"] == len(batch.items)
    assert doc["group"]["lag"] == 5  # one left before the read, four added after
    by_name = {c["name"]: c for c in doc["group"]["consumers"]}
    assert {c["name"].decode(): c["pending"] for c in pending["consumers"]} == {"busy": 2}
    assert by_name["busy"]["pending"] == 2
    assert by_name["busy"]["idle_ms"] >= 0
    assert by_name["w1"]["pending"] == 0
    assert doc["dead_letters"] == {"stream": names.dlq, "length": 1}
    assert await shared_redis.xlen(names.dlq) == 1

    table = await cli(env(names, tmp_path), "status")
    assert table.exit_code == 0, table.output
    assert "busy" in table.stdout
    assert "dead letters" in table.stdout


async def test_status_of_a_group_not_created_yet(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    await shared_redis.xadd(names.stream, pack_events([b"early"]))
    result = await cli(env(names, tmp_path), "status", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["length"], doc["group"]["exists"], doc["dead_letters"]["length"]) == (1, False, 0)


async def test_redis_unreachable_is_one_readable_line_and_exit_1(
    names: Names, tmp_path: Path
) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    for args in (["status"], ["dead-letters"], ["redrive", "--all"]):
        result = await cli(env(names, tmp_path, down), *args)
        assert result.exit_code == 1, result.output
        assert "Redis cannot be reached" in result.stderr
        assert "Traceback" not in result.output
        # One message (rich wraps it at the runner's 80 columns).
        assert result.stderr.startswith("error: ")
        assert result.stderr.count("error") == 1


async def test_dead_letter_commands_need_redis(names: Names, tmp_path: Path) -> None:
    result = await cli(env(names, tmp_path, None), "dead-letters")
    assert result.exit_code == 1
    assert "LINKHOP_REDIS_URL is not set" in result.stderr


async def test_status_of_the_embedded_spool_counts_what_is_not_ingested(
    names: Names, tmp_path: Path
) -> None:
    spool = tmp_path / "data" / "spool"
    publisher = SpoolPublisher(spool)
    for n in range(5):
        publisher.publish(event("P", n))
    await publisher.close()
    reader = SpoolConsumer(spool)  # a running worker holds the lock: status must not need it
    try:
        batch = await reader.read_batch(2)
        assert batch is not None
        await reader.ack(batch)
        result = await cli(env(names, tmp_path, None), "status", "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert (doc["backend"], doc["events"]) == ("spool", await reader.lag())
        assert doc["events"] == 3
        assert doc["bytes"] == sum(12 + len(event("P", n)) for n in range(2, 5))
        table = await cli(env(names, tmp_path, None), "status")
        assert table.exit_code == 0, table.output
        assert "events not ingested" in table.stdout
    finally:
        await reader.close()


async def test_purge_needs_yes_and_deletes_below_the_given_id(
    shared_redis: Redis, names: Names, tmp_path: Path
) -> None:
    first = (await rejected_entry(shared_redis, names, [b"one"])).decode()
    await shared_redis.xadd(names.stream, pack_events([b"two"]))
    reader = consumer(shared_redis, names)
    batch = await reader.read_batch(10)
    assert batch is not None
    await reader.dead_letter(batch, "again")
    [_, (second, fields)] = await shared_redis.xrange(names.dlq)
    assert fields[DLQ_REASON] == b"rejected: again"

    unconfirmed = await cli(env(names, tmp_path), "purge-dead-letters", "--all")
    assert unconfirmed.exit_code == 2
    assert await shared_redis.xlen(names.dlq) == 2
    some = await cli(
        env(names, tmp_path), "purge-dead-letters", "--before", second.decode(), "--yes"
    )
    assert some.exit_code == 0, some.output
    assert "deleted 1 dead letters" in some.stdout
    assert [i.decode() for i, _ in await shared_redis.xrange(names.dlq)] == [second.decode()]
    assert first != second.decode()
    rest = await cli(env(names, tmp_path), "purge-dead-letters", "--all", "--yes")
    assert rest.exit_code == 0, rest.output
    assert await shared_redis.xlen(names.dlq) == 0
