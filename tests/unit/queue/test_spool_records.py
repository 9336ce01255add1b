"""Spool record framing and scanning on raw bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linkhop.queue.spool_records import MAGIC, SegmentView, encode_record, scan_records


@pytest.fixture
def segment(tmp_path: Path) -> Path:
    path = tmp_path / "segment"
    path.write_bytes(b"")
    return path


def scan(
    path: Path, *, sealed: bool, start: int = 0, max_items: int = 10**9
) -> tuple[list[bytes], int, list[tuple[int, int]], int]:
    fd = os.open(path, os.O_RDONLY)
    try:
        view = SegmentView(fd, path.stat().st_size)
        found = scan_records(view, start, max_items, sealed=sealed, keep=True)
    finally:
        os.close(fd)
    return found.items, found.end, found.skipped, found.torn


def test_scan_stops_at_max_items_on_a_record_boundary(segment: Path) -> None:
    segment.write_bytes(b"".join(encode_record(b"r%d" % i) for i in range(5)))
    items, end, skipped, torn = scan(segment, sealed=True, max_items=2)
    assert items == [b"r0", b"r1"]
    assert end == 2 * len(encode_record(b"r0"))
    items, _, _, _ = scan(segment, sealed=True, start=end)
    assert items == [b"r2", b"r3", b"r4"]
    assert (skipped, torn) == ([], 0)


def test_incomplete_tail_waits_when_live_and_is_torn_when_sealed(segment: Path) -> None:
    whole = encode_record(b"whole")
    segment.write_bytes(whole + encode_record(b"partial")[:-2])
    assert scan(segment, sealed=False) == ([b"whole"], len(whole), [], 0)
    assert scan(segment, sealed=True) == ([b"whole"], segment.stat().st_size, [], 1)


def test_a_header_cut_short_is_torn_too(segment: Path) -> None:
    segment.write_bytes(encode_record(b"a") + MAGIC[:3])
    items, end, skipped, torn = scan(segment, sealed=True)
    assert (items, end, skipped, torn) == ([b"a"], segment.stat().st_size, [], 1)


def test_resync_finds_a_record_far_past_damage_across_read_chunks(segment: Path) -> None:
    # 600 KB of garbage spans several 256 KB read windows; the magic straddles one boundary.
    garbage = b"\x00" * (256 * 1024 - 2)
    after = encode_record(b"after")
    segment.write_bytes(encode_record(b"before") + garbage + after)
    items, end, skipped, torn = scan(segment, sealed=False)
    first = len(encode_record(b"before"))
    assert items == [b"before", b"after"]
    assert skipped == [(first, first + len(garbage))]
    assert (end, torn) == (segment.stat().st_size, 0)


def test_fake_magic_inside_a_payload_does_not_confuse_resync(segment: Path) -> None:
    # The damaged record's payload holds a magic that does not start a valid record.
    damaged = bytearray(encode_record(MAGIC + b"\x05\x00\x00\x00junk" + b"z" * 20))
    damaged[0] ^= 0xFF
    segment.write_bytes(bytes(damaged) + encode_record(b"good"))
    items, _, skipped, _ = scan(segment, sealed=True)
    assert items == [b"good"]
    assert skipped == [(0, len(damaged))]


def test_damage_with_nothing_after_it_waits_when_live(segment: Path) -> None:
    ok = encode_record(b"ok")
    segment.write_bytes(ok + b"\xde\xad" * 20)
    assert scan(segment, sealed=False) == ([b"ok"], len(ok), [], 0)
    size = segment.stat().st_size
    assert scan(segment, sealed=True) == ([b"ok"], size, [(len(ok), size)], 0)
