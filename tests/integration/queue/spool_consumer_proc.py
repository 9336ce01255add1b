"""Crash-test consumer: reads one batch, reports it, then hangs before ack until killed.

Usage: python spool_consumer_proc.py SPOOL_DIR MAX_ITEMS
Prints one line: ``<token> <item 1 as hex>,<item 2 as hex>,...``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from linkhop.queue.local import SpoolConsumer


async def main() -> None:
    consumer = SpoolConsumer(Path(sys.argv[1]))
    batch = await consumer.read_batch(int(sys.argv[2]))
    assert batch is not None
    print(batch.token, ",".join(item.hex() for item in batch.items), flush=True)
    await asyncio.Event().wait()  # the crash point: between read_batch and ack


if __name__ == "__main__":
    asyncio.run(main())
