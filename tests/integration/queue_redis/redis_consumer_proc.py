"""Crash-test worker: reads one batch from the click stream, reports it, hangs before the ack.

Usage: python redis_consumer_proc.py REDIS_URL STREAM GROUP CONSUMER DLQ MAX_ITEMS
Prints one line: ``<token> <item 1 as hex>,<item 2 as hex>,...``, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys

from linkhop.logging import configure_logging
from linkhop.queue.redis_streams import RedisStreamConsumer, stream_client


async def main() -> None:
    configure_logging(fmt="console")  # stderr: stdout carries the protocol to the test
    url, stream, group, name, dlq, max_items = sys.argv[1:7]
    consumer = RedisStreamConsumer(
        stream_client(url), stream=stream, group=group, consumer_name=name, dlq_stream=dlq
    )
    batch = await consumer.read_batch(int(max_items))
    assert batch is not None
    print(batch.token, ",".join(item.hex() for item in batch.items), flush=True)
    await asyncio.Event().wait()  # the crash point: between read_batch and ack


if __name__ == "__main__":
    asyncio.run(main())
