"""The redirect side of the Redis Streams click queue: buffer, pack, XADD; spool when Redis fails.

``publish`` only appends to an in-memory list. A background task sends the list every
``flush_interval`` as ONE XADD per ``max_batch`` events (all in one round trip); a second task
moves spooled events back into the stream once Redis answers again.

What a crash or an outage costs, plainly:

- ``kill -9`` of the redirect process LOSES the events still in memory: those published in the
  last ``flush_interval`` (≈ 5 ms) plus a send in flight. The embedded ``SpoolPublisher`` loses
  nothing there (a record is on disk when ``publish`` returns). This is the measured trade-off:
  one awaited XADD per request caps the redirect at ≈ 7.5 k rps, one packed XADD every 5 ms
  keeps ≈ 40 k (architecture.md §1). A graceful stop (``close``) loses nothing.
- Redis down, slow (``send_timeout``) or refusing writes: the buffered events go to the local
  spool, never dropped, and the publisher stops trying Redis until a PING every
  ``retry_interval`` succeeds; then the spool is replayed into the stream. Spooled events are
  safe from a process crash at once and from an OS crash after the next spool fsync (≤
  ``retry_interval``). Only a failing spool (disk full) loses events; they are counted in
  ``lost`` and logged.
- Memory is bounded: past ``max_buffered`` waiting events, ``publish`` writes to the spool
  itself (a disk write on the request path, only while Redis lags that far behind).
- Duplicates, never losses, on ambiguity: an XADD that timed out may still have been applied,
  and a kill between a replayed XADD and the spool's ack replays that batch again. Either way an
  event can reach the stream twice; the sink absorbs it (ClickHouse ReplacingMergeTree on
  ``click_id``, reliability.md §4.4).

Several redirect processes may share one spool folder: each writes its own segments, and
whichever holds the spool's consumer lock replays them all (the others retry taking it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from linkhop.queue.local import MAX_PAYLOAD, SpoolConsumer, SpoolLockedError, SpoolPublisher
from linkhop.queue.redis_client import require_bytes_client
from linkhop.queue.redis_entries import pack_events

log = structlog.get_logger("linkhop.queue")

# OSError covers socket errors; TimeoutError is what asyncio.wait_for raises.
_SEND_ERRORS = (RedisError, OSError, TimeoutError)
_ENTRIES_PER_TRIP = 16  # packed entries per pipelined round trip (≈ 8 000 events)


class RedisStreamPublisher:
    """Buffers events in memory and XADDs them packed; one instance per event loop."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str,
        spool: SpoolPublisher,
        flush_interval: float = 0.005,
        max_batch: int = 500,
        maxlen_approx: int | None = None,
        max_buffered: int = 100_000,
        send_timeout: float = 1.0,
        retry_interval: float = 1.0,
    ) -> None:
        require_bytes_client(redis)
        if max_batch < 1 or max_buffered < 1:
            raise ValueError("max_batch and max_buffered must be at least 1")
        self._redis = redis
        self.stream = stream
        self._spool = spool
        self._interval = flush_interval
        self._max_batch = max_batch
        # Only a memory safety net: MAXLEN trims whatever is oldest, processed or not.
        self._maxlen = maxlen_approx
        self._max_buffered = max_buffered
        self._send_timeout = send_timeout
        self._retry_interval = retry_interval
        self._buffer: list[bytes] = []
        self._down = False
        self._spool_dirty = False  # written to the spool since its last fsync
        self._closing = False
        self._closed = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: SpoolConsumer | None = None
        self.published = 0
        self.sent_entries = 0
        self.sent_events = 0
        self.spooled = 0
        self.replayed = 0
        self.send_errors = 0
        self.lost = 0

    @property
    def redis_available(self) -> bool:
        """False from a failed send until a PING succeeds again (events go to the spool)."""
        return not self._down

    async def start(self) -> None:
        """Start the flush and replay tasks (replaying what an earlier run left in the spool)."""
        if self._tasks or self._closing:
            return
        self._tasks = [
            asyncio.create_task(self._flush_loop(), name=f"click-stream-flush:{self.stream}"),
            asyncio.create_task(self._replay_loop(), name=f"click-stream-replay:{self.stream}"),
        ]

    def publish(self, payload: bytes) -> None:
        """Buffer one event for the next packed XADD; no I/O unless far behind or closed."""
        if len(payload) > MAX_PAYLOAD:  # refused here, not later in the flush task
            raise ValueError(f"click payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        if len(self._buffer) >= self._max_buffered or self._closed:
            self._spool.publish(payload)  # OSError propagates: the redirect counts the loss
            self.spooled += 1
            self._spool_dirty = True
        else:
            self._buffer.append(payload)
        self.published += 1

    async def flush(self) -> None:
        """Send what is buffered now (to Redis, or to the spool if Redis fails) and fsync spool."""
        await self._send_buffered()
        await self._sync_spool()

    async def close(self) -> None:
        """Stop the tasks and send (or spool) everything left; the caller closes the spool."""
        if self._closed:
            return
        self._closing = True
        self._stop.set()
        # Let the tasks finish their current step: cancelling an XADD mid-way would make its
        # outcome unknown and the spooled copy a duplicate.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        await self._send_buffered()
        await self._sync_spool()
        if self._reader is not None:
            await self._reader.close()

    async def _flush_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._interval)
            try:
                await self._send_buffered()
            # The loop must outlive a bug: without it every later click would pile up unsent.
            except Exception as exc:
                log.error("click_stream_flush_failed", error=f"{type(exc).__name__}: {exc}")

    async def _send_buffered(self) -> None:
        if not self._buffer:
            return
        events, self._buffer = self._buffer, []
        if self._down:
            self._to_spool(events)
            return
        unsent = await self._xadd_packed(events)
        if unsent:
            self._to_spool(unsent)

    async def _xadd_packed(self, events: Sequence[bytes]) -> list[bytes]:
        """XADD ``events``, ``max_batch`` to an entry; return those not known to be added.

        Entries go ``_ENTRIES_PER_TRIP`` to a pipelined round trip, so a backlog after a slow
        spell is sent in pieces that each fit ``send_timeout``, and one timeout leaves only its
        own piece's outcome unknown.
        """
        size = self._max_batch
        chunks = [events[i : i + size] for i in range(0, len(events), size)]
        for first in range(0, len(chunks), _ENTRIES_PER_TRIP):
            trip = chunks[first : first + _ENTRIES_PER_TRIP]
            try:
                pipe = self._redis.pipeline(transaction=False)
                for chunk in trip:
                    # bytes -> bytes is what XADD takes; the cast only widens for the stubs.
                    fields = cast("dict[FieldT, EncodableT]", pack_events(chunk))
                    pipe.xadd(self.stream, fields, maxlen=self._maxlen)
                replies = await asyncio.wait_for(
                    pipe.execute(raise_on_error=False), self._send_timeout
                )
            except _SEND_ERRORS as exc:
                self._mark_down(exc)
                return [e for chunk in chunks[first:] for e in chunk]
            unsent: list[bytes] = []
            for chunk, reply in zip(trip, replies, strict=True):
                if isinstance(reply, Exception):  # e.g. OOM or READONLY: not added
                    self._mark_down(reply)
                    unsent += chunk
                else:
                    self.sent_entries += 1
                    self.sent_events += len(chunk)
            if unsent:  # Redis refuses writes: the rest is not even tried
                return unsent + [e for chunk in chunks[first + len(trip) :] for e in chunk]
        return []

    def _mark_down(self, exc: BaseException) -> None:
        self.send_errors += 1
        if not self._down:
            self._down = True
            # One line per outage, not per failed flush: a 5 ms loop would flood the logs.
            log.warning(
                "click_stream_unavailable",
                stream=self.stream,
                error=f"{type(exc).__name__}: {exc}"[:300],
                spool=str(self._spool.directory),
            )

    def _to_spool(self, events: Sequence[bytes]) -> None:
        for index, payload in enumerate(events):
            try:
                self._spool.publish(payload)
            except (OSError, RuntimeError) as exc:  # disk full, or the spool already closed
                lost = len(events) - index
                self.lost += lost
                log.error("click_spool_failed", lost=lost, error=f"{type(exc).__name__}: {exc}")
                return
            self.spooled += 1
            self._spool_dirty = True

    async def _sync_spool(self) -> None:
        if self._spool_dirty:
            self._spool_dirty = False
            await self._spool.flush()

    async def _replay_loop(self) -> None:
        while not self._closing:
            try:
                await self._sync_spool()
                await self._replay_spool()
            # The loop must outlive anything (a full disk, a damaged spool): one line, go on.
            except Exception as exc:
                log.warning("click_spool_replay_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._retry_interval)

    async def _replay_spool(self) -> None:
        if self._down:
            try:
                await asyncio.wait_for(self._redis.ping(), self._send_timeout)
            except _SEND_ERRORS:
                return
            self._down = False
            log.info("click_stream_recovered", stream=self.stream)
        reader = await self._spool_reader()
        while reader is not None and not self._closing and not self._down:
            batch = await reader.read_batch(self._max_batch)
            if batch is None:
                return
            if await self._xadd_packed(batch.items):
                return  # not sent: the batch stays in flight and is replayed next time
            await reader.ack(batch)
            self.replayed += len(batch.items)

    async def _spool_reader(self) -> SpoolConsumer | None:
        """The spool's consumer, or None while another process holds it (it replays for us)."""
        if self._reader is None:
            try:
                self._reader = await asyncio.to_thread(SpoolConsumer, self._spool.directory)
            except SpoolLockedError:
                return None
        return self._reader
