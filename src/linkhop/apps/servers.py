"""Process runners: ``serve`` (all in one), ``redirect`` and ``api`` behind uvicorn.

Each builds its runtime, checks its backends (one clear log line and exit 1 when one is
unreachable, never a traceback loop), serves until SIGTERM/SIGINT, then shuts down gracefully:
uvicorn stops accepting and finishes in-flight requests, then queued clicks are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog
import uvicorn

from linkhop.apps.bootstrap import build_runtime, check_database, prepare_database
from linkhop.apps.ops import OPS_PATHS, Check, OpsApp
from linkhop.apps.redirect import RedirectApp
from linkhop.asgi import ASGIApp, Receive, Scope, Send
from linkhop.db.engine import make_sessionmaker, read_only
from linkhop.errors import LinkhopError
from linkhop.logging import configure_logging
from linkhop.queue.base import ClickPublisher
from linkhop.queue.local import SpoolPublisher
from linkhop.redirects.decision import LinkRecord
from linkhop.runtime import Runtime
from linkhop.settings import Settings

if TYPE_CHECKING:  # `linkhop redirect` imports neither ClickHouse nor, without Redis, redis-py
    from redis.asyncio import Redis

    from linkhop.apps.analytics_store import AnalyticsStore
    from linkhop.cache.invalidation import InvalidationBus
    from linkhop.cache.redis_tier import RedisTier

log = structlog.get_logger("linkhop")
# In `serve` these paths belong to the API/dashboard; every other path is a short key.
API_PREFIXES = ("/api/", "/app", "/static/")
API_EXACT = frozenset({"/api", "/docs"})


def is_api_path(path: str) -> bool:
    """Whether ``serve`` routes ``path`` to the API app rather than the redirect app."""
    return path in API_EXACT or path.startswith(API_PREFIXES)


class Dispatcher:
    """Routes by path: ops endpoints, API/dashboard, else the redirect service."""

    def __init__(self, *, ops: ASGIApp, api: ASGIApp | None, redirect: ASGIApp | None) -> None:
        self.ops = ops
        self.api = api
        self.redirect = redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        path = scope.get("path", "")
        if path in OPS_PATHS:
            await self.ops(scope, receive, send)
        elif self.api is not None and (self.redirect is None or is_api_path(path)):
            await self.api(scope, receive, send)
        elif self.redirect is not None:
            await self.redirect(scope, receive, send)


async def _lifespan(receive: Receive, send: Send) -> None:
    # Start-up work happens before uvicorn starts, so lifespan only acknowledges.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@dataclass
class Process:
    """What one server process owns and must close."""

    runtime: Runtime
    checks: dict[str, Check] = field(default_factory=dict)
    store: AnalyticsStore | None = None
    publisher: ClickPublisher | None = None
    spool: SpoolPublisher | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cache_redis: Redis | None = None
    invalidation: InvalidationBus | None = None

    async def close(self) -> None:
        """Stop background work (the worker drains), flush clicks, release stores."""
        self.stop.set()
        for task in self.background:
            with contextlib.suppress(Exception):
                await task
        if self.invalidation is not None:
            await self.invalidation.aclose(grace=2.0)
        if self.cache_redis is not None:
            await self.cache_redis.aclose()
        if self.publisher is not None:
            await self.publisher.close()
        if self.spool is not None and self.spool is not self.publisher:
            await self.spool.close()
        if self.store is not None:
            self.store.close()
        await self.runtime.engine.dispose()


async def _spool_writable(settings: Settings) -> None:
    path = settings.resolved_spool_dir
    if not os.access(path, os.W_OK):
        raise OSError(f"click spool {path} is not writable")


async def _stream_publisher(settings: Settings, spool: SpoolPublisher) -> ClickPublisher:
    """Clicks to the Redis stream in packed entries; to the local spool while Redis is down."""
    from linkhop.queue.redis_streams import (  # noqa: PLC0415 — Redis only
        RedisStreamPublisher,
        stream_client,
    )

    assert settings.redis_url is not None
    publisher = RedisStreamPublisher(
        stream_client(settings.redis_url),
        stream=settings.click_stream,
        spool=spool,
        flush_interval=settings.click_stream_flush_interval_seconds,
    )
    await publisher.start()
    return publisher


async def _ping(store: AnalyticsStore) -> None:
    if not await store.ch.aping():
        raise OSError("ClickHouse did not answer a ping")


async def _periodic_flush(publisher: SpoolPublisher, stop: asyncio.Event) -> None:
    # publish() survives a process crash at once; an fsync a second bounds OS-crash loss.
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        with contextlib.suppress(OSError):
            await publisher.flush()


async def _start(settings: Settings, *, api: bool, redirect: bool, worker: bool) -> Process:
    runtime = build_runtime(settings)
    process = Process(runtime=runtime)
    process.checks["database"] = lambda: check_database(runtime)
    await prepare_database(runtime, apply_migrations=settings.auto_migrate)
    if api or worker:
        from linkhop.apps.analytics_store import open_analytics  # noqa: PLC0415 — api/worker only

        store = await open_analytics(settings)
        runtime.clickhouse = store.ch
        process.store = store
        process.checks["clickhouse"] = lambda: _ping(store)
    if settings.redis_url and (api or redirect):
        from linkhop.cache.invalidation import InvalidationBus  # noqa: PLC0415 — Redis only
        from linkhop.cache.redis_keys import cache_client  # noqa: PLC0415

        process.cache_redis = cache_client(
            settings.redis_url, timeout=settings.redis_cache_timeout_seconds
        )
        process.invalidation = bus = InvalidationBus(process.cache_redis)
        if api:  # the API's after-commit hook: drop the key in Redis and tell every replica
            runtime.invalidation_hooks.append(
                lambda entries: bus.publish_nowait((e.domain, e.key_lookup) for e in entries)
            )
    if redirect:
        process.spool = SpoolPublisher(settings.resolved_spool_dir)
        process.checks["click_spool"] = lambda: _spool_writable(settings)
        if settings.redis_url:
            process.publisher = await _stream_publisher(settings, process.spool)
        else:
            process.publisher = process.spool
            process.background.append(
                asyncio.create_task(_periodic_flush(process.spool, process.stop))
            )
    if worker:
        from linkhop.apps.worker import run_ingestion  # noqa: PLC0415 — not in redirect-only

        assert process.store is not None
        process.background.append(
            asyncio.create_task(
                run_ingestion(runtime=runtime, store=process.store, stop=process.stop)
            )
        )
    return process


def _link_tier(process: Process) -> RedisTier[LinkRecord] | None:
    if process.cache_redis is None:
        return None
    from linkhop.cache.breaker import CircuitBreaker  # noqa: PLC0415 — Redis only
    from linkhop.cache.codec import RecordCodec  # noqa: PLC0415
    from linkhop.cache.redis_tier import RedisTier  # noqa: PLC0415

    s = process.runtime.settings
    return RedisTier(
        process.cache_redis,
        codec=RecordCodec(LinkRecord),
        ttl=s.redis_cache_ttl_seconds,
        negative_ttl=s.redis_negative_cache_ttl_seconds,
        breaker=CircuitBreaker(cooldown=s.redis_cache_retry_after_seconds),
    )


def build_app(process: Process, *, api: bool, redirect: bool) -> ASGIApp:
    """The ASGI app for a started process."""
    runtime = process.runtime
    api_app: ASGIApp | None = None
    redirect_app: RedirectApp | None = None
    if api:
        from linkhop.apps.api import create_api_app  # noqa: PLC0415 — keeps `redirect` lean

        api_app = create_api_app(runtime)
    if redirect:
        assert process.publisher is not None
        redirect_app = RedirectApp(
            settings=runtime.settings,
            sessionmaker=make_sessionmaker(read_only(runtime.engine)),
            publisher=process.publisher,
            secret_key=runtime.secret_key,
            link_tier=_link_tier(process),
            spooled=process.publisher is process.spool,
        )
        runtime.invalidation_hooks.append(redirect_app.invalidate)  # this process, at once
        if process.invalidation is not None:
            process.background.append(
                asyncio.create_task(
                    process.invalidation.listen(redirect_app.on_invalidation, stop=process.stop)
                )
            )
    return Dispatcher(ops=OpsApp(process.checks), api=api_app, redirect=redirect_app)


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising the stop signal after its shutdown.

    uvicorn re-sends SIGTERM to the process once it has stopped serving, which would kill us
    before the worker drains and the spool is sealed. We keep the handler installed until the
    process has closed everything and exit normally.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
        yield


def _run(settings: Settings, *, api: bool, redirect: bool, worker: bool, name: str) -> None:
    configure_logging(level=settings.log_level, fmt=settings.log_format)

    async def main() -> None:
        try:
            process = await _start(settings, api=api, redirect=redirect, worker=worker)
        except (LinkhopError, OSError, RuntimeError) as exc:
            log.error("startup_failed", error=f"{type(exc).__name__}: {exc}"[:500])
            sys.exit(1)
        app = build_app(process, api=api, redirect=redirect)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            lifespan="on",
            log_config=None,
            access_log=False,
            http="httptools",
            server_header=False,
            # X-Forwarded-For is ours to interpret (LINKHOP_TRUSTED_PROXY_COUNT), not uvicorn's.
            proxy_headers=False,
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) or None,
        )
        server = _Server(config)
        base = f"http://{settings.host}:{settings.port}"
        log.info(
            f"{name}_started",
            url=base,
            docs=f"{base}/api/v1/docs" if api else None,
            short_domain=settings.default_domain,
            data_dir=str(settings.data_dir),
        )
        try:
            await server.serve()
        finally:
            await process.close()
            log.info(f"{name}_stopped")

    _event_loop_run(main)


def _event_loop_run(main: Callable[[], Awaitable[None]]) -> None:
    try:
        import uvloop  # noqa: PLC0415 — optional speed-up of the event loop

        uvloop.run(main())  # type: ignore[arg-type]  # uvloop types want a Coroutine
    except ImportError:
        asyncio.run(main())  # type: ignore[arg-type]  # same


def run_serve(settings: Settings) -> None:
    """``linkhop serve``: redirect + API + worker in one process, embedded backends."""
    _run(settings, api=True, redirect=True, worker=True, name="serve")


def run_redirect(settings: Settings) -> None:
    """``linkhop redirect``: the redirect service alone."""
    _run(settings, api=False, redirect=True, worker=False, name="redirect")


def run_api(settings: Settings) -> None:
    """``linkhop api``: the management API alone."""
    _run(settings, api=True, redirect=False, worker=False, name="api")
