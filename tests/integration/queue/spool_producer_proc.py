"""Crash-test producer: publishes numbered events forever, printing each id once publish returns.

Usage: python spool_producer_proc.py SPOOL_DIR TAG SEGMENT_MAX_BYTES
"""

from __future__ import annotations

import sys
from pathlib import Path

from linkhop.queue.local import SpoolPublisher


def payload(tag: str, number: int) -> bytes:
    """Event ``number`` of producer ``tag``: an id, then bytes of every value (framing stress).

    test_spool_crash.py holds the same formula to check what the consumer read.
    """
    return f"{tag}:{number}:".encode() + bytes(range(256))[: number % 200]


def main() -> None:
    directory, tag, segment_max_bytes = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    publisher = SpoolPublisher(directory, segment_max_bytes=segment_max_bytes)
    number = 0
    while True:
        publisher.publish(payload(tag, number))
        sys.stdout.write(f"{tag}:{number}\n")
        sys.stdout.flush()  # the parent must see the id only after publish returned
        number += 1


if __name__ == "__main__":
    main()
