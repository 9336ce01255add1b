"""Property: whatever the interleaving of publishes, reads, acks and consumer restarts, the acked
records are exactly the published ones, in order, once each."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from linkhop.queue.base import Batch
from linkhop.queue.local import SpoolConsumer, SpoolPublisher


def leftover_segments(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.suffix in (".open", ".seg", ".tmp")]


OPS = st.lists(st.sampled_from(["publish", "publish", "read", "ack", "restart", "flush"]))


async def run(directory: Path, ops: list[str], segment_max_bytes: int, max_items: int) -> None:
    publisher = SpoolPublisher(directory, segment_max_bytes=segment_max_bytes)
    consumer = SpoolConsumer(directory)
    published: list[bytes] = []
    acked: list[bytes] = []
    in_flight: Batch | None = None
    for op in ops:
        if op == "publish":
            published.append(b"event-%d" % len(published))
            publisher.publish(published[-1])
        elif op == "read":
            batch = await consumer.read_batch(max_items)
            if in_flight is not None:
                assert batch == in_flight  # an un-acked batch always comes back unchanged
            in_flight = batch
        elif op == "ack" and in_flight is not None:
            await consumer.ack(in_flight)
            acked.extend(in_flight.items)
            in_flight = None
        elif op == "restart":
            await consumer.close()
            consumer = SpoolConsumer(directory)
            in_flight = None  # the new process knows nothing; the spool replays it
        elif op == "flush":
            await publisher.flush()
    await publisher.close()
    for _ in range(len(published) + 2):  # bounded: a cursor bug must fail, not hang
        batch = await consumer.read_batch(max_items)
        if batch is None:
            break
        await consumer.ack(batch)
        acked.extend(batch.items)
    assert acked == published
    assert await consumer.lag() == 0
    assert leftover_segments(directory) == []
    await consumer.close()


@settings(max_examples=60, deadline=None)
@given(ops=OPS, segment_max_bytes=st.integers(20, 400), max_items=st.integers(1, 7))
def test_acked_records_equal_published_records(
    ops: list[str], segment_max_bytes: int, max_items: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(run(Path(directory), ops, segment_max_bytes, max_items))
