"""Taking back un-acked batches: a consumer's own after a restart, a dead consumer's by claim.

Both rely on the invariant kept by ``RedisStreamConsumer``: a consumer's pending list (PEL)
holds exactly one batch. Taking a PEL whole therefore re-forms that batch, with its token.

XAUTOCLAIM is not used for the claim: it walks the group's PEL in id order across all
consumers and stops after COUNT, so it can take half of one dead batch, or join two, and a new
grouping has a new token, which ClickHouse would store as a second block. Instead, XPENDING
``IDLE`` finds owners with idle entries, XPENDING for one owner lists its whole PEL with idle
times and delivery counts, and if all of it has idled ``claim_idle`` one XCLAIM of exactly
those ids takes it (XCLAIM is atomic and rechecks the idle time, so two claimers never split
a batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.typing import StreamIdT

from linkhop.queue.redis_replies import Delivered, entries, pending_rows

# A PEL holds one batch, a few thousand entries at most: these bounds are ample.
_MAX_PENDING = 100_000
_PAGE = 1000
_CLAIM_SCAN = 100  # idle PEL rows looked at per claim; enough to find a few dead owners


@dataclass(frozen=True, slots=True)
class Claim:
    """A dead consumer's batch, now owned by the claimer."""

    owner: bytes
    delivered: list[Delivered]
    missing: int  # ids of the batch deleted from the stream meanwhile (XCLAIM drops them)


async def read_own_pending(
    redis: Redis, *, stream: str, group: str, consumer: str
) -> list[Delivered]:
    """``consumer``'s PEL read back whole, with delivery counts that include this read."""
    rows = pending_rows(
        await redis.xpending_range(stream, group, "-", "+", _MAX_PENDING, consumername=consumer)
    )
    if not rows:
        return []
    counts = {row.entry_id: row.deliveries + 1 for row in rows}
    got: list[Delivered] = []
    after = b"0"
    while True:
        page = entries(await redis.xreadgroup(group, consumer, {stream: after}, count=_PAGE))
        got += [Delivered(i, f, counts.get(i, 1)) for i, f in page]
        if len(page) < _PAGE:
            return got
        after = page[-1][0]


async def claim_dead_batch(
    redis: Redis, *, stream: str, group: str, consumer: str, idle_ms: int
) -> Claim | None:
    """One other consumer's whole PEL if all of it idled ``idle_ms``, claimed to ``consumer``."""
    idle = pending_rows(
        await redis.xpending_range(stream, group, "-", "+", _CLAIM_SCAN, idle=idle_ms)
    )
    me = consumer.encode()
    for owner in dict.fromkeys(row.consumer for row in idle if row.consumer != me):
        theirs = pending_rows(
            await redis.xpending_range(
                stream, group, "-", "+", _MAX_PENDING, consumername=owner.decode()
            )
        )
        if not theirs or any(row.idle_ms < idle_ms for row in theirs):
            continue  # part of that batch is fresh: its owner is alive, or just took it
        counts = {row.entry_id: row.deliveries + 1 for row in theirs}
        ids: list[StreamIdT] = [*counts]
        claimed = entries(await redis.xclaim(stream, group, consumer, idle_ms, ids))
        if claimed:  # else another consumer claimed it first
            delivered = [Delivered(i, f, counts.get(i, 1)) for i, f in claimed]
            return Claim(owner, delivered, len(counts) - len(claimed))
    return None
