"""Cross-replica invalidation: delete changed records from Redis and tell every process.

``publish`` (the API, after commit) deletes each record and its load lease from Redis, then
publishes the identities on one pub/sub channel, in one pipeline: by the time a replica hears
the message, a reload already misses Redis and reads the database.

``listen`` (every redirect process) hands each message to a callback that drops the records
from the in-process LRU. Pub/sub is fire-and-forget: a process that is not subscribed misses
messages. So whenever a subscription starts, the first one included, the callback gets
``None``, meaning "anything may have changed: drop everything". An outage of Redis therefore
costs each replica one LRU flush, never a stale link.

Wire format: orjson ``[[namespace_part, …], …]``, e.g. ``[["lh.to", "abc"]]``. A message that is
not in this format (a newer or older release, or garbage) is also answered with ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any, Final

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from linkhop.cache.redis_keys import record_keys

log = structlog.get_logger("linkhop.cache")

CHANNEL: Final = "lh:invalidate"
Identity = tuple[str, ...]
InvalidationCallback = Callable[[list[Identity] | None], None]
"""Called with the changed identities, or with ``None`` for "drop everything"."""

RESET_MESSAGE: Final = b"null"
"""A message that decodes to ``None``: every listener drops everything."""
_REDIS_ERRORS = (RedisError, OSError)  # OSError covers socket errors and asyncio timeouts
_CHUNK = 1000  # identities per pipeline and per message: bulk edits stay small messages


def encode_message(identities: Sequence[Identity]) -> bytes:
    """The pub/sub payload for ``identities``."""
    return orjson.dumps(identities)


def decode_message(data: bytes) -> list[Identity] | None:
    """The identities in a payload, or ``None`` (drop everything) if it is not ours."""
    try:
        items: Any = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(items, list):
        return None
    found: list[Identity] = []
    for item in items:
        if not isinstance(item, list) or not all(isinstance(part, str) for part in item):
            return None
        found.append(tuple(item))
    return found


class InvalidationBus:
    """Publishes and receives cache invalidations through one Redis."""

    def __init__(
        self,
        client: Redis,
        *,
        namespace: str = "link",
        channel: str = CHANNEL,
        max_pending: int = 100_000,
        ping_interval: float = 5.0,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.channel = channel
        self.max_pending = max_pending
        # A silent dead connection (no RST) would look like a quiet channel forever: PING
        # after this much silence and reconnect when no answer comes within as long again.
        self.ping_interval = ping_interval
        # Ordered set of identities waiting for a publish that worked (see publish_nowait).
        self._pending: dict[Identity, None] = {}
        self._drainer: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self.received = 0
        self.resets = 0

    async def publish(self, identities: Iterable[Identity]) -> None:
        """Delete the records from Redis and announce them; raises if Redis fails."""
        items = list(identities)
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            async with self._client.pipeline(transaction=False) as pipe:
                for identity in chunk:
                    pipe.delete(*record_keys(self.namespace, identity))
                pipe.publish(self.channel, encode_message(chunk))
                await pipe.execute()
            self.published += len(chunk)

    async def publish_reset(self) -> None:
        """Tell every process to drop its whole cache (e.g. a domain's key rules changed)."""
        await self._client.publish(self.channel, RESET_MESSAGE)

    def publish_nowait(self, identities: Iterable[Identity]) -> None:
        """Queue a publish and return at once; retried in the background until Redis answers.

        For synchronous after-commit hooks. Retrying matters: a lost delete would let Redis
        serve the old record for its whole TTL. Past ``max_pending`` queued identities the
        oldest are dropped (logged); the Redis TTL then bounds their staleness.
        """
        for identity in identities:
            self._pending[identity] = None
        overflow = len(self._pending) - self.max_pending
        if overflow > 0:
            for identity in list(islice(self._pending, overflow)):
                del self._pending[identity]
            self.dropped += overflow
            log.error("cache_invalidations_dropped", count=overflow)
        if self._pending and (self._drainer is None or self._drainer.done()):
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def aclose(self, *, grace: float = 2.0) -> bool:
        """Give queued publishes up to ``grace`` seconds, then stop; True if none was lost."""
        task = self._drainer
        if task is not None and not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), grace)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._pending:
            log.error("cache_invalidations_unpublished", count=len(self._pending))
        return not self._pending

    async def _drain(self) -> None:
        delay = 0.05
        failing_since: float | None = None
        while self._pending:
            chunk = list(islice(self._pending, _CHUNK))
            for identity in chunk:
                del self._pending[identity]
            try:
                await self.publish(chunk)
            except _REDIS_ERRORS as exc:
                for identity in chunk:  # back in the queue, unless queued again meanwhile
                    self._pending.setdefault(identity, None)
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.warning(
                        "cache_invalidation_publish_failed",
                        error=f"{type(exc).__name__}: {exc}"[:300],
                        pending=len(self._pending),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            except Exception:
                # Not Redis's fault (e.g. an identity orjson cannot encode): retrying would
                # fail forever and block the queue behind it.
                self.dropped += len(chunk)
                log.exception("cache_invalidations_dropped", count=len(chunk))
                continue
            if failing_since is not None:
                log.info(
                    "cache_invalidation_publish_recovered",
                    outage_s=round(time.monotonic() - failing_since, 1),
                )
                failing_since = None
                delay = 0.05

    async def listen(self, callback: InvalidationCallback, *, stop: asyncio.Event) -> None:
        """Deliver invalidations to ``callback`` until ``stop`` is set; reconnects by itself."""
        delay = 0.1
        outage_since: float | None = None
        while not stop.is_set():
            pubsub = self._client.pubsub()
            try:
                await self._subscribe(pubsub)
                if outage_since is not None:
                    log.info(
                        "cache_invalidation_listener_recovered",
                        outage_s=round(time.monotonic() - outage_since, 1),
                    )
                outage_since, delay = None, 0.1
                self._deliver(callback, None)
                await self._pump(pubsub, callback, stop)
            except Exception as exc:  # whatever broke (Redis or not): resubscribe, then clear
                if outage_since is None:
                    outage_since = time.monotonic()
                    log.warning(
                        "cache_invalidation_listener_lost",
                        error=f"{type(exc).__name__}: {exc}"[:300],
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, 2.0)
            finally:
                with contextlib.suppress(*_REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated upstream

    async def _subscribe(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self.channel)
        # Only the server's confirmation proves we are subscribed; clearing the LRU before it
        # would leave a window where a message could be missed after the clear.
        deadline = time.monotonic() + max(self.ping_interval, 1.0)
        while time.monotonic() < deadline:
            message = await pubsub.get_message(timeout=0.25)
            if message is not None and message["type"] == "subscribe":
                return
        raise TimeoutError(f"no confirmation of SUBSCRIBE {self.channel}")

    async def _pump(
        self, pubsub: PubSub, callback: InvalidationCallback, stop: asyncio.Event
    ) -> None:
        heard = time.monotonic()
        pinged: float | None = None
        while not stop.is_set():
            message = await pubsub.get_message(timeout=0.25)
            now = time.monotonic()
            if message is None:
                if pinged is not None and now - pinged > self.ping_interval:
                    raise TimeoutError(f"no answer to PING within {self.ping_interval}s")
                if pinged is None and now - heard > self.ping_interval:
                    await pubsub.ping()
                    pinged = now
                continue
            heard, pinged = now, None
            if message["type"] == "message":
                self.received += 1
                self._deliver(callback, decode_message(message["data"]))

    def _deliver(self, callback: InvalidationCallback, identities: list[Identity] | None) -> None:
        if identities is None:
            self.resets += 1
        try:
            callback(identities)
        except Exception:
            # A broken callback must not stop invalidations for the rest of the process.
            log.exception("cache_invalidation_callback_failed")
