"""Loading what the redirect path needs from the transactional store (the cache-miss path).

A miss reads ONE row with a Core ``SELECT`` of the columns the decision needs, straight into a
``LinkRecord``: no ORM object, identity map or session (bench/README.md measured ≈ 1.9 ms of
CPU for the ORM load through aiosqlite against ≈ 13 µs for the same ``SELECT`` through
``sqlite3``). ``LinkReader`` is what the redirect service uses:

- SQLite (a database file): a read-only ``sqlite3`` connection of its own, queried on the event
  loop thread. An indexed read of one row costs tens of microseconds, less than a single hop to
  aiosqlite's thread (a miss through aiosqlite takes ≈ 9 of them). In WAL mode readers never
  wait for writers; the API's commits are visible to the next read. Values go through the same
  SQLAlchemy result processors as the ORM path, and driver errors are wrapped as SQLAlchemy
  errors, so callers see exactly what the engine would give them.
- PostgreSQL (and anything else): the Core statement on a pooled connection of the engine
  (asyncpg prepares it once per connection and reuses it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from linkhop.domains import service as domains_service
from linkhop.links.models import Link
from linkhop.links.utm import UTM_PARAMS, apply_utm
from linkhop.redirects.decision import LinkRecord

_LINKS = Link.metadata.tables["links"]
# LinkRecord's fields in order, then the link's UTM fields (applied to the destination once,
# when the record is loaded).
_RECORD_COLUMNS = (
    "id",
    "org_id",
    "domain",
    "key",
    "url",
    "expires_at",
    "expired_url",
    "max_clicks",
    "clicks",
    "password_hash",
    "archived",
    "redirect_status",
    "forward_query",
    "title",
    "created_at",
)
_COLUMNS = (*_RECORD_COLUMNS, *UTM_PARAMS)
_SELECT = select(*(_LINKS.c[name] for name in _COLUMNS)).where(
    _LINKS.c.domain == bindparam("domain"), _LINKS.c.key_lookup == bindparam("key_lookup")
)
_UTM_START = len(_RECORD_COLUMNS)


@dataclass(frozen=True, slots=True)
class DomainRule:
    """How keys on one short domain are matched."""

    domain: str
    case_sensitive: bool


def _record(row: Sequence[Any]) -> LinkRecord:
    """A cacheable record from a row of ``_SELECT``, UTM parameters applied to the URL."""
    (
        id_,
        org_id,
        domain,
        key,
        url,
        expires_at,
        expired_url,
        max_clicks,
        clicks,
        password_hash,
        archived,
        redirect_status,
        forward_query,
        title,
        created_at,
    ) = row[:_UTM_START]
    utm = row[_UTM_START:]
    if any(utm):
        url = apply_utm(url, dict(zip(UTM_PARAMS, utm, strict=True)))
    return LinkRecord(
        id=id_,
        org_id=org_id,
        domain=domain,
        key=key,
        url=url,
        expires_at=expires_at,
        expired_url=expired_url,
        max_clicks=max_clicks,
        clicks=clicks,
        password_hash=password_hash,
        archived=bool(archived),
        redirect_status=redirect_status,
        forward_query=bool(forward_query),
        title=title,
        created_at=created_at,
    )


async def load_link(
    sessionmaker: async_sessionmaker[AsyncSession], domain: str, key_lookup: str
) -> LinkRecord | None:
    """The cacheable record of a link, with its UTM parameters applied to the destination."""
    async with sessionmaker() as session:
        row = (await session.execute(_SELECT, {"domain": domain, "key_lookup": key_lookup})).first()
    return None if row is None else _record(row)


class LinkReader:
    """The redirect service's cache-miss read (see the module docstring)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = _SqliteReader.for_engine(engine)

    async def load(self, domain: str, key_lookup: str) -> LinkRecord | None:
        """The record of the link ``domain``/``key_lookup``, or None."""
        params = {"domain": domain, "key_lookup": key_lookup}
        if self._sqlite is not None:
            row = self._sqlite.first(params)
        else:
            async with self._engine.connect() as conn:
                row = (await conn.execute(_SELECT, params)).first()
        return None if row is None else _record(row)

    def close(self) -> None:
        """Close the SQLite connection, if one is open (the engine belongs to the caller)."""
        if self._sqlite is not None:
            self._sqlite.close()


class _SqliteReader:
    """``_SELECT`` on a read-only ``sqlite3`` connection, results processed like SQLAlchemy's."""

    def __init__(self, path: str, dialect: Dialect) -> None:
        # A URI so the file is opened read-only (and never created): percent-encoded, absolute.
        self._uri = f"{Path(path).resolve().as_uri()}?mode=ro"
        compiled = _SELECT.compile(dialect=dialect)
        self._sql = compiled.string
        self._order = tuple(compiled.positiontup or ())
        processors: list[Callable[[Any], Any] | None] = [
            _LINKS.c[name].type.dialect_impl(dialect).result_processor(dialect, None)
            for name in _COLUMNS
        ]
        self._processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        self._conn: sqlite3.Connection | None = None

    @classmethod
    def for_engine(cls, engine: AsyncEngine) -> _SqliteReader | None:
        url = engine.url
        path = url.database
        if url.get_backend_name() != "sqlite" or url.query or not path or path == ":memory:":
            return None
        return cls(path, engine.dialect)

    def first(self, params: dict[str, str]) -> tuple[Any, ...] | None:
        values = tuple(params[name] for name in self._order)
        try:
            conn = self._conn
            if conn is None:
                # Autocommit (isolation_level=None): every SELECT sees the latest commit.
                # check_same_thread=False: the loop thread may change (tests, a restarted loop);
                # the sqlite3 module serialises use of one connection.
                conn = sqlite3.connect(
                    self._uri, uri=True, timeout=1.0, isolation_level=None, check_same_thread=False
                )
                self._conn = conn
            row = conn.execute(self._sql, values).fetchone()
        except sqlite3.Error as exc:
            self.close()  # reopen on the next miss (the file may have been created or replaced)
            raise DBAPIError.instance(self._sql, values, exc, sqlite3.Error, ismulti=False) from exc
        if row is None:
            return None
        if not self._processors:
            return tuple(row)
        out = list(row)
        for index, process in self._processors:
            out[index] = process(out[index])
        return tuple(out)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


async def load_domain(
    sessionmaker: async_sessionmaker[AsyncSession], hostname: str
) -> DomainRule | None:
    """The key rule of a branded domain, or None when we do not serve ``hostname``."""
    async with sessionmaker() as session:
        found = await domains_service.domain_for_host(session, hostname=hostname)
    return None if found is None else DomainRule(found.hostname, found.case_sensitive)
