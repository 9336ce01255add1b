"""Crash-test redirect: publishes to a Redis that is down, so every event lands in the spool.

Usage: python redis_publisher_proc.py SPOOL_DIR REDIS_URL TAG
Publishes ``event(TAG, n)`` for n = 0, 1, … in groups of 20; after each group's ``flush`` (the
point where the spool holds it) prints the group's numbers, one per line. Runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from stream_checks import event

from linkhop.logging import configure_logging
from linkhop.queue.local import SpoolPublisher
from linkhop.queue.redis_streams import RedisStreamPublisher, stream_client


async def main() -> None:
    configure_logging(fmt="console")  # stderr: stdout carries the protocol to the test
    spool_dir, url, tag = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    publisher = RedisStreamPublisher(
        stream_client(url, timeout=0.5), stream="unused", spool=SpoolPublisher(spool_dir)
    )
    await publisher.start()
    number = 0
    while True:
        group = range(number, number + 20)
        for n in group:
            publisher.publish(event(tag, n))
        await publisher.flush()
        print("\n".join(str(n) for n in group), flush=True)
        number += 20


if __name__ == "__main__":
    asyncio.run(main())
