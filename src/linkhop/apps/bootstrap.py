"""Building a process's runtime from settings, and reaching its backends (shared by every command).

Start-up never ends in a crash loop because a backend is down. Each backend's start-up step
(database migrations, opening the analytics store, the Redis consumer group) is a
:class:`Backend` that runs in the background and is retried with capped, jittered exponential
backoff. The first failure is logged once (``backend_unavailable``, with the URL redacted),
``/readyz`` names the backend until it is reached, and ``backend_ready`` marks the recovery.
Only configuration that can never work (a URL that does not parse, an unknown driver, a data
folder that cannot be created) stops the process: :class:`ConfigurationError`, one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url

from linkhop.apps.ops import NotReady
from linkhop.db import migrate
from linkhop.db.engine import make_engine, make_sessionmaker
from linkhop.errors import LinkhopError, Unavailable
from linkhop.runtime import Runtime, link_policy
from linkhop.settings import Settings

if TYPE_CHECKING:  # clickhouse-connect is loaded only by processes that use analytics
    from linkhop.apps.analytics_store import AnalyticsStore

log = structlog.get_logger("linkhop")
T = TypeVar("T")

_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "secret", "token", "access_token"})
_REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})
_CLICKHOUSE_SCHEMES = frozenset({"chdb", "http", "https"})


class ConfigurationError(LinkhopError):
    """A setting that can never work: the process stops with one line (no retry helps)."""

    code = "configuration_error"
    title = "Configuration error"


def redact_url(url: str) -> str:
    """``url`` with its password (and secret-looking query values) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*/:"
            )
        if netloc == parts.netloc and query == parts.query:
            return url  # nothing secret (and `chdb:///path` keeps its three slashes)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # unparseable: show the scheme only, never a possible secret
        return url.partition("://")[0] + "://…"


def _scrub(message: str, url: str) -> str:
    """An error text safe to log: without the password of ``url``, whatever the driver printed."""
    with contextlib.suppress(ValueError):
        secret = urlsplit(url).password
        if secret:
            message = message.replace(secret, "***")
    return message


def describe_error(exc: BaseException, url: str = "") -> str:
    """One line for logs and ``/readyz``: type, message and the cause, without secrets."""
    message = f"{type(exc).__name__}: {exc}"
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in message:
        message += f" ({type(cause).__name__}: {cause})"
    return _scrub(" ".join(message.split()), url)[:300]


def _require_port(parts_port: Callable[[], int | None], name: str, url: str) -> None:
    try:
        parts_port()
    except ValueError as exc:
        raise ConfigurationError(f"{name}: invalid port in {redact_url(url)}") from exc


def check_urls(settings: Settings) -> None:
    """Refuse backend URLs that cannot work, before anything connects."""
    db_url = settings.resolved_database_url
    try:
        parsed = make_url(db_url)
        parsed.get_dialect()
    except Exception as exc:  # ArgumentError, ValueError (port), NoSuchModuleError (driver)
        raise ConfigurationError(
            f"LINKHOP_DATABASE_URL is not a usable SQLAlchemy URL ({describe_error(exc, db_url)}); "
            "use postgresql+asyncpg://user:pass@host:5432/db or sqlite+aiosqlite:////abs/path.db"
        ) from exc
    if settings.redis_url:
        parts = urlsplit(settings.redis_url)
        if parts.scheme not in _REDIS_SCHEMES:
            raise ConfigurationError(
                f"LINKHOP_REDIS_URL must start with redis://, rediss:// or unix:// "
                f"(got {redact_url(settings.redis_url)})"
            )
        _require_port(lambda: parts.port, "LINKHOP_REDIS_URL", settings.redis_url)
    ch_url = settings.resolved_clickhouse_url
    parts = urlsplit(ch_url)
    if parts.scheme not in _CLICKHOUSE_SCHEMES:
        raise ConfigurationError(
            f"LINKHOP_CLICKHOUSE_URL must start with chdb://, http:// or https:// "
            f"(got {redact_url(ch_url)})"
        )
    if parts.scheme == "chdb" and (parts.netloc or not parts.path):
        raise ConfigurationError(
            f"LINKHOP_CLICKHOUSE_URL: a chDB DSN needs an absolute path, chdb:///abs/path "
            f"(got {ch_url})"
        )
    _require_port(lambda: parts.port, "LINKHOP_CLICKHOUSE_URL", ch_url)


def build_runtime(settings: Settings) -> Runtime:
    """Engine, sessions, policy and secret for this process (no I/O beyond the data folder).

    Raises :class:`ConfigurationError` for settings that can never work.
    """
    check_urls(settings)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret_key = settings.load_secret_key()
    except OSError as exc:
        raise ConfigurationError(
            f"LINKHOP_DATA_DIR {settings.data_dir} is not usable: {describe_error(exc)}"
        ) from exc
    try:
        engine = make_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            connect_timeout=settings.database_connect_timeout_seconds,
        )
    except Exception as exc:  # a driver that is not installed or not async
        error = describe_error(exc, settings.resolved_database_url)
        raise ConfigurationError(f"LINKHOP_DATABASE_URL cannot be used: {error}") from exc
    return Runtime(
        settings=settings,
        engine=engine,
        sessionmaker=make_sessionmaker(engine),
        policy=link_policy(settings),
        secret_key=secret_key,
    )


async def prepare_database(runtime: Runtime, *, apply_migrations: bool) -> None:
    """Apply migrations when asked; either way, refuse a database that is behind the code."""
    if apply_migrations:
        await migrate.upgrade(runtime.engine)
        log.info("database_migrated", revision=await migrate.current_revision(runtime.engine))
    current, head = await migrate.current_revision(runtime.engine), migrate.head_revision()
    if current != head:
        raise Unavailable(
            f"the database is at migration {current or 'none'} but this version needs {head}: "
            "run `linkhop migrate` (or set LINKHOP_AUTO_MIGRATE=true)"
        )


async def check_database(runtime: Runtime) -> None:
    """Readiness probe for the transactional store."""
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


@dataclass(eq=False)
class Backend(Generic[T]):
    """One backend a process needs: a start-up step retried until it works, then a probe.

    ``connect`` does the start-up work (idempotent: it may run again after a failure) and
    returns what the process keeps (e.g. the opened analytics store, in ``value``). ``probe``
    is the readiness check once connected. ``critical`` says whether a failing probe after
    start-up makes the process unready (``/readyz`` 503) or only degraded (200, named in the
    body; see ``OpsApp(optional=…)``): a redirect replica keeps serving cached links while the
    database is down, and a readiness probe that failed on every replica at once would take
    them all out of service. Before the first success the backend is never ready.
    """

    name: str
    url: str
    connect: Callable[[], Awaitable[T]]
    probe: Callable[[], Awaitable[None]] | None = None
    critical: bool = True
    value: T | None = None
    attempts: int = 0
    error: str | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _symptom: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def shown_url(self) -> str:
        """The URL as logs and ``/readyz`` show it (no password)."""
        return redact_url(self.url)

    async def check(self) -> None:
        """The readiness check: :class:`NotReady` until connected, then the probe."""
        if not self.ready.is_set():
            state = f"not reached yet: {self.error}" if self.error else "connecting"
            raise NotReady(f"{state} ({self.shown_url}, attempt {self.attempts})")
        if self.probe is not None:
            await self.probe()

    async def reach(
        self, *, stop: asyncio.Event, max_delay: float, first_delay: float = 0.5
    ) -> bool:
        """Run ``connect`` until it succeeds (True) or ``stop`` is set (False)."""
        started = time.monotonic()
        delay = min(first_delay, max_delay)
        while not stop.is_set():
            self.attempts += 1
            try:
                self.value = await self.connect()
            except Exception as exc:  # whatever it is, retrying beats a crash loop
                error = describe_error(exc, self.url)
                # Jitter: replicas that lost the same backend do not retry in lockstep.
                wait = delay * random.uniform(0.8, 1.2)  # noqa: S311 — not cryptographic
                # One line per outage, and one more per change of symptom (the exception types:
                # messages differ between attempts, e.g. by a query id).
                symptom = (type(exc).__name__, type(exc.__cause__).__name__)
                if symptom != self._symptom:
                    self._symptom = symptom
                    log.error(
                        "backend_unavailable",
                        backend=self.name,
                        url=self.shown_url,
                        error=error,
                        attempt=self.attempts,
                        retry_in_s=round(wait, 1),
                    )
                self.error = error
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
                delay = min(delay * 2, max_delay)
                continue
            self.ready.set()
            self._symptom = None
            log.info(
                "backend_ready",
                backend=self.name,
                url=self.shown_url,
                attempts=self.attempts,
                waited_s=round(time.monotonic() - started, 2),
            )
            self.error = None
            return True
        return False


async def all_ready(backends: Iterable[Backend[Any]], stop: asyncio.Event) -> bool:
    """Wait until every backend is reached (True) or ``stop`` is set first (False)."""
    for backend in backends:
        waiter = asyncio.ensure_future(backend.ready.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
        if not backend.ready.is_set():
            return False
    return True


def database_backend(runtime: Runtime, *, critical: bool) -> Backend[None]:
    """The transactional store: migrate (or check the schema), then ``SELECT 1`` probes."""
    settings = runtime.settings
    return Backend(
        "database",
        settings.resolved_database_url,
        connect=lambda: prepare_database(runtime, apply_migrations=settings.auto_migrate),
        probe=lambda: check_database(runtime),
        critical=critical,
    )


def analytics_backend(runtime: Runtime, *, critical: bool) -> Backend[AnalyticsStore]:
    """The analytics store: open and migrate it (the API's queries use it from then on)."""
    settings = runtime.settings

    async def connect() -> AnalyticsStore:
        from linkhop.apps.analytics_store import open_analytics  # noqa: PLC0415 — not in redirect

        store = await open_analytics(settings)
        runtime.clickhouse = store.ch
        return store

    backend: Backend[AnalyticsStore] = Backend(
        "clickhouse", settings.resolved_clickhouse_url, connect=connect, critical=critical
    )

    async def ping() -> None:
        assert backend.value is not None
        if not await backend.value.ch.aping():
            raise OSError("ClickHouse did not answer a ping")

    backend.probe = ping
    return backend
