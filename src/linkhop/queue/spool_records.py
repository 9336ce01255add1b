"""Record framing for the local spool (``queue/local.py``): encode, and scan a segment safely.

A record is ``MAGIC | length (u32 LE) | crc32(payload) (u32 LE) | payload``. Scanning is a pure
function of the bytes in ``[start, size)``, so re-scanning the same range (a replayed batch) yields
exactly the same records.
"""

from __future__ import annotations

import enum
import os
import struct
import zlib
from dataclasses import dataclass, field

MAGIC = b"\xc5LH\x01"
_HEADER = struct.Struct("<4sII")
HEADER_SIZE = _HEADER.size
# Click events are a few hundred bytes; the cap bounds what a damaged length can make us read.
MAX_PAYLOAD = 16 * 1024 * 1024
_CHUNK = 256 * 1024


def encode_record(payload: bytes) -> bytes:
    """Frame one payload (any bytes, up to ``MAX_PAYLOAD``)."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"spool payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


class SegmentView:
    """Reads ``[0, size)`` of a segment fd through a window, so a scan costs few ``pread`` calls."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self._buf = b""
        self._at = 0

    def read(self, pos: int, n: int) -> bytes:
        """``n`` bytes at ``pos``, or fewer if the file is shorter than expected."""
        rel = pos - self._at
        if rel < 0 or rel + n > len(self._buf):
            self._buf = os.pread(self.fd, max(n, _CHUNK), pos)
            self._at, rel = pos, 0
        return self._buf[rel : rel + n]

    def find_magic(self, pos: int) -> int:
        """Offset of the next ``MAGIC`` at or after ``pos`` within the view, or -1."""
        while pos < self.size:
            chunk = os.pread(self.fd, min(_CHUNK, self.size - pos), pos)
            hit = chunk.find(MAGIC)
            if hit >= 0:
                return pos + hit
            if len(chunk) < len(MAGIC):
                return -1
            pos += len(chunk) - (len(MAGIC) - 1)  # overlap: a magic may straddle two chunks
        return -1


class _Status(enum.Enum):
    OK = enum.auto()
    INCOMPLETE = enum.auto()  # fewer bytes than the header announces: torn, or still being written
    BAD = enum.auto()  # wrong magic, impossible length or CRC mismatch


def _parse_at(view: SegmentView, pos: int) -> tuple[_Status, bytes]:
    room = view.size - pos
    # A short read means the file is shorter than the scan assumed: treat as not yet written.
    header = view.read(pos, HEADER_SIZE) if room >= HEADER_SIZE else b""
    if len(header) < HEADER_SIZE:
        return _Status.INCOMPLETE, b""
    magic, length, crc = _HEADER.unpack(header)
    if magic != MAGIC or length > MAX_PAYLOAD:
        return _Status.BAD, b""
    payload = view.read(pos + HEADER_SIZE, length) if room - HEADER_SIZE >= length else b""
    if len(payload) < length:
        return _Status.INCOMPLETE, b""
    if zlib.crc32(payload) != crc:
        return _Status.BAD, b""
    return _Status.OK, payload


def _resync(view: SegmentView, pos: int, *, sealed: bool) -> int:
    """Offset of the next record that verifies, or -1 (none yet, or none at all if sealed)."""
    while (candidate := view.find_magic(pos)) >= 0:
        status, _ = _parse_at(view, candidate)
        if status is _Status.OK:
            return candidate
        if status is _Status.INCOMPLETE and not sealed:
            return -1  # may be a record still being written: decide when more bytes arrive
        pos = candidate + 1
    return -1


@dataclass(slots=True)
class Scan:
    """What one scan found: records, where it stopped, and the damage it skipped."""

    end: int
    count: int = 0
    items: list[bytes] = field(default_factory=list)
    skipped: list[tuple[int, int]] = field(default_factory=list)  # corrupt [start, end) spans
    torn: int = 0  # 1 if an incomplete final record of a sealed segment was dropped


def scan_records(
    view: SegmentView, start: int, max_items: int, *, sealed: bool, keep: bool = False
) -> Scan:
    """Read up to ``max_items`` records from ``start``; ``keep`` collects payloads, else counts.

    In a live segment (``sealed=False``) the scan stops before an incomplete record, since the
    producer may still be writing it. In a sealed one, an incomplete tail is dropped as torn and
    every damaged span is skipped up to the next record that verifies.
    """
    scan = Scan(end=start)
    pos = start
    while scan.count < max_items and pos < view.size:
        status, payload = _parse_at(view, pos)
        if status is _Status.OK:
            scan.count += 1
            if keep:
                scan.items.append(payload)
            pos += HEADER_SIZE + len(payload)
            continue
        if status is _Status.INCOMPLETE and not sealed:
            break
        following = _resync(view, pos + 1, sealed=sealed)
        if following >= 0:
            scan.skipped.append((pos, following))
            pos = following
            continue
        if not sealed:
            break
        if status is _Status.INCOMPLETE:
            scan.torn = 1
        else:
            scan.skipped.append((pos, view.size))
        pos = view.size
    scan.end = pos
    return scan
