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

pytestmark = pytest.mark.slow
# A safety net against a hung child, not a timing assertion.
GIVE_UP_S = 60


def files(directory: Path) -> list[Path]:
    """The spool's segment files (open, sealed or being created)."""
    return sorted(p for p in directory.iterdir() if p.suffix in (".open", ".seg", ".tmp"))


def payload(tag: str, number: int) -> bytes:
    """What spool_producer_proc.py publishes as event ``number`` (same formula as there)."""
    return f"{tag}:{number}:".encode() + bytes(range(256))[: number % 200]


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
    # A never rotates before the kill, so it dies holding an .open segment; B rotates every few
    # dozen events, so the kill may also land mid-rotation (leaving an empty .tmp or no .open).
    producers = {
        "A": await spawn("spool_producer_proc.py", str(tmp_path), "A", str(1 << 30)),
        "B": await spawn("spool_producer_proc.py", str(tmp_path), "B", "8192"),
    }
    printed = {
        tag: await asyncio.wait_for(kill_producer_after(proc, 3000), GIVE_UP_S)
        for tag, proc in producers.items()
    }
    open_segments = [p for p in files(tmp_path) if p.suffix == ".open"]
    assert any(p.name.split("-")[1] == f"{producers['A'].pid:08d}" for p in open_segments)

    consumer = SpoolConsumer(tmp_path)
    consumed: list[bytes] = []
    for _ in range(10_000):  # bounded: a cursor bug must fail the test, not hang it
        batch = await consumer.read_batch(500)
        if batch is None:
            break
        consumed.extend(batch.items)
        await consumer.ack(batch)
    else:
        pytest.fail("the spool never drained")

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
    # Only an abandoned, empty .tmp may remain (removed after an hour by a later consumer scan).
    assert [(p.suffix, p.stat().st_size) for p in files(tmp_path)] in ([], [(".tmp", 0)])
    assert await consumer.lag() == 0
    await consumer.close()


async def test_a_consumer_killed_before_ack_is_replayed_with_the_same_token(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    for number in range(100):
        publisher.publish(payload("C", number))

    proc = await spawn("spool_consumer_proc.py", str(tmp_path), "30")
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), GIVE_UP_S)
    token, hex_items = line.decode().split()
    handed_out = [bytes.fromhex(item) for item in hex_items.split(",")]
    with pytest.raises(SpoolLockedError):
        SpoolConsumer(tmp_path)  # the first consumer is alive and holds the spool
    proc.kill()
    await proc.wait()

    for number in range(100, 120):  # more records land after the batch was handed out
        publisher.publish(payload("C", number))
    replacement = SpoolConsumer(tmp_path)
    replayed = await replacement.read_batch(1000)
    assert replayed is not None
    assert replayed.token == token
    assert replayed.items == handed_out == [payload("C", n) for n in range(30)]

    await replacement.ack(replayed)
    rest = await replacement.read_batch(1000)
    assert rest is not None
    assert rest.token != token
    assert rest.items == [payload("C", n) for n in range(30, 120)]
    await replacement.ack(rest)
    await publisher.close()
    await replacement.close()
