"""The local spool against real files: publish, read, ack, rotation, damage, multiple producers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linkhop.queue.base import ClickConsumer, ClickPublisher
from linkhop.queue.local import SpoolConsumer, SpoolLockedError, SpoolPublisher, batch_token
from linkhop.queue.spool_records import HEADER_SIZE, MAGIC, encode_record


def segments(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".open", ".seg"))


async def drain(consumer: SpoolConsumer, max_items: int = 1000) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(10_000):  # bounded: a cursor bug must fail the test, not hang it
        batch = await consumer.read_batch(max_items)
        if batch is None:
            return got
        got.extend(batch.items)
        await consumer.ack(batch)
    pytest.fail("the spool never drained")


def test_classes_satisfy_the_queue_protocols(tmp_path: Path) -> None:
    publisher: ClickPublisher = SpoolPublisher(tmp_path)
    consumer: ClickConsumer = SpoolConsumer(tmp_path)
    assert publisher is not None
    assert consumer is not None


async def test_publish_read_ack_until_lag_is_zero_and_segments_are_gone(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    payloads = [f"click-{i}".encode() for i in range(250)]
    for payload in payloads:
        publisher.publish(payload)
    await publisher.close()
    consumer = SpoolConsumer(tmp_path)
    assert await consumer.lag() == 250

    got: list[bytes] = []
    sizes: list[int] = []
    while (batch := await consumer.read_batch(100)) is not None:
        got.extend(batch.items)
        sizes.append(len(batch.items))
        assert len(got) <= len(payloads)  # a re-read must fail here rather than loop forever
        assert await consumer.lag() == 250 - len(got) + len(batch.items)  # in flight still counts
        await consumer.ack(batch)
        assert await consumer.lag() == 250 - len(got)

    assert got == payloads
    assert sizes == [100, 100, 50]
    assert segments(tmp_path) == []
    assert publisher.published == 250
    assert publisher.bytes_written == sum(HEADER_SIZE + len(p) for p in payloads)
    assert consumer.acked == 250
    await consumer.close()


async def test_payloads_may_hold_any_bytes(tmp_path: Path) -> None:
    payloads = [b"", bytes(range(256)), MAGIC * 3, b"\n\r\x00" * 10, os.urandom(200_000)]
    publisher = SpoolPublisher(tmp_path)
    for payload in payloads:
        publisher.publish(payload)
    await publisher.close()
    consumer = SpoolConsumer(tmp_path)
    assert await drain(consumer) == payloads
    assert consumer.corrupt_records == 0


async def test_rotation_by_size_keeps_order_and_batches_stay_in_one_segment(tmp_path: Path) -> None:
    # 40-byte payloads frame to 52 bytes: three fit under 200, a fourth starts a new segment.
    publisher = SpoolPublisher(tmp_path, segment_max_bytes=200)
    payloads = [f"{i:040d}".encode() for i in range(50)]
    for payload in payloads:
        publisher.publish(payload)
    await publisher.close()
    assert len(segments(tmp_path)) == 17
    assert publisher.segments_opened == 17

    consumer = SpoolConsumer(tmp_path)
    got: list[bytes] = []
    while (batch := await consumer.read_batch(1000)) is not None:
        assert len(batch.items) <= 3
        got.extend(batch.items)
        assert len(got) <= len(payloads)  # a re-read must fail here rather than loop forever
        await consumer.ack(batch)
    assert got == payloads
    assert segments(tmp_path) == []


async def test_rotation_by_age_and_flush_seals_an_idle_segment(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path, segment_max_age_s=0)
    for i in range(4):
        publisher.publish(b"%d" % i)
    assert [name.rsplit(".", 1)[1] for name in segments(tmp_path)] == ["seg", "seg", "seg", "open"]
    await publisher.flush()
    assert all(name.endswith(".seg") for name in segments(tmp_path))
    consumer = SpoolConsumer(tmp_path)
    assert await drain(consumer) == [b"0", b"1", b"2", b"3"]
    assert segments(tmp_path) == []
    await publisher.close()


async def test_a_live_open_segment_is_read_up_to_its_end_and_kept(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    consumer = SpoolConsumer(tmp_path)
    for i in range(3):
        publisher.publish(b"a%d" % i)
    assert await drain(consumer) == [b"a0", b"a1", b"a2"]
    [live] = segments(tmp_path)
    assert live.endswith(".open")  # the producer still holds it: not sealed, not deleted

    publisher.publish(b"b0")
    publisher.publish(b"b1")
    assert await consumer.lag() == 2
    assert await drain(consumer) == [b"b0", b"b1"]
    assert segments(tmp_path) == [live]

    await publisher.close()
    assert await consumer.read_batch(10) is None
    assert segments(tmp_path) == []


async def test_a_dead_producers_open_segment_is_sealed_and_consumed(tmp_path: Path) -> None:
    # Nobody holds a lock on this .open file: its producer is gone.
    stem = "00000000000000000001-00000042-deadbeef"
    (tmp_path / f"{stem}.open").write_bytes(encode_record(b"x") + encode_record(b"y"))
    consumer = SpoolConsumer(tmp_path)
    batch = await consumer.read_batch(10)
    assert batch is not None
    assert batch.items == [b"x", b"y"]
    assert segments(tmp_path) == [f"{stem}.seg"]
    await consumer.ack(batch)
    assert segments(tmp_path) == []


async def test_torn_final_record_is_skipped_once_the_segment_is_sealed(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    for i in range(3):
        publisher.publish(b"ok%d" % i)
    [live] = segments(tmp_path)
    with (tmp_path / live).open("ab") as f:  # a producer killed in the middle of a write
        f.write(encode_record(b"t" * 50)[:30])

    consumer = SpoolConsumer(tmp_path)
    assert await drain(consumer) == [b"ok0", b"ok1", b"ok2"]
    assert consumer.torn_records == 0  # live: the rest may still be on its way

    await publisher.close()  # now sealed: the partial record can never complete
    assert await drain(consumer) == []
    assert consumer.torn_records == 1
    assert consumer.corrupt_records == 0
    assert segments(tmp_path) == []
    assert await consumer.lag() == 0


async def test_torn_record_in_a_dead_producers_segment(tmp_path: Path) -> None:
    stem = "00000000000000000001-00000042-0badf00d"
    (tmp_path / f"{stem}.open").write_bytes(encode_record(b"whole") + encode_record(b"torn")[:-1])
    consumer = SpoolConsumer(tmp_path)
    assert await drain(consumer) == [b"whole"]
    assert consumer.torn_records == 1
    assert segments(tmp_path) == []


def _damage(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.mark.parametrize(
    ("where", "data"),
    [
        pytest.param(HEADER_SIZE + 3, b"\xff", id="payload-bit-rot"),
        pytest.param(0, b"XXXX", id="bad-magic"),
        pytest.param(4, (2_000_000).to_bytes(4, "little"), id="bad-length"),
        pytest.param(8, b"\x00\x00\x00\x00", id="bad-crc"),
    ],
)
async def test_a_corrupt_middle_record_is_skipped_and_reported(
    tmp_path: Path, where: int, data: bytes
) -> None:
    publisher = SpoolPublisher(tmp_path)
    for payload in (b"first", b"second-record", b"third"):
        publisher.publish(payload)
    await publisher.close()
    [name] = segments(tmp_path)
    second_at = HEADER_SIZE + len(b"first")
    third_at = second_at + HEADER_SIZE + len(b"second-record")
    _damage(tmp_path / name, second_at + where, data)

    reported: list[tuple[str, int, int]] = []
    consumer = SpoolConsumer(tmp_path, on_corrupt=lambda *span: reported.append(span))
    assert await drain(consumer) == [b"first", b"third"]
    assert consumer.corrupt_records == 1
    assert reported == [(name.removesuffix(".seg"), second_at, third_at)]
    assert segments(tmp_path) == []


async def test_garbage_tail_is_reported_and_the_segment_still_deleted(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    publisher.publish(b"kept")
    await publisher.close()
    [name] = segments(tmp_path)
    with (tmp_path / name).open("ab") as f:  # what a power loss can leave: zeroed blocks
        f.write(b"\x00" * 4096)
    consumer = SpoolConsumer(tmp_path)
    assert await drain(consumer) == [b"kept"]
    assert consumer.corrupt_records == 1
    assert segments(tmp_path) == []


async def test_tokens_are_deterministic_and_distinct(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    for i in range(10):
        publisher.publish(b"%d" % i)
    await publisher.close()
    [name] = segments(tmp_path)
    stem = name.removesuffix(".seg")
    consumer = SpoolConsumer(tmp_path)

    first = await consumer.read_batch(4)
    assert first is not None
    assert first.token == batch_token(stem, 0, 4 * (HEADER_SIZE + 1))
    again = await consumer.read_batch(2)  # not acked: the same batch, whatever max_items says
    assert again == first
    await consumer.ack(first)
    second = await consumer.read_batch(4)
    assert second is not None
    assert second.token != first.token
    assert second.items == [b"4", b"5", b"6", b"7"]


async def test_replay_after_a_consumer_restart_ignores_newer_records(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    for i in range(10):
        publisher.publish(b"old-%d" % i)
    consumer = SpoolConsumer(tmp_path)
    batch = await consumer.read_batch(4)
    assert batch is not None
    await consumer.close()  # "crashed" before ack

    for i in range(5):
        publisher.publish(b"new-%d" % i)  # appended to the very segment the batch came from
    restarted = SpoolConsumer(tmp_path)
    replayed = await restarted.read_batch(100)
    assert replayed is not None
    assert replayed.token == batch.token
    assert replayed.items == batch.items == [b"old-0", b"old-1", b"old-2", b"old-3"]
    assert restarted.replayed_batches == 1

    await restarted.ack(replayed)
    rest = await drain(restarted)
    assert rest == [b"old-%d" % i for i in range(4, 10)] + [b"new-%d" % i for i in range(5)]
    await publisher.close()


async def test_only_one_consumer_at_a_time(tmp_path: Path) -> None:
    first = SpoolConsumer(tmp_path)
    with pytest.raises(SpoolLockedError, match=r"consumer\.lock"):
        SpoolConsumer(tmp_path)
    await first.close()
    second = SpoolConsumer(tmp_path)
    await second.close()
    with pytest.raises(RuntimeError, match="closed"):
        await second.read_batch(1)


async def test_ack_must_name_the_batch_in_flight(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    publisher.publish(b"one")
    consumer = SpoolConsumer(tmp_path)
    batch = await consumer.read_batch(10)
    assert batch is not None
    with pytest.raises(ValueError, match="not the batch in flight"):
        await consumer.ack(type(batch)(token="forged", items=batch.items))
    await consumer.ack(batch)
    with pytest.raises(ValueError, match="not the batch in flight"):
        await consumer.ack(batch)  # twice
    with pytest.raises(ValueError, match="at least 1"):
        await consumer.read_batch(0)
    await publisher.close()


async def test_producers_sharing_a_directory_keep_their_own_order(tmp_path: Path) -> None:
    left, right = SpoolPublisher(tmp_path), SpoolPublisher(tmp_path, segment_max_bytes=100)
    for i in range(30):
        left.publish(b"L%d" % i)
        right.publish(b"R%d" % i)
    consumer = SpoolConsumer(tmp_path)
    assert await consumer.lag() == 60
    await left.close()
    await right.close()
    got = await drain(consumer)
    assert [g for g in got if g.startswith(b"L")] == [b"L%d" % i for i in range(30)]
    assert [g for g in got if g.startswith(b"R")] == [b"R%d" % i for i in range(30)]
    assert len(got) == 60
    assert segments(tmp_path) == []


async def test_publish_after_close_and_oversized_payloads_raise(tmp_path: Path) -> None:
    publisher = SpoolPublisher(tmp_path)
    with pytest.raises(ValueError, match="exceeds"):
        publisher.publish(bytes(16 * 1024 * 1024 + 1))
    await publisher.close()
    with pytest.raises(RuntimeError, match="closed"):
        publisher.publish(b"late")
    assert segments(tmp_path) == []
