"""The worker side of the Redis Streams click queue: one consumer of a consumer group.

How a batch keeps its token (``queue/base.py``), see also ``queue/redis_streams.py``:

- A batch is whole stream entries (a packed entry is never split); its token hashes their ids.
- A consumer's pending list (PEL) holds exactly ONE batch, the one in flight: ``read_batch``
  hands the in-flight batch out again until it is acked, reads new entries only when the PEL is
  empty, and ``ack`` removes all its ids with one XACK (one command, so all or none).
- Whoever replays a PEL therefore gets exactly the same entries, hence the same token: the same
  consumer name after a restart (its PEL is read back at once), or another consumer that
  claims it after ``claim_idle``.
- A claim takes one dead consumer's WHOLE PEL, never XAUTOCLAIM's id-order slice of the
  group's PEL (why: ``redis_claims.py``).
- Retries inside one process are not deliveries: the in-flight batch is returned from memory
  and only its idle time is refreshed (XCLAIM JUSTID, no counter bump). So a long ClickHouse
  outage neither dead-letters entries nor lets another worker steal them, as long as the worker
  calls ``read_batch`` again within ``claim_idle``. The delivery counter then counts what it
  should: pickups by a fresh consumer. An entry picked up more than ``max_deliveries`` times
  (it killed or stalled that many workers) goes to the DLQ with the reason, as does a malformed
  entry at once; both are acked atomically with the DLQ write and never block the group.

Deployment rules that follow: ``consumer_name`` is unique among live workers (a stable one, such
as the pod name, replays at once after a restart; a new one waits ``claim_idle`` for a claim),
and ``claim_idle`` exceeds the longest gap between two ``read_batch`` calls for one batch
(processing plus the worker's retry backoff), or a slow worker's batch is processed twice
(same token, so deduplicated, but wasted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import StreamIdT

from linkhop.queue.base import Batch
from linkhop.queue.redis_claims import claim_dead_batch, read_own_pending
from linkhop.queue.redis_client import require_bytes_client
from linkhop.queue.redis_entries import (
    MalformedEntry,
    batch_token,
    declared_count,
    unpack_events,
)
from linkhop.queue.redis_group import (
    DeadEntry,
    dead_letter,
    ensure_group,
    stream_lag,
    trim_processed,
)
from linkhop.queue.redis_replies import Delivered, entries, is_error

T = TypeVar("T")
log = structlog.get_logger("linkhop.queue")

_READ_ROUNDS = 4  # XREADGROUP calls per batch at most (each sized from the last)
_MAX_CLAIMS = 3  # dead batches examined per read_batch (some may turn out all poison)


@dataclass(frozen=True, slots=True)
class _InFlight:
    batch: Batch
    entries: list[Delivered]


class RedisStreamConsumer:
    """Reads the click stream as ``consumer_name`` in ``group``; one instance per worker."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str,
        group: str,
        consumer_name: str,
        dlq_stream: str,
        claim_idle: float = 60.0,
        max_deliveries: int = 5,
        max_entries_per_read: int = 1000,
        events_per_entry_hint: int = 500,
    ) -> None:
        require_bytes_client(redis)
        self._redis = redis
        self.stream, self.group, self.consumer_name = stream, group, consumer_name
        self.dlq_stream = dlq_stream
        self._claim_idle_ms = max(1, round(claim_idle * 1000))
        self._max_deliveries = max_deliveries
        self._max_entries = max(1, max_entries_per_read)
        # Sizes XREADGROUP's COUNT; starts at the publisher's default max_batch so a first read
        # of dense entries cannot overshoot max_items.
        self._density = max(1, events_per_entry_hint)
        self._group_ready = False
        self._own_checked = False
        self._inflight: _InFlight | None = None
        self.delivered_entries = 0
        self.claimed_entries = 0
        self.dead_lettered = 0
        self.missing_entries = 0
        self.acked_entries = 0
        self.groups_recreated = 0

    async def ensure_group(self) -> None:
        """``XGROUP CREATE stream group 0 MKSTREAM``, with BUSYGROUP meaning "already there"."""
        await ensure_group(self._redis, stream=self.stream, group=self.group)
        self._group_ready = True

    async def read_batch(self, max_items: int) -> Batch | None:
        """The in-flight batch again, else a dead consumer's, else new entries (``max_items``
        is a target: whole entries are taken, sized by the densest entries seen lately)."""
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        inflight = self._inflight
        if inflight is not None:
            await self._with_group(lambda: self._touch(inflight))
            return inflight.batch
        if not self._group_ready:
            await self.ensure_group()
        try:
            return await self._with_group(lambda: self._next_batch(max_items))
        except BaseException:
            # Failing mid-way (a lost reply, a second XREADGROUP round, the DLQ write) can
            # leave entries in our PEL that are not in flight; they must be the next batch,
            # or the PEL would hold two batches and its replay would regroup them.
            self._own_checked = False
            raise

    async def ack(self, batch: Batch) -> None:
        """XACK every entry of ``batch`` in one command."""
        inflight = self._inflight
        if inflight is None or inflight.batch.token != batch.token:
            raise ValueError(f"batch {batch.token} is not the batch in flight")
        # XACK answers 0 rather than NOGROUP when the group is gone: nothing to recover here.
        await self._redis.xack(self.stream, self.group, *[e.entry_id for e in inflight.entries])
        self._inflight = None
        self.acked_entries += len(inflight.entries)

    async def dead_letter(self, batch: Batch, reason: str) -> None:
        """Move the in-flight ``batch`` to the DLQ with ``reason`` (for a batch the worker
        rejects for good), acking it in the same transaction."""
        inflight = self._inflight
        if inflight is None or inflight.batch.token != batch.token:
            raise ValueError(f"batch {batch.token} is not the batch in flight")
        await self._retire(
            [
                DeadEntry(e.entry_id, e.fields or {}, f"rejected: {reason}", e.deliveries)
                for e in inflight.entries
            ],
            [],
        )
        self._inflight = None

    async def lag(self) -> int:
        """Stream entries (not events) pending in the group or not yet delivered to it."""
        return await stream_lag(self._redis, stream=self.stream, group=self.group)

    async def trim(self) -> int:
        """Delete entries every group has acked (never a pending or undelivered one)."""
        return await trim_processed(self._redis, stream=self.stream)

    async def close(self) -> None:
        """Forget local state; an un-acked batch stays pending in Redis for replay."""
        self._inflight = None

    async def _with_group(self, step: Callable[[], Awaitable[T]]) -> T:
        try:
            return await step()
        except ResponseError as exc:
            if not is_error(exc, "NOGROUP"):
                raise
        # Redis lost the stream and its group: a restart without AOF, a failover to a replica
        # that never had them, or a FLUSHALL. The entries are gone; recreate and carry on.
        log.warning(
            "click_stream_group_recreated",
            stream=self.stream,
            group=self.group,
            reason="NOGROUP: Redis lost the group (is it running with appendonly yes?)",
        )
        self.groups_recreated += 1
        await self.ensure_group()
        self._own_checked = True  # a new group has an empty PEL
        return await step()

    async def _touch(self, inflight: _InFlight) -> None:
        """Reset the idle time of the in-flight entries so no other consumer claims them."""
        ids: list[StreamIdT] = [e.entry_id for e in inflight.entries]
        await self._redis.xclaim(self.stream, self.group, self.consumer_name, 0, ids, justid=True)

    async def _next_batch(self, max_items: int) -> Batch | None:
        if not self._own_checked:
            batch = await self._take(await self._own_pending())
            self._own_checked = True
            if batch is not None:
                return batch
        for _ in range(_MAX_CLAIMS):
            claimed = await self._reclaim()
            if not claimed:
                break
            batch = await self._take(claimed)
            if batch is not None:
                return batch
        for _ in range(_READ_ROUNDS):  # a read may hold only malformed entries: read on
            fresh = await self._read_new(max_items)
            if not fresh:
                return None
            batch = await self._take(fresh)
            if batch is not None:
                return batch
        return None

    async def _own_pending(self) -> list[Delivered]:
        return await read_own_pending(
            self._redis, stream=self.stream, group=self.group, consumer=self.consumer_name
        )

    async def _reclaim(self) -> list[Delivered]:
        claim = await claim_dead_batch(
            self._redis,
            stream=self.stream,
            group=self.group,
            consumer=self.consumer_name,
            idle_ms=self._claim_idle_ms,
        )
        if claim is None:
            return []
        self.missing_entries += claim.missing
        self.claimed_entries += len(claim.delivered)
        log.info(
            "click_batch_reclaimed",
            stream=self.stream,
            from_consumer=claim.owner.decode(errors="replace"),
            entries=len(claim.delivered),
        )
        return claim.delivered

    async def _read_new(self, max_items: int) -> list[Delivered]:
        got: list[Delivered] = []
        events = 0
        for _ in range(_READ_ROUNDS):
            want = max(1, min(self._max_entries, (max_items - events) // self._density))
            reply = await self._redis.xreadgroup(
                self.group, self.consumer_name, {self.stream: ">"}, count=want
            )
            page = entries(reply)
            if not page:
                break
            sizes = [declared_count(f) if f else 1 for _, f in page]
            # Track density downwards slowly: a quiet spell must not make the next read of
            # dense entries huge.
            self._density = max(*sizes, self._density // 2, 1)
            got += [Delivered(i, f, 1) for i, f in page]
            events += sum(sizes)
            if len(page) < want or events >= max_items:
                break
        self.delivered_entries += len(got)
        return got

    async def _take(self, delivered: list[Delivered]) -> Batch | None:
        """Dead-letter what cannot be processed; make the rest the batch in flight."""
        good: list[Delivered] = []
        items: list[bytes] = []
        dead: list[DeadEntry] = []
        gone: list[bytes] = []
        for entry in delivered:
            if entry.fields is None:
                gone.append(entry.entry_id)  # deleted from the stream while pending
                continue
            if entry.deliveries > self._max_deliveries:
                reason = (
                    f"delivered {entry.deliveries} times without an ack (limit "
                    f"{self._max_deliveries}): it crashed or stalled every worker that took it"
                )
                dead.append(DeadEntry(entry.entry_id, entry.fields, reason, entry.deliveries))
                continue
            try:
                events = unpack_events(entry.fields)
            except MalformedEntry as exc:
                reason = f"malformed: {exc}"
                dead.append(DeadEntry(entry.entry_id, entry.fields, reason, entry.deliveries))
                continue
            good.append(entry)
            items += events
        if dead or gone:
            await self._retire(dead, gone)
        if not good:
            return None
        batch = Batch(token=batch_token(self.stream, [e.entry_id for e in good]), items=items)
        self._inflight = _InFlight(batch, good)
        return batch

    async def _retire(self, dead: list[DeadEntry], gone: list[bytes]) -> None:
        await dead_letter(
            self._redis,
            stream=self.stream,
            group=self.group,
            dlq_stream=self.dlq_stream,
            consumer=self.consumer_name,
            dead=dead,
            gone=gone,
        )
        for entry in dead:
            log.warning(
                "click_entry_dead_lettered",
                stream=self.stream,
                entry_id=entry.entry_id.decode(),
                dlq=self.dlq_stream,
                reason=entry.reason,
            )
        self.dead_lettered += len(dead)
        self.missing_entries += len(gone)
