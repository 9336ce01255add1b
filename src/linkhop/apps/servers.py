"""Process runners: ``serve`` (all in one), ``redirect`` and ``api`` behind uvicorn.

Each builds its runtime and starts serving at once: its backends are reached in the
background (``bootstrap.Backend``), so an unreachable database, Redis or ClickHouse gives one
log line and a failing ``/readyz`` naming it, never a crash loop. Only configuration that can
never work stops the process (one line, exit code 2). It serves until SIGTERM/SIGINT, then
shuts down gracefully: uvicorn stops accepting and finishes in-flight requests, then queued
clicks are flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
import uvicorn

from linkhop.apps.bootstrap import (
    Backend,
    ConfigurationError,
    analytics_backend,
    build_runtime,
    database_backend,
    describe_error,
)
from linkhop.apps.ops import OPS_PATHS, Check, OpsApp
from linkhop.apps.redirect import RedirectApp
from linkhop.asgi import ASGIApp, Receive, Scope, Send, send_bytes
from linkhop.db.engine import is_unavailable, make_sessionmaker, read_only
from linkhop.errors import LinkhopError
from linkhop.logging import configure_logging
from linkhop.metrics import HTTP_REQUESTS
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
API_PREFIXES = ("/api/", "/app/", "/static/")
API_EXACT = frozenset({"/api", "/app", "/docs"})  # not "/app…": "apple" is a short key


def is_api_path(path: str) -> bool:
    """Whether ``serve`` routes ``path`` to the API app rather than the redirect app."""
    return path in API_EXACT or path.startswith(API_PREFIXES)


UNAVAILABLE_PAGE = (
    b"<!doctype html><html lang=en><meta charset=utf-8>"
    b"<meta name=viewport content='width=device-width,initial-scale=1'>"
    b"<title>Temporarily unavailable</title>"
    b"<body style='font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto'>"
    b"<h1>Temporarily unavailable</h1>"
    b"<p>This short link cannot be looked up right now. Please try again in a moment.</p>"
)
_UNAVAILABLE_HEADERS = [
    (b"retry-after", b"5"),
    (b"cache-control", b"no-store"),
    (b"x-robots-tag", b"noindex"),
]
_UNAVAILABLE_LOG_EVERY_S = 10.0


class Dispatcher:
    """Routes by path: ops endpoints, API/dashboard, else the redirect service."""

    def __init__(self, *, ops: ASGIApp, api: ASGIApp | None, redirect: ASGIApp | None) -> None:
        self.ops = ops
        self.api = api
        self.redirect = redirect
        self._unavailable_logged = -_UNAVAILABLE_LOG_EVERY_S

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
            try:
                await self.redirect(scope, receive, send)
            except Exception as exc:
                # A key that is in no cache while the database is unreachable: a fast 503 page
                # (the connect timeout bounds "fast"), not a 500. Anything else is a bug.
                if not is_unavailable(exc):
                    raise
                await self._unavailable(scope, send, exc)

    async def _unavailable(self, scope: Scope, send: Send, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._unavailable_logged >= _UNAVAILABLE_LOG_EVERY_S:  # one line per 10 s
            self._unavailable_logged = now
            log.warning("redirect_database_unavailable", error=describe_error(exc))
        method = scope.get("method", "GET")
        HTTP_REQUESTS.labels("redirect", "/{key}", method, "503").inc()
        with contextlib.suppress(RuntimeError, OSError):  # the response had already started
            await send_bytes(
                send,
                503,
                UNAVAILABLE_PAGE,
                b"text/html; charset=utf-8",
                head=method == "HEAD",
                headers=_UNAVAILABLE_HEADERS,
            )


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
    backends: list[Backend[Any]] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)
    publisher: ClickPublisher | None = None
    spool: SpoolPublisher | None = None
    startup: list[asyncio.Task[bool]] = field(default_factory=list)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cache_redis: Redis | None = None
    invalidation: InvalidationBus | None = None

    @property
    def store(self) -> AnalyticsStore | None:
        """The analytics store, once opened."""
        for backend in self.backends:
            if backend.name == "clickhouse":
                value: AnalyticsStore | None = backend.value
                return value
        return None

    def ops_app(self) -> OpsApp:
        """/healthz, /readyz (every backend, then the local checks) and /metrics."""
        checks: dict[str, Check] = {b.name: b.check for b in self.backends}
        checks.update(self.checks)
        return OpsApp(checks, optional=[b.name for b in self.backends if not b.critical])

    def reach_backends(self) -> None:
        """Start reaching every backend in the background (retried until it answers)."""
        limit = self.runtime.settings.backend_retry_max_seconds
        for backend in self.backends:
            self.startup.append(asyncio.create_task(backend.reach(stop=self.stop, max_delay=limit)))

    async def close(self) -> None:
        """Stop background work (the worker drains), flush clicks, release stores."""
        self.stop.set()
        for task in self.startup:  # a connect in progress would only delay the stop
            task.cancel()
        await asyncio.gather(*self.startup, *self.background, return_exceptions=True)
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
    await publisher.start()  # no I/O yet: a Redis that is down only sends clicks to the spool
    return publisher


async def _periodic_flush(publisher: SpoolPublisher, stop: asyncio.Event) -> None:
    # publish() survives a process crash at once; an fsync a second bounds OS-crash loss.
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        with contextlib.suppress(OSError):
            await publisher.flush()


def _redis_backend(process: Process, url: str, *, worker: bool) -> Backend[None]:
    """Redis: the worker's consumer group (needed to ingest), else the cache's PING (optional:
    redirects fall back to the database and spool clicks, the API queues invalidations)."""
    if worker:
        from linkhop.apps.worker import stream_group_backend  # noqa: PLC0415 — not in redirect

        return stream_group_backend(process.runtime.settings)
    assert process.cache_redis is not None
    client = process.cache_redis

    async def ping() -> None:
        await client.ping()

    return Backend("redis", url, connect=ping, probe=ping, critical=False)


async def _start(settings: Settings, *, api: bool, redirect: bool, worker: bool) -> Process:
    """Build the process without waiting for any backend (ConfigurationError if hopeless)."""
    runtime = build_runtime(settings)
    process = Process(runtime=runtime)
    # After start-up a redirect replica serves cached links without the database, and the API
    # serves everything but analytics without ClickHouse: only the worker cannot do without.
    process.backends.append(database_backend(runtime, critical=api or worker))
    if api or worker:
        process.backends.append(analytics_backend(runtime, critical=worker))
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
    if settings.redis_url and (api or redirect or worker):
        process.backends.append(_redis_backend(process, settings.redis_url, worker=worker))
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
        from linkhop.apps.worker import ingest_when_ready  # noqa: PLC0415 — not in redirect

        process.background.append(
            asyncio.create_task(
                ingest_when_ready(runtime=runtime, backends=process.backends, stop=process.stop)
            )
        )
    process.reach_backends()
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
            # Edits reach this cache from the API (and worker) in this process or over Redis.
            invalidated=api or process.invalidation is not None,
        )
        runtime.invalidation_hooks.append(redirect_app.invalidate)  # this process, at once
        if process.invalidation is not None:
            process.background.append(
                asyncio.create_task(
                    process.invalidation.listen(redirect_app.on_invalidation, stop=process.stop)
                )
            )
    return Dispatcher(ops=process.ops_app(), api=api_app, redirect=redirect_app)


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
        except ConfigurationError as exc:  # retrying cannot help: one line, no traceback
            log.error("configuration_error", error=exc.detail)
            sys.exit(2)
        except (LinkhopError, OSError, RuntimeError) as exc:  # e.g. the spool folder is locked
            log.error("startup_failed", error=describe_error(exc)[:500])
            sys.exit(1)
        app = build_app(process, api=api, redirect=redirect)
        if api:  # a fresh install logs the dashboard's first-run setup URL
            from linkhop.dashboard.service import announce_setup_when_ready  # noqa: PLC0415

            database = next(b for b in process.backends if b.name == "database")
            process.startup.append(
                asyncio.create_task(
                    announce_setup_when_ready(
                        process.runtime,
                        ready=database.ready,
                        base_url=settings.public_url or f"http://{settings.host}:{settings.port}",
                    )
                )
            )
        base = f"http://{settings.host}:{settings.port}"
        log.info(
            f"{name}_started",
            url=base,
            docs=f"{base}/api/v1/docs" if api else None,
            short_domain=settings.default_domain,
            data_dir=str(settings.data_dir),
            server=http_server,
        )
        try:
            if http_server == "granian":
                await _serve_granian(app, settings)
            else:
                await _serve_uvicorn(app, settings)
        finally:
            await process.close()
            log.info(f"{name}_stopped")

    # Only `linkhop redirect` may run on granian (docs/decisions/0014-redirect-server.md).
    http_server = settings.redirect_server if name == "redirect" else "uvicorn"
    if http_server == "granian" and importlib.util.find_spec("granian") is None:
        log.error(
            "configuration_error",
            error="LINKHOP_REDIRECT_SERVER=granian needs the granian package "
            "(pip install 'linkhop[granian]')",
        )
        sys.exit(2)
    _event_loop_run(main)


async def _serve_uvicorn(app: ASGIApp, settings: Settings) -> None:
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
    await _Server(config).serve()


async def _serve_granian(app: ASGIApp, settings: Settings) -> None:
    """granian's embedded server in this event loop (start-up already ran, as with uvicorn).

    Its Rust runtime does the HTTP work on its own thread and hands requests to this loop.
    SIGTERM/SIGINT stop it: it stops accepting, finishes in-flight requests, then returns and
    the process closes as usual. A port it cannot bind ends the process with one line.
    """
    from granian.constants import HTTPModes, Interfaces  # noqa: PLC0415 — optional extra
    from granian.log import LogLevels  # noqa: PLC0415
    from granian.server.embed import Server  # noqa: PLC0415

    server = Server(
        app,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,  # with lifespan: the Dispatcher acknowledges it
        http=HTTPModes.http1,  # behind a proxy or load balancer, as uvicorn
        websockets=False,
        log_access=False,
        log_level=LogLevels(settings.log_level),
        # granian's own lines go through linkhop's formatter (the root handler), not stdout.
        log_dictconfig={"loggers": {"_granian": {"handlers": [], "propagate": True}}},
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop)
    try:
        await server.serve()
    except OSError as exc:  # e.g. the port is taken
        log.error("startup_failed", error=describe_error(exc))
        sys.exit(1)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


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
