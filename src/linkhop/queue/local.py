"""The embedded click queue: a durable local spool, a directory of append-only segment files.

Framing: every record is ``magic(4) | length(4, LE) | crc32(payload)(4, LE) | payload``. Chosen
over base64/newline lines because payloads are opaque bytes: no 33 % inflation and no encoding
pass on the redirect hot path, just one ``crc32`` and one 12-byte header. A torn final record
(producer killed mid-write) is shorter than its length says; a record damaged in the middle fails
its magic or CRC, and the reader resynchronises on the next magic whose record verifies. The CRC
covers only the payload: a damaged length selects a different span, which fails the CRC.

Files, for N producers (redirect replicas) and one consumer (the worker) on one host:

- ``<time_ns>-<pid>-<random>.open``: a producer's current segment. The producer creates it as
  ``.tmp``, takes an exclusive ``flock`` and only then renames it, so every ``.open`` file is
  locked while its producer lives. Names sort by creation time and never collide.
- ``<stem>.seg``: a sealed segment (rotated by size or age, or the producer closed). A ``.open``
  whose lock the consumer CAN take belongs to a dead producer: the consumer seals it itself.
- ``consumer.lock`` (one consumer at a time) and ``consumer.state``: per-segment committed offsets
  plus the in-flight batch ``(segment, start, end)``, written atomically (tmp, fsync, rename,
  fsync dir) BEFORE the batch is returned, so a restarted consumer replays exactly that batch with
  the same token even if more records were appended since. A batch never spans two segments.

Durability: ``publish`` makes one unbuffered ``write`` on an ``O_APPEND`` fd, so a record is safe
from a process ``kill -9`` once it returns. There is no fsync per event: an OS crash or power loss
can lose the page-cache tail since the last ``flush()`` (which fsyncs, and seals an idle segment
so the consumer can delete it: call it periodically, e.g. every second). Local filesystems only
(``flock`` semantics over NFS vary). Create publishers after any ``fork``: a child inheriting the
fd shares the lock and would keep a dead parent's segment looking alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from linkhop.queue.base import Batch
from linkhop.queue.spool_records import MAX_PAYLOAD, SegmentView, encode_record, scan_records
from linkhop.queue.spool_state import InFlight, SpoolState, fsync_path, load_state, save_state

__all__ = ["MAX_PAYLOAD", "SpoolConsumer", "SpoolLockedError", "SpoolPublisher", "batch_token"]

OPEN, SEALED, TMP = ".open", ".seg", ".tmp"
_LOCK = "consumer.lock"
# A producer holds a .tmp name for microseconds; one this old was abandoned by a crash.
_STALE_TMP_S = 3600.0


def batch_token(segment: str, start: int, end: int) -> str:
    """The deterministic dedup token for the records of ``segment`` in ``[start, end)``."""
    return hashlib.sha256(f"{segment}:{start}:{end}".encode()).hexdigest()[:32]


class SpoolLockedError(RuntimeError):
    """Another consumer already holds this spool."""


class SpoolPublisher:
    """Appends records to this process's own segment; not thread-safe (one event loop)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_max_bytes: int = 64 * 1024 * 1024,
        segment_max_age_s: float = 60.0,
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._max_bytes = segment_max_bytes
        self._max_age = segment_max_age_s
        self._fd = -1
        self._stem = ""
        self._size = 0
        # -inf makes the next publish open a segment: the hot path needs no "is open" check.
        self._deadline = -math.inf
        self._unsynced: list[Path] = []
        self._closed = False
        self.published = 0
        self.bytes_written = 0
        self.segments_opened = 0

    def publish(self, payload: bytes) -> None:
        """Append one record; it survives a process crash once this returns."""
        frame = encode_record(payload)
        size = self._size
        if (size and size + len(frame) > self._max_bytes) or time.monotonic() >= self._deadline:
            self._rotate()
            size = 0
        fd = self._fd
        try:
            written = os.write(fd, frame)
            while written < len(frame):  # short writes are rare (signals, nearly full disk)
                step = os.write(fd, memoryview(frame)[written:])
                if step == 0:
                    raise OSError("spool segment accepted no bytes")
                written += step
        except BaseException:
            # Cut the partial record so the next one does not follow garbage.
            os.ftruncate(fd, size)
            raise
        self._size = size + len(frame)
        self.published += 1
        self.bytes_written += len(frame)

    async def flush(self) -> None:
        """Seal an idle segment and fsync what was written, so an OS crash loses nothing."""
        if self._fd >= 0 and time.monotonic() >= self._deadline:
            self._seal()
        # A dup keeps the inode valid even if publish rotates and closes the fd meanwhile.
        fds = [os.dup(self._fd)] if self._fd >= 0 else []
        paths, self._unsynced = self._unsynced, []
        await asyncio.to_thread(_fsync_all, self.directory, fds, paths)

    async def close(self) -> None:
        """Seal the current segment and fsync; later publishes raise."""
        if self._closed:
            return
        self._closed = True
        self._seal()
        await self.flush()

    def _rotate(self) -> None:
        if self._closed:
            raise RuntimeError("the spool publisher is closed")
        self._seal()
        stem = f"{time.time_ns():020d}-{os.getpid():08d}-{secrets.token_hex(4)}"
        tmp = self.directory / (stem + TMP)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(tmp, self.directory / (stem + OPEN))
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        self._fd, self._stem, self._size = fd, stem, 0
        self._deadline = time.monotonic() + self._max_age
        self.segments_opened += 1

    def _seal(self) -> None:
        if self._fd < 0:
            return
        fd, sealed = self._fd, self.directory / (self._stem + SEALED)
        self._fd, self._deadline = -1, -math.inf
        try:
            os.rename(self.directory / (self._stem + OPEN), sealed)
        finally:
            os.close(fd)  # releases the flock, after the rename, so the file never looks dead
        self._unsynced.append(sealed)


def _fsync_all(directory: Path, fds: list[int], paths: list[Path]) -> None:
    try:
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)
    for path in paths:
        with contextlib.suppress(FileNotFoundError):  # already consumed and deleted
            fsync_path(path)
    fsync_path(directory)


class SpoolConsumer:
    """Reads the spool in segment order; the only consumer while it lives (``consumer.lock``)."""

    def __init__(
        self, directory: Path, *, on_corrupt: Callable[[str, int, int], None] | None = None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        lock = directory / _LOCK
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLockedError(f"another consumer holds {lock}") from None
        self._lock_fd: int | None = fd
        self._state = load_state(directory)
        # A thread lock, not an asyncio one: a cancelled await leaves its thread running.
        self._guard = threading.Lock()
        self._on_corrupt = on_corrupt
        # segment -> (committed offset counted from, offset counted to, records in between)
        self._counts: dict[str, tuple[int, int, int]] = {}
        self.corrupt_records = 0
        self.torn_records = 0
        self.replayed_batches = 0
        self.lost_batches = 0
        self.acked = 0

    async def read_batch(self, max_items: int) -> Batch | None:
        """The un-acked batch again if there is one, else up to ``max_items`` new records."""
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        return await asyncio.to_thread(self._read_batch, max_items)

    async def ack(self, batch: Batch) -> None:
        """Durably commit ``batch`` and delete segments that are sealed and fully consumed."""
        await asyncio.to_thread(self._ack, batch)

    async def lag(self) -> int:
        """Records published and not yet acked (the in-flight batch included)."""
        return await asyncio.to_thread(self._lag)

    async def close(self) -> None:
        """Release the consumer lock; the in-flight batch stays recorded for replay."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._guard:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _read_batch(self, max_items: int) -> Batch | None:
        with self._guard:
            self._check_open()
            if self._state.inflight is not None:
                replayed = self._replay(self._state.inflight)
                if replayed is not None:
                    return replayed
            for stem in self._list_segments():
                batch = self._read_segment(stem, max_items)
                if batch is not None:
                    return batch
            return None

    def _replay(self, inflight: InFlight) -> Batch | None:
        opened = self._open_segment(inflight.segment, probe=False)
        if opened is None:  # deleted behind our back: nothing left to replay
            self.lost_batches += 1
            self._write_state(SpoolState(self._state.committed, None))
            return None
        fd, _ = opened
        try:
            view = SegmentView(fd, inflight.end)
            scan = scan_records(view, inflight.start, sys.maxsize, sealed=True, keep=True)
        finally:
            os.close(fd)
        self.replayed_batches += 1
        return Batch(token=inflight.token, items=scan.items)

    def _read_segment(self, stem: str, max_items: int) -> Batch | None:
        opened = self._open_segment(stem, probe=True)
        if opened is None:
            return None
        fd, sealed = opened
        start = self._state.committed.get(stem, 0)
        try:
            # Sealed-ness is decided before the size is read: a sealed file no longer grows.
            size = os.fstat(fd).st_size
            if start >= size:
                if sealed:
                    self._delete(stem)
                return None
            scan = scan_records(SegmentView(fd, size), start, max_items, sealed=sealed, keep=True)
        finally:
            os.close(fd)
        for bad_start, bad_end in scan.skipped:
            self.corrupt_records += 1
            if self._on_corrupt is not None:
                self._on_corrupt(stem, bad_start, bad_end)
        self.torn_records += scan.torn
        if scan.items:
            token = batch_token(stem, start, scan.end)
            inflight = InFlight(stem, start, scan.end, len(scan.items), token)
            self._write_state(SpoolState(self._state.committed, inflight))
            return Batch(token=token, items=scan.items)
        if scan.end > start:  # only damaged bytes: nothing to deliver, commit past them
            self._write_state(self._state.committing(stem, scan.end))
            if sealed and scan.end >= size:
                self._delete(stem)
        return None

    def _ack(self, batch: Batch) -> None:
        with self._guard:
            self._check_open()
            inflight = self._state.inflight
            if inflight is None or inflight.token != batch.token:
                raise ValueError(f"batch {batch.token} is not the batch in flight")
            self._write_state(self._state.committing(inflight.segment, inflight.end))
            self.acked += inflight.count
            counted = self._counts.pop(inflight.segment, None)
            if counted is not None and counted[0] == inflight.start and counted[1] >= inflight.end:
                self._counts[inflight.segment] = (
                    inflight.end,
                    counted[1],
                    counted[2] - inflight.count,
                )
            with contextlib.suppress(FileNotFoundError):
                if (self.directory / (inflight.segment + SEALED)).stat().st_size <= inflight.end:
                    self._delete(inflight.segment)

    def _lag(self) -> int:
        with self._guard:
            self._check_open()
            stems = self._list_segments()
            self._counts = {s: c for s, c in self._counts.items() if s in stems}
            return sum(self._pending(stem) for stem in stems)

    def _pending(self, stem: str) -> int:
        # No lock probe here: a dead producer's torn tail holds no record, so counting an
        # .open segment as live gives the same number without sealing it from a metrics call.
        opened = self._open_segment(stem, probe=False)
        if opened is None:
            return 0
        fd, sealed = opened
        start = self._state.committed.get(stem, 0)
        base, pos, count = self._counts.get(stem, (start, start, 0))
        if base != start:
            base, pos, count = start, start, 0
        try:
            size = os.fstat(fd).st_size
            if pos < size:
                scan = scan_records(SegmentView(fd, size), pos, sys.maxsize, sealed=sealed)
                pos, count = scan.end, count + scan.count
        finally:
            os.close(fd)
        self._counts[stem] = (base, pos, count)
        return count

    def _list_segments(self) -> list[str]:
        stems: set[str] = set()
        stale = time.time() - _STALE_TMP_S
        with os.scandir(self.directory) as entries:
            for entry in entries:
                stem, dot, suffix = entry.name.rpartition(".")
                if f"{dot}{suffix}" in (OPEN, SEALED):
                    stems.add(stem)
                elif f"{dot}{suffix}" == TMP:
                    # A fresh .tmp may be renamed to .open under us: then there is nothing to do.
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < stale:
                            Path(entry.path).unlink(missing_ok=True)
        # readdir may miss a file renamed during the scan: a cursor is dropped only when the
        # segment is really gone (.open checked first, because renames only go .open -> .seg).
        gone = [s for s in self._state.committed if s not in stems and not self._exists(s)]
        if gone:
            self._state = self._state.without(set(gone))  # persisted with the next write
        return sorted(stems)

    def _exists(self, stem: str) -> bool:
        base = self.directory / stem
        return Path(f"{base}{OPEN}").exists() or Path(f"{base}{SEALED}").exists()

    def _open_segment(self, stem: str, *, probe: bool) -> tuple[int, bool] | None:
        """An fd on the segment and whether it is sealed (``probe``: test a .open's lock)."""
        base = self.directory / stem
        try:
            fd = os.open(f"{base}{OPEN}", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            try:
                return os.open(f"{base}{SEALED}", os.O_RDONLY | os.O_CLOEXEC), True
            except FileNotFoundError:
                return None
        if not probe:
            return fd, False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return fd, False  # a live producer is still appending
        # The producer died (or sealed and closed this instant): seal on its behalf.
        with contextlib.suppress(FileNotFoundError):
            os.rename(f"{base}{OPEN}", f"{base}{SEALED}")
        return fd, True

    def _delete(self, stem: str) -> None:
        # The committed offset is already durable, so a crash here only leaves a file that
        # the next scan finds fully consumed and deletes.
        (self.directory / (stem + SEALED)).unlink(missing_ok=True)
        self._counts.pop(stem, None)
        self._state = self._state.without({stem})

    def _write_state(self, state: SpoolState) -> None:
        save_state(self.directory, state)
        self._state = state

    def _check_open(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("the spool consumer is closed")
