"""What one Redis stream entry of the click stream holds, and the ids and tokens around it.

An entry packs many events (architecture.md §1: one packed XADD every 5 ms ≈ 40 k rps, one XADD
per event ≈ 7.5 k). Its fields:

- ``v``: the format version, ``1``;
- ``n``: the number of events, in ASCII decimal;
- ``e``: the events, each framed as a spool record (``queue/spool_records.py``:
  magic | length u32 LE | crc32 u32 LE | payload). One framing on disk and on the stream: payloads
  are opaque bytes, so no separator can collide, and the CRC turns damage into a clear reason.

Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence

from linkhop.queue.spool_records import HEADER_SIZE, MAGIC, MAX_PAYLOAD, encode_record

FORMAT_VERSION = b"1"
VERSION_FIELD, COUNT_FIELD, EVENTS_FIELD = b"v", b"n", b"e"
_HEADER = struct.Struct("<4sII")  # the spool record header (spool_records.py)


class MalformedEntry(ValueError):
    """A stream entry that cannot be unpacked; the message is the reason stored in the DLQ."""


def pack_events(payloads: Sequence[bytes]) -> dict[bytes, bytes]:
    """The fields of one stream entry holding ``payloads`` (at least one)."""
    if not payloads:
        raise ValueError("a stream entry holds at least one event")
    return {
        VERSION_FIELD: FORMAT_VERSION,
        COUNT_FIELD: str(len(payloads)).encode(),
        EVENTS_FIELD: b"".join([encode_record(p) for p in payloads]),
    }


def declared_count(fields: Mapping[bytes, bytes]) -> int:
    """The entry's ``n`` field, or 1 if unreadable (used only to size reads)."""
    try:
        return max(1, int(fields.get(COUNT_FIELD, b"1")))
    except ValueError:
        return 1


def unpack_events(fields: Mapping[bytes, bytes]) -> list[bytes]:
    """The events of one entry, in publish order; raises ``MalformedEntry`` with the reason."""
    version = fields.get(VERSION_FIELD)
    if version != FORMAT_VERSION:
        raise MalformedEntry(f"unknown entry format version {version!r}")
    raw_count, data = fields.get(COUNT_FIELD), fields.get(EVENTS_FIELD)
    if raw_count is None or data is None:
        raise MalformedEntry("entry lacks the 'n' or 'e' field")
    try:
        count = int(raw_count)
    except ValueError:
        raise MalformedEntry(f"event count {raw_count[:20]!r} is not a number") from None
    items: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        if size - pos < HEADER_SIZE:
            raise MalformedEntry(f"truncated record header at byte {pos}")
        magic, length, crc = _HEADER.unpack_from(data, pos)
        if magic != MAGIC or length > MAX_PAYLOAD:
            raise MalformedEntry(f"bad record header at byte {pos}")
        start, pos = pos + HEADER_SIZE, pos + HEADER_SIZE + length
        if pos > size:
            raise MalformedEntry(f"record at byte {start - HEADER_SIZE} runs past the entry")
        payload = data[start:pos]
        if zlib.crc32(payload) != crc:
            raise MalformedEntry(f"CRC mismatch in the record at byte {start - HEADER_SIZE}")
        items.append(payload)
    if count != len(items) or count < 1:
        raise MalformedEntry(f"'n' says {count} events, 'e' holds {len(items)}")
    return items


def id_key(entry_id: bytes) -> tuple[int, int]:
    """A stream id ``ms-seq`` as a sortable pair (ids compare numerically, not as text)."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or b"0")


def next_id(entry_id: bytes) -> bytes:
    """The smallest id after ``entry_id`` (``XTRIM MINID`` keeps ids >= its argument)."""
    ms, seq = id_key(entry_id)
    if seq == 2**64 - 1:
        return f"{ms + 1}-0".encode()
    return f"{ms}-{seq + 1}".encode()


def batch_token(stream: str, entry_ids: Iterable[bytes]) -> str:
    """The dedup token of a batch: a hash of its stream and its entry ids, in id order.

    The same entries give the same token whoever reads them and however they were fetched, so a
    replay is deduplicated by ClickHouse; the stream name keeps two streams' ids apart.
    """
    digest = hashlib.sha256(b"redis-stream\0" + stream.encode() + b"\0")
    for entry_id in sorted(entry_ids, key=id_key):
        digest.update(entry_id + b"\n")
    return digest.hexdigest()[:32]
