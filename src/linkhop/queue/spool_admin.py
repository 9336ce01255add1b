"""How much of the local spool (``queue/local.py``) the worker has not ingested yet, read-only.

Counted from the consumer's saved cursor (``spool_state.py``) and the segment files, without
taking ``consumer.lock``: a running worker holds that lock, and a status command must neither
fail because of it nor block a worker starting meanwhile. The numbers are a snapshot; the
in-flight batch counts as not ingested until it is acked, as in ``SpoolConsumer.lag``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from linkhop.queue.local import OPEN, SEALED
from linkhop.queue.spool_records import SegmentView, scan_records
from linkhop.queue.spool_state import load_state


@dataclass(frozen=True, slots=True)
class SpoolDepth:
    """Records and bytes past the committed cursor, over ``segments`` segment files."""

    directory: Path
    exists: bool
    segments: int
    open_segments: int
    events: int
    bytes: int
    in_flight_events: int


def _measure(directory: Path) -> SpoolDepth:
    if not directory.is_dir():
        return SpoolDepth(directory, False, 0, 0, 0, 0, 0)
    state = load_state(directory)
    segments = open_segments = events = pending_bytes = 0
    for path in sorted(directory.iterdir()):
        if path.suffix not in (OPEN, SEALED):
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # sealed (renamed) or consumed (deleted) just now
            continue
        try:
            size = os.fstat(fd).st_size
            start = state.committed.get(path.stem, 0)
            segments += 1
            open_segments += path.suffix == OPEN
            if start >= size:
                continue
            sealed = path.suffix == SEALED
            events += scan_records(SegmentView(fd, size), start, sys.maxsize, sealed=sealed).count
            pending_bytes += size - start
        finally:
            os.close(fd)
    inflight = state.inflight.count if state.inflight is not None else 0
    return SpoolDepth(directory, True, segments, open_segments, events, pending_bytes, inflight)


async def spool_depth(directory: Path) -> SpoolDepth:
    """The spool's backlog: events and bytes written and not yet acked by the worker."""
    return await asyncio.to_thread(_measure, directory)
