"""Crash-test consumer: reads one batch, reports it, then hangs before ack until killed.

Usage: python spool_consumer_proc.py SPOOL_DIR MAX_ITEMS
Prints one line: ``<token> <item count> <sha256 of the items>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

from linkhop.queue.local import SpoolConsumer


def digest(items: list[bytes]) -> str:
    """A hash naming exactly this sequence of payloads."""
    h = hashlib.sha256()
    for item in items:
        h.update(len(item).to_bytes(8, "little") + item)
    return h.hexdigest()


async def main() -> None:
    consumer = SpoolConsumer(Path(sys.argv[1]))
    batch = await consumer.read_batch(int(sys.argv[2]))
    assert batch is not None
    print(batch.token, len(batch.items), digest(batch.items), flush=True)
    await asyncio.Event().wait()  # the crash point: between read_batch and ack


if __name__ == "__main__":
    asyncio.run(main())
