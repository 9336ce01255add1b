"""The one typed settings object, built once at start-up and passed down.

Every option reads from an environment variable named ``LINKHOP_<FIELD>`` (nested groups are not
used, so every variable is flat and greppable). ``docs/configuration.md`` lists each option; a test
checks that the two agree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogFormat = Literal["json", "console"]


class Settings(BaseSettings):
    """linkhop configuration. Defaults give a working single-process install under ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="LINKHOP_", env_file=None, extra="ignore")

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path("./linkhop-data"),
        description="Folder for the embedded backends: SQLite file, chDB store, click spool.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy async URL of the transactional store. Default: a SQLite file "
            "`<data_dir>/linkhop.db`. PostgreSQL: `postgresql+asyncpg://user:pass@host/db`."
        ),
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections kept per process.")
    database_connect_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description=(
            "PostgreSQL: longest wait to open a connection, or for a free one in the pool. While "
            "the database is unreachable, requests that need it fail (503) after at most this."
        ),
    )
    clickhouse_url: str | None = Field(
        default=None,
        description=(
            "clickhouse-connect DSN of the analytics store. Default: embedded chDB at "
            "`chdb://<data_dir>/clickhouse`. A server: `http://user:pass@host:8123/`."
        ),
    )
    clickhouse_database: str = Field(
        default="linkhop", description="ClickHouse database that holds the click tables."
    )
    analytics_retention_days: int = Field(
        default=0,
        ge=0,
        le=36_500,
        description=(
            "Days of click analytics kept per org (raw clicks and every rollup, enforced by "
            "ClickHouse TTL). 0 keeps them forever."
        ),
    )
    analytics_retention_overrides: dict[str, int] = Field(
        default_factory=dict,
        description=(
            'Per-org retention in days, overriding the default: a JSON object `{"<org id>": '
            "days}`; 0 keeps that org's clicks forever."
        ),
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Folder of the durable local click queue. Default: `<data_dir>/spool`.",
    )

    # --- HTTP ----------------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the HTTP server binds to.")
    public_url: str | None = Field(
        default=None,
        description=(
            "Base URL users reach the API/dashboard at. Default: `http://<default_domain>`."
        ),
    )
    default_domain: str = Field(
        default="127.0.0.1:8080",
        description=(
            "The default short domain (host[:port]) for links created without a domain. "
            "Short links are printed as `<short_scheme>://<default_domain>/<key>`."
        ),
    )
    short_scheme: Literal["http", "https"] = Field(
        default="http", description="Scheme of printed short links."
    )
    extra_short_domains: list[str] = Field(
        default_factory=list,
        description=(
            "Other hostnames that serve the default domain's links (e.g. `localhost:8080`). "
            "JSON list in the environment variable."
        ),
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest accepted API request body, in bytes."
    )
    trusted_proxy_count: int = Field(
        default=0,
        ge=0,
        description=(
            "How many reverse proxies in front of linkhop append to X-Forwarded-For. "
            "0 ignores the header: the socket peer address is the client address."
        ),
    )
    country_header: str | None = Field(
        default=None,
        description=(
            "Request header set by a trusted edge that carries the visitor's ISO country code "
            "(e.g. `CF-IPCountry`). Only set this when every request passes that edge."
        ),
    )
    geoip_db: Path | None = Field(
        default=None,
        description="MaxMind-format (.mmdb) country or city database used to locate clicks.",
    )

    worker_port: int = Field(
        default=9100,
        ge=0,
        le=65535,
        description=(
            "Port on which a standalone `linkhop worker` serves /healthz, /readyz and /metrics "
            "(bound to `host`). 0 turns it off."
        ),
    )
    redirect_server: Literal["uvicorn", "granian"] = Field(
        default="uvicorn",
        description=(
            "HTTP server of `linkhop redirect`: `uvicorn` (uvloop + httptools) or `granian` "
            "(needs the optional `granian` package; its embedded mode, marked experimental by "
            "granian). Other commands always use uvicorn."
        ),
    )

    # --- links ---------------------------------------------------------------------------------
    key_length: int = Field(default=7, ge=4, le=32, description="Length of random short keys.")
    key_alphabet: str = Field(
        default="abcdefghijkmnopqrstuvwxyz23456789",
        min_length=16,
        description=(
            "Characters random keys are drawn from. The default leaves out look-alikes "
            "(0/o, 1/l) and upper case, since the default domain is case-insensitive."
        ),
    )
    keys_case_sensitive: bool = Field(
        default=False,
        description="Whether keys on the default domain are case-sensitive (`Abc` != `abc`).",
    )
    max_key_length: int = Field(default=190, ge=8, le=190, description="Longest custom key.")
    max_url_length: int = Field(
        default=8192, ge=256, le=65536, description="Longest destination URL, in characters."
    )
    reserved_keys: list[str] = Field(
        default_factory=list,
        description="Keys nobody may claim, on top of the built-in list (api, app, docs, …).",
    )

    # --- Redis (scale-out) ---
    redis_url: str | None = Field(
        default=None,
        description=(
            "Redis for the scale-out deployment: the shared short-key cache and the "
            "invalidation channel between replicas (`redis://[:password@]host:6379/0`). "
            "Unset: each process caches on its own and edits reach separate `redirect` "
            "processes within `cache_ttl_seconds`."
        ),
    )
    redis_cache_ttl_seconds: float = Field(
        default=86400.0,
        gt=0,
        description=(
            "How long a link stays in the Redis cache: how long it keeps redirecting while the "
            "database is down, and the staleness bound if an invalidation were lost."
        ),
    )
    redis_negative_cache_ttl_seconds: float = Field(
        default=5.0, gt=0, description="How long Redis remembers that a key does not exist."
    )
    redis_cache_timeout_seconds: float = Field(
        default=0.25,
        gt=0,
        description="Socket timeout of cache calls; past it the redirect asks the database.",
    )
    redis_cache_retry_after_seconds: float = Field(
        default=5.0,
        gt=0,
        description="After a Redis error, how long the redirect skips Redis (circuit breaker).",
    )

    click_stream: str = Field(
        default="linkhop:{clicks}",
        description=(
            "Redis stream that carries clicks from redirect to worker when `redis_url` is set "
            "(the braces are a Redis Cluster hash tag shared with the dead-letter stream)."
        ),
    )
    click_stream_dlq: str = Field(
        default="linkhop:{clicks}:dlq",
        description="Stream that receives malformed click entries and entries that keep failing.",
    )
    click_stream_group: str = Field(
        default="linkhop-workers", description="Consumer group every worker joins."
    )
    click_stream_consumer_name: str | None = Field(
        default=None,
        description=(
            "This worker's name in the group; must be unique among live workers. Default: "
            "`<hostname>-<pid>`. A stable name (e.g. a StatefulSet pod name) lets a restarted "
            "worker replay its unfinished batch at once instead of after the claim delay."
        ),
    )
    click_stream_flush_interval_seconds: float = Field(
        default=0.005,
        gt=0,
        description=(
            "How often a redirect process sends its buffered clicks as one packed XADD. A "
            "`kill -9` of the redirect loses at most this much of clicks (the price of "
            "throughput; the embedded spool loses none)."
        ),
    )
    click_stream_claim_idle_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How long a dead worker's batch waits before another worker claims it. Must exceed "
            "the longest batch plus the worker's retry backoff (30 s)."
        ),
    )
    click_stream_max_deliveries: int = Field(
        default=5, ge=1, description="Pick-ups before an entry goes to the dead-letter stream."
    )

    # --- redirects and cache -------------------------------------------------------------------
    cache_size: int = Field(
        default=100_000, ge=0, description="Entries in the in-process short-key cache (LRU)."
    )
    cache_ttl_seconds: float | None = Field(
        default=None,
        ge=0,
        description=(
            "How long a cached link is trusted before it is reloaded. Default: 300 s in a "
            "process whose cache hears every edit (`serve`, or any process with `redis_url`), "
            "5 s in a `redirect` process without Redis, which sees edits only by reloading."
        ),
    )
    negative_cache_ttl_seconds: float = Field(
        default=2.0, ge=0, description="How long an unknown key is remembered as unknown."
    )
    permanent_redirect_max_age: int = Field(
        default=30,
        ge=0,
        description="`Cache-Control: private, max-age=N` sent with 301/308 redirects.",
    )

    # --- click ingestion -------------------------------------------------------------------------
    ingest_batch_size: int = Field(
        default=5000, ge=1, description="Most clicks the worker inserts in one batch."
    )
    ingest_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often the worker looks for new clicks."
    )
    store_ip: Literal["full", "anonymized", "none"] = Field(
        default="anonymized",
        description=(
            "How visitor IPs are stored with clicks: `full`, `anonymized` (IPv4 /24, "
            "IPv6 /48) or `none`."
        ),
    )

    # --- auth ----------------------------------------------------------------------------------
    secret_key: str | None = Field(
        default=None,
        description=(
            "Server secret (at least 32 characters) that signs CSRF tokens and the cookies "
            "that unlock password-protected links. Default: generated once and kept in "
            "`<data_dir>/secret_key`. Set the same value on every process of one site."
        ),
    )
    session_ttl_hours: int = Field(default=24 * 14, ge=1, description="Dashboard session lifetime.")
    invite_ttl_hours: int = Field(
        default=24 * 7,
        ge=1,
        le=24 * 90,
        description="How long an invitation link to join an organisation stays usable.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Force the Secure cookie flag. Default: on when `public_url` is https.",
    )
    api_key_env: Literal["live", "test"] = Field(
        default="live", description="Environment tag in new API keys (`lnk_live_…`)."
    )
    api_key_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description=(
            "How long a process trusts an API key it verified without asking the database "
            "again. Changes made in the same process apply at once; 0 checks every request."
        ),
    )

    # --- operations ----------------------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest log level written."
    )
    log_format: LogFormat = Field(
        default="json", description="`json` (one object per line) or `console` (for humans)."
    )
    auto_migrate: bool = Field(
        default=True,
        description=(
            "Apply pending database migrations when a process or admin command starts. Turn "
            "off when a deploy step runs `linkhop migrate` before new processes start."
        ),
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="How long shutdown waits to flush pending clicks."
    )
    backend_retry_max_seconds: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Longest pause between attempts to reach a backend (database, Redis, ClickHouse) "
            "that was down at start-up; the pause doubles from 0.5 s up to this."
        ),
    )

    @field_validator("default_domain", "extra_short_domains", mode="after")
    @classmethod
    def _lower_hosts(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, str):
            return value.strip().lower()
        return [v.strip().lower() for v in value]

    @field_validator("key_alphabet")
    @classmethod
    def _alphabet_unique(cls, value: str) -> str:
        if len(set(value)) != len(value):
            raise ValueError("key_alphabet has repeated characters")
        if any(not c.isascii() or not c.isalnum() for c in value):
            raise ValueError("key_alphabet may contain only ASCII letters and digits")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("analytics_retention_overrides")
    @classmethod
    def _retention_overrides(cls, value: dict[str, int]) -> dict[str, int]:
        # The org ids end up as literals in ClickHouse TTL DDL (clickhouse/retention.py).
        for org_id, days in value.items():
            if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,128}", org_id):
                raise ValueError(f"not an org id: {org_id!r:.80}")
            if not 0 <= days <= 36_500:
                raise ValueError(f"{org_id}: days must be 0..36500, got {days}")
        return value

    # --- derived values --------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        """The transactional store URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'linkhop.db').resolve()}"

    @property
    def resolved_clickhouse_url(self) -> str:
        """The analytics store DSN, defaulting to the embedded chDB folder."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def resolved_spool_dir(self) -> Path:
        """The click spool folder."""
        return self.spool_dir if self.spool_dir is not None else self.data_dir / "spool"

    @property
    def resolved_public_url(self) -> str:
        """Base URL of the API and dashboard, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"{self.short_scheme}://{self.default_domain}"

    def link_cache_ttl(self, *, invalidated: bool) -> float:
        """``cache_ttl_seconds``, or its default for a cache that does (not) hear every edit."""
        if self.cache_ttl_seconds is not None:
            return self.cache_ttl_seconds
        return 300.0 if invalidated else 5.0

    @property
    def short_domains(self) -> frozenset[str]:
        """Every hostname that serves the default domain's links."""
        return frozenset([self.default_domain, *self.extra_short_domains])

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.resolved_public_url.startswith("https://")

    def load_secret_key(self) -> str:
        """Return the configured secret, or the one kept in the data folder (made on first use)."""
        if self.secret_key:
            return self.secret_key
        import secrets  # noqa: PLC0415 — only needed on this rarely taken path

        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value)
        tmp.chmod(0o600)
        tmp.replace(path)
        return value
