"""The analytics store connection: one clickhouse-connect client for chDB or a ClickHouse server.

The same client class speaks to the in-process chDB engine (``chdb:///abs/path``) and to a server
(``http(s)://user:pass@host:8123/``), with one SQL dialect and server-side bound parameters.

Concurrency: a clickhouse-connect client must not run two queries at once (an HTTP session is
locked per query; a chDB handle silently returns an empty result when a query is issued while
another one streams). ``ClickHouse`` therefore serialises every call behind one lock, and its
``a*`` methods run the blocking call in a worker thread so the event loop never waits on it.

chDB hosts ONE engine path per process: a second path can be opened only after every client of
the first one is closed, and a forked child that inherits an open engine hangs. Open the store
after any fork and close it on shutdown.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from linkhop.errors import Unavailable

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# `{name:Type}` server-side placeholders; anything else would fall back to client-side formatting.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):")

# Always sent with inserts: a retried batch must be dropped by the materialized-view targets too,
# not only by the raw table. 24.x servers default this to 0 (chDB 26.x defaults it to 1).
_INSERT_SETTINGS: dict[str, Any] = {"deduplicate_blocks_in_dependent_materialized_views": 1}

Params = Mapping[str, Any]


def quote_identifier(name: str) -> str:
    """Return ``name`` back-quoted after checking it is a plain identifier (never user input)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a safe ClickHouse identifier: {name!r}")
    return f"`{name}`"


def chdb_dsn(path: Path) -> str:
    """The ``chdb:///abs/path`` DSN of an embedded store folder."""
    return f"chdb://{path.resolve()}"


def make_client(dsn: str) -> Client:
    """Open a clickhouse-connect client for a ``chdb:///abs/path`` or ``http(s)://`` DSN."""
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        if parts.netloc:
            # clickhouse-connect would read the netloc as the location and the path as a
            # database name, so `chdb://data/ch` silently means something else. Refuse it.
            raise ValueError(f"chDB DSN needs an absolute path (chdb:///abs/path), got {dsn!r}")
        if not parts.path:
            raise ValueError("chDB DSN has no path; the embedded store must live on disk")
        Path(parts.path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=dsn)
    if parts.scheme in ("http", "https"):
        # No server session: session state is not needed and a session allows one query at a time.
        return clickhouse_connect.get_client(dsn=dsn, autogenerate_session_id=False)
    raise ValueError(f"unsupported ClickHouse DSN scheme {parts.scheme!r} (chdb, http, https)")


@contextmanager
def _unavailable_on_connection_error() -> Iterator[None]:
    """Turn a lost connection into the domain ``Unavailable`` error (mapped to 503)."""
    try:
        yield
    except OperationalError as exc:
        raise Unavailable("the analytics store is unreachable") from exc


def _check_params(sql: str, params: Params | None) -> dict[str, Any]:
    """Refuse parameters that are not `{name:Type}` placeholders in ``sql``."""
    if not params:
        return {}
    bound = set(_PLACEHOLDER.findall(sql))
    missing = set(params) - bound
    if missing:
        # clickhouse-connect would otherwise %-format them into the SQL text client-side.
        raise ValueError(f"parameters without a {{name:Type}} placeholder: {sorted(missing)}")
    return dict(params)


class ClickHouse:
    """A clickhouse-connect client behind a lock, with async twins that run in a worker thread."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, dsn: str) -> ClickHouse:
        """Open the store named by ``dsn`` (``make_client``); a refused server is Unavailable."""
        with _unavailable_on_connection_error():
            return cls(make_client(dsn))

    @property
    def client(self) -> Client:
        """The underlying clickhouse-connect client; callers must not use it concurrently."""
        return self._client

    def query(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """Run a SELECT with bound parameters and return its rows."""
        bound = _check_params(sql, params)
        with self._lock, _unavailable_on_connection_error():
            result = self._client.query(sql, parameters=bound)
            return [tuple(row) for row in result.result_rows]

    def query_named(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run a SELECT with bound parameters and return its rows as column-name dicts."""
        bound = _check_params(sql, params)
        with self._lock, _unavailable_on_connection_error():
            result = self._client.query(sql, parameters=bound)
            return list(result.named_results())

    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT … SELECT)."""
        bound = _check_params(sql, params)
        with self._lock, _unavailable_on_connection_error():
            self._client.command(sql, parameters=bound or None)

    def insert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        dedup_token: str | None = None,
    ) -> None:
        """Insert ``rows`` into ``db.table`` as one block; a repeated ``dedup_token`` is a no-op."""
        settings = dict(_INSERT_SETTINGS)
        if dedup_token is not None:
            settings["insert_deduplication_token"] = dedup_token
        with self._lock, _unavailable_on_connection_error():
            self._client.insert(table, rows, column_names=list(column_names), settings=settings)

    def ping(self) -> bool:
        """True when the store answers a trivial query (readiness, not liveness)."""
        try:
            return self.query("SELECT 1") == [(1,)]
        except Exception:  # any failure means "not ready": a probe reports, it never raises
            return False

    def close(self) -> None:
        """Close the client (for chDB: releases the engine path when it was the last client)."""
        with self._lock:
            self._client.close()

    async def aquery(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        """``query`` in a worker thread."""
        return await asyncio.to_thread(self.query, sql, params)

    async def aquery_named(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """``query_named`` in a worker thread."""
        return await asyncio.to_thread(self.query_named, sql, params)

    async def acommand(self, sql: str, params: Params | None = None) -> None:
        """``command`` in a worker thread."""
        await asyncio.to_thread(self.command, sql, params)

    async def ainsert(
        self,
        table: str,
        rows: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        dedup_token: str | None = None,
    ) -> None:
        """``insert`` in a worker thread."""
        await asyncio.to_thread(self.insert, table, rows, column_names, dedup_token)

    async def aping(self) -> bool:
        """``ping`` in a worker thread."""
        return await asyncio.to_thread(self.ping)

    def __enter__(self) -> ClickHouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
