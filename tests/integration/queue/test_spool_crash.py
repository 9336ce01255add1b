"""kill -9 against the local spool: every accepted click is counted exactly once.

Producers and a consumer run as real subprocesses and are killed with SIGKILL mid-work.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from linkhop.queue.local import SpoolConsumer, SpoolLockedError, SpoolPublisher

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # the subprocess scripts double as helpers for the assertions
from spool_consumer_proc import digest  # noqa: E402 - importable only after the path insert
from spool_producer_proc import payload  # noqa: E402 - importable only after the path insert

pytestmark = pytest.mark.slow
# A safety net against a hung child, not a timing assertion.
GIVE_UP_S = 60


def files(directory: Path) -> list[Path]:
    """The spool's segment files (open, sealed or being created)."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".open", ".seg", ".tmp"))


async def spawn(script: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / script), *args, stdout=asyncio.subprocess.PIPE
    )


async def kill_producer_after(proc: asyncio.subprocess.Process, lines: int) -> list[str]:
    """Ids the producer printed (each one accepted) until it was killed after ``lines`` ids."""
    assert proc.stdout is not None
    printed = [(await proc.stdout.readline()).decode() for _ in range(lines)]
    proc.kill()  # SIGKILL while it is publishing flat out
    rest = (await proc.stdout.read()).decode()
    await proc.wait()
    # A line cut by the kill has no newline: its publish returned, but its id is unreadable.
    printed += rest.splitlines(keepends=True)
    return [line.rstrip("\n") for line in printed if line.endswith("\n")]


async def test_killed_producers_lose_no_accepted_click_and_none_is_counted_twice(
    tmp_path: Path,
) -> None:
    # Small segments so the kill can also land in a rotation.
    producers = {
        tag: await spawn("spool_producer_proc.py", str(tmp_path), tag, "8192") for tag in "AB"
    }
    printed = {
        tag: await asyncio.wait_for(kill_producer_after(proc, 3000), GIVE_UP_S)
        for tag, proc in producers.items()
    }
    assert [p.suffix for p in files(tmp_path)].count(".open") == 2  # one per dead producer

    consumer = SpoolConsumer(tmp_path)
    consumed: list[bytes] = []
    while (batch := await consumer.read_batch(500)) is not None:
        consumed.extend(batch.items)
        await consumer.ack(batch)

    ids = [
        item.split(b":", 2)[0].decode() + ":" + item.split(b":", 2)[1].decode() for item in consumed
    ]
    assert len(ids) == len(set(ids)), "a click was counted twice"
    for tag, accepted in printed.items():
        numbers = [int(i.split(":")[1]) for i in ids if i.startswith(f"{tag}:")]
        assert numbers == list(range(len(numbers))), "a producer's clicks came back out of order"
        assert set(accepted) <= {f"{tag}:{n}" for n in numbers}, "an accepted click was lost"
        # At most one click was written but not yet printed when the kill landed.
        assert len(numbers) - len(accepted) in (0, 1)
    for item, event_id in zip(consumed, ids, strict=True):
        tag, number = event_id.split(":")
        assert item == payload(tag, int(number))
    assert files(tmp_path) == []
    assert await consumer.lag() == 0
    await consumer.close()


async def test_a_consumer_killed_before_ack_is_replayed_with_the_same_token(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    for number in range(100):
        publisher.publish(payload("C", number))

    proc = await spawn("spool_consumer_proc.py", str(tmp_path), "30")
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), GIVE_UP_S)
    token, count, items_digest = line.decode().split()
    with pytest.raises(SpoolLockedError):
        SpoolConsumer(tmp_path)  # the first consumer is alive and holds the spool
    proc.kill()
    await proc.wait()

    for number in range(100, 120):  # more records land after the batch was handed out
        publisher.publish(payload("C", number))
    replacement = SpoolConsumer(tmp_path)
    replayed = await replacement.read_batch(1000)
    assert replayed is not None
    assert (replayed.token, len(replayed.items), digest(replayed.items)) == (
        token,
        int(count),
        items_digest,
    )
    assert replayed.items == [payload("C", n) for n in range(30)]

    await replacement.ack(replayed)
    rest = await replacement.read_batch(1000)
    assert rest is not None
    assert rest.token != token
    assert rest.items == [payload("C", n) for n in range(30, 120)]
    await replacement.ack(rest)
    await publisher.close()
    await replacement.close()
