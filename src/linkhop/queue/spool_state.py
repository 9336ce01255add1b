"""The local spool consumer's cursor file: committed offsets and the in-flight batch.

Written atomically (write a new file, fsync it, rename over the old one, fsync the directory), so
after any crash the file holds either the previous state or the new one, never a mix.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "consumer.state"
_NEW_FILE = "consumer.state.new"


@dataclass(frozen=True, slots=True)
class InFlight:
    """The batch handed out and not yet acked: records of ``segment`` in ``[start, end)``."""

    segment: str
    start: int
    end: int
    count: int
    token: str


@dataclass(frozen=True, slots=True)
class SpoolState:
    """Per-segment committed offsets (records before them are acked) and the in-flight batch."""

    committed: dict[str, int]
    inflight: InFlight | None

    def committing(self, segment: str, offset: int) -> SpoolState:
        """This state with ``segment`` committed up to ``offset`` and nothing in flight."""
        return SpoolState({**self.committed, segment: offset}, None)

    def without(self, segments: set[str]) -> SpoolState:
        """This state forgetting the cursors of deleted ``segments``."""
        kept = {s: o for s, o in self.committed.items() if s not in segments}
        return SpoolState(kept, self.inflight)


def load_state(directory: Path) -> SpoolState:
    """The saved state, or an empty one for a new spool."""
    try:
        doc = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SpoolState({}, None)
    raw = doc["inflight"]
    inflight = None if raw is None else InFlight(**raw)
    return SpoolState({str(k): int(v) for k, v in doc["committed"].items()}, inflight)


def save_state(directory: Path, state: SpoolState) -> None:
    """Durably replace the saved state with ``state``."""
    inflight = None if state.inflight is None else asdict(state.inflight)
    new = directory / _NEW_FILE
    with new.open("w", encoding="utf-8") as f:
        json.dump({"committed": state.committed, "inflight": inflight}, f)
        f.flush()
        os.fsync(f.fileno())
    new.replace(directory / STATE_FILE)
    fsync_path(directory)


def fsync_path(path: Path) -> None:
    """fsync a file or directory by path."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
