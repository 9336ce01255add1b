"""Consumer-group chores on the click stream: create the group, measure lag, trim, dead-letter.

Plain functions over a redis-py client; ``RedisStreamConsumer`` wraps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from linkhop.queue.redis_entries import id_key, next_id
from linkhop.queue.redis_replies import as_bytes, is_error

# Metadata fields added to a dead-lettered entry, next to its original fields.
DLQ_REASON, DLQ_SOURCE_ID, DLQ_STREAM, DLQ_GROUP, DLQ_CONSUMER, DLQ_DELIVERIES = (
    b"dlq_reason",
    b"dlq_source_id",
    b"dlq_stream",
    b"dlq_group",
    b"dlq_consumer",
    b"dlq_deliveries",
)


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """A stream entry on its way to the dead-letter stream, and why."""

    entry_id: bytes
    fields: dict[bytes, bytes]
    reason: str
    deliveries: int


async def ensure_group(redis: Redis, *, stream: str, group: str) -> bool:
    """Create the group (and the stream) unless it exists; True if it was created now.

    The group starts at id ``0``, not ``$``: redirects publish before any worker has run (first
    deploy, a group lost with Redis's data), and ``$`` would silently skip every entry already
    waiting. The price of ``0`` is a replay of processed entries if the group alone is deleted
    while the stream is kept: duplicates the sink absorbs, never a loss.
    """
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if is_error(exc, "BUSYGROUP"):  # another worker created it first: fine
            return False
        raise
    return True


async def dead_letter(
    redis: Redis,
    *,
    stream: str,
    group: str,
    dlq_stream: str,
    consumer: str,
    dead: Sequence[DeadEntry],
    gone: Sequence[bytes] = (),
) -> None:
    """Copy ``dead`` to the DLQ and ack it (and the ``gone`` ids) in one MULTI/EXEC.

    Atomic, so a crash leaves each entry either pending or dead-lettered once, never both or
    neither. (Redis Cluster: give both streams one hash tag, e.g. ``{clicks}`` and
    ``{clicks}:dlq``.)
    """
    ids = [d.entry_id for d in dead] + list(gone)
    if not ids:
        return
    pipe = redis.pipeline(transaction=True)
    for entry in dead:
        record: dict[bytes, bytes] = {
            **entry.fields,
            DLQ_REASON: entry.reason.encode(),
            DLQ_SOURCE_ID: entry.entry_id,
            DLQ_STREAM: stream.encode(),
            DLQ_GROUP: group.encode(),
            DLQ_CONSUMER: consumer.encode(),
            DLQ_DELIVERIES: str(entry.deliveries).encode(),
        }
        pipe.xadd(dlq_stream, cast("dict[FieldT, EncodableT]", record))  # stubs: widen only
    pipe.xack(stream, group, *ids)
    await pipe.execute()


async def stream_lag(redis: Redis, *, stream: str, group: str) -> int:
    """Entries of ``stream`` the group has not acked: pending plus never delivered.

    Counts stream entries, each holding up to the publisher's ``max_batch`` events. Redis 7
    reports the undelivered count as the group's ``lag``; where it cannot (after deletions in
    the middle of the stream) the whole stream length stands in, an upper bound.
    """
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError as exc:
        if is_error(exc, "no such key") or is_error(exc, "ERR no such key"):
            return 0
        raise
    for info in groups:
        if as_bytes(info["name"]) == group.encode():
            undelivered = info.get("lag")
            if undelivered is None:
                undelivered = await redis.xlen(stream)
            return int(undelivered) + int(info["pending"])
    return int(await redis.xlen(stream))


async def trim_processed(redis: Redis, *, stream: str) -> int:
    """Delete the entries every group has acked; return how many went.

    The bound is, over ALL groups of the stream, the lowest pending id, or the id after the
    last delivered one where nothing is pending: ``XTRIM MINID ~ bound`` then drops only whole
    radix-tree nodes below it, never an entry that is pending or not yet delivered. A stream
    with no group is not trimmed (nothing has read it yet). Races only make the bound low:
    entries delivered after the snapshot have higher ids than it.
    """
    try:
        groups = await redis.xinfo_groups(stream)
    except ResponseError as exc:
        if is_error(exc, "no such key") or is_error(exc, "ERR no such key"):
            return 0
        raise
    bound: bytes | None = None
    for info in groups:
        low: bytes | None = None
        if int(info["pending"]) > 0:
            summary = await redis.xpending(stream, as_bytes(info["name"]).decode())
            low = as_bytes(summary["min"]) if summary.get("min") else None
        if low is None:
            low = next_id(as_bytes(info["last-delivered-id"]))
        if bound is None or id_key(low) < id_key(bound):
            bound = low
    if bound is None:
        return 0
    return int(await redis.xtrim(stream, minid=bound, approximate=True))
