"""Importing historical click events (``linkhop analytics backfill``), idempotently.

The file (CSV with a header row, or JSON lines) is read in chunks of ``chunk_size`` data lines,
so memory stays constant whatever its size. Each chunk goes through exactly what the worker does
with a queue batch: every row becomes a raw click event, is validated by ``decode_click`` and
enriched by ``prepare_batch`` (user agent, bot rules, geo, referrer, UTM, visitor id), inserted
by ``ClickHouseClickSink`` and counted per link by the ``CounterSink``.

Idempotence, so running the same file twice stores every click once:

* a chunk's token is a hash of its lines (numbers and content) and the ``--org`` option, so the
  same file cut the same way always gives the same tokens;
* the insert carries the token as ``insert_deduplication_token`` (raw table and every rollup
  drop a replay), and the per-link counters record it;
* after the insert, the token is written to ``<db>.backfill_log``; a chunk already listed there is
  skipped (the dedup window alone forgets tokens after 10 000 inserts).

A bad line is reported with its line number and reason and left out; the rest of its chunk is
imported. With ``stop_on_error`` the import stops at the first bad line, before inserting the
chunk that holds it (earlier chunks stay imported: fix the line and run the same file again).
Bad lines can be written to a rejects file in the input's format, to be fixed and imported on
their own (importing an EDITED copy of the whole file would cut different chunks and count the
good lines again).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import math
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol, TextIO, cast

import orjson
from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import render
from linkhop.ingest.enrich import StoreIp
from linkhop.ingest.geo import GeoReader
from linkhop.ingest.schemas import Method, RawClick, Trigger, encode_click
from linkhop.ingest.service import CounterSink, prepare_batch
from linkhop.ingest.sink import ClickHouseClickSink
from linkhop.links.models import Link

BackfillFormat = Literal["csv", "jsonl"]

# The file's columns (CSV header names / JSON keys). ts and a link are required; see
# docs/analytics.md "Backfill" for each one's meaning and default.
COLUMNS: tuple[str, ...] = (
    "ts",
    "org_id",
    "link_id",
    "domain",
    "key",
    "click_id",
    "url",
    "trigger",
    "ip",
    "ua",
    "referrer",
    "country",
    "method",
)
DEFAULT_CHUNK_SIZE = 10_000
# An epoch above this is in milliseconds, not seconds (year 5138 in seconds).
_MILLIS_THRESHOLD = 1e11
_FUTURE_SLACK = timedelta(days=1)
_NAMESPACE = uuid.UUID("6f0e8a3c-3b5e-4d8a-9c1e-2b7f4a6d5e10")  # click ids made for the file


class BackfillError(Exception):
    """The file as a whole cannot be imported (unreadable, unknown columns, no header)."""


class LinkInfo(NamedTuple):
    """What the import needs to know about a link."""

    id: str
    org_id: str
    domain: str
    key: str
    url: str


class LinkDirectory(Protocol):
    """Finds links by id or by (domain, key)."""

    async def by_ids(self, ids: Collection[str]) -> dict[str, LinkInfo]:
        """The links among ``ids`` that exist."""
        ...

    async def by_keys(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], LinkInfo]:
        """The links among ``(domain, key)`` pairs that exist (key as stored, exact)."""
        ...


class SqlLinkDirectory:
    """``LinkDirectory`` over the transactional store, remembering what it looked up."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._ids: dict[str, LinkInfo | None] = {}
        self._keys: dict[tuple[str, str], LinkInfo | None] = {}

    @staticmethod
    def _info(link: Link) -> LinkInfo:
        return LinkInfo(link.id, link.org_id, link.domain, link.key, link.url)

    async def by_ids(self, ids: Collection[str]) -> dict[str, LinkInfo]:
        """See ``LinkDirectory``."""
        missing = [i for i in set(ids) if i not in self._ids]
        if missing:
            async with self._sessionmaker() as session:
                found = (await session.execute(select(Link).where(Link.id.in_(missing)))).scalars()
                for link in found:
                    self._ids[link.id] = self._info(link)
            for i in missing:
                self._ids.setdefault(i, None)
        return {i: info for i in ids if (info := self._ids.get(i)) is not None}

    async def by_keys(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], LinkInfo]:
        """See ``LinkDirectory``."""
        missing = [k for k in set(keys) if k not in self._keys]
        for start in range(0, len(missing), 500):
            part = missing[start : start + 500]
            async with self._sessionmaker() as session:
                stmt = select(Link).where(
                    or_(*(tuple_(Link.domain, Link.key) == pair for pair in part))
                )
                for link in (await session.execute(stmt)).scalars():
                    self._keys[(link.domain, link.key)] = self._info(link)
        for k in missing:
            self._keys.setdefault(k, None)
        return {k: info for k in keys if (info := self._keys.get(k)) is not None}


@dataclass(frozen=True)
class Record:
    """One data line of the file: its number, its fields, and its exact content for hashing."""

    line: int
    fields: dict[str, Any]
    canonical: bytes


@dataclass(frozen=True)
class LineError:
    """A line left out, and why."""

    line: int
    reason: str


@dataclass
class BackfillReport:
    """What an import did."""

    lines: int = 0  # data lines read
    stored: int = 0  # rows inserted by this run
    already: int = 0  # rows of chunks imported by an earlier run (skipped)
    rejected: int = 0  # bad lines left out
    chunks: int = 0
    skipped_chunks: int = 0
    stopped_at: int | None = None  # line of the first error when stop_on_error stopped the import
    errors: list[LineError] = field(default_factory=list)  # the first 1000


@dataclass(frozen=True)
class BackfillOptions:
    """How to import."""

    fmt: BackfillFormat
    org_id: str | None = None  # every row belongs to this org (rows may omit org_id)
    chunk_size: int = DEFAULT_CHUNK_SIZE
    stop_on_error: bool = False
    source: str = ""  # name recorded in backfill_log


def _canonical(line: int, fields: dict[str, Any]) -> bytes:
    return orjson.dumps([line, fields], option=orjson.OPT_SORT_KEYS)


def read_csv(stream: TextIO) -> Iterator[Record | LineError]:
    """Records of a CSV file with a header row (line numbers count the header as line 1)."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise BackfillError("the file is empty (a CSV file starts with a header row)") from None
    except csv.Error as exc:
        raise BackfillError(f"line 1: unreadable CSV header: {exc}") from exc
    names = [name.strip() for name in header]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown or len(set(names)) != len(names):
        raise BackfillError(
            f"line 1: unknown or repeated columns {unknown or names}; known: {', '.join(COLUMNS)}"
        )
    previous = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield LineError(previous + 1, f"unreadable CSV: {exc}")
            previous = reader.line_num
            continue
        line, previous = previous + 1, reader.line_num
        if not row:
            continue  # a blank line
        if len(row) != len(names):
            yield LineError(line, f"{len(row)} fields, the header has {len(names)}")
            continue
        fields = dict(zip(names, row, strict=True))
        yield Record(line, fields, _canonical(line, fields))


def read_jsonl(stream: TextIO) -> Iterator[Record | LineError]:
    """Records of a JSON-lines file: one object per line; blank lines are skipped."""
    for line, text in enumerate(stream, start=1):
        if not text.strip():
            continue
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield LineError(line, f"not JSON: {exc}")
            continue
        if not isinstance(data, dict):
            yield LineError(line, f"expected a JSON object, got {type(data).__name__}")
            continue
        unknown = sorted(set(data) - set(COLUMNS))
        if unknown:
            yield LineError(line, f"unknown fields {unknown}; known: {', '.join(COLUMNS)}")
            continue
        yield Record(line, data, _canonical(line, data))


def _text(fields: dict[str, Any], name: str, default: str = "") -> str:
    value = fields.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r:.60}")
    return value


def parse_ts(value: object, now: datetime) -> float:
    """Epoch seconds from epoch seconds (number or text) or an ISO 8601 time (UTC if no zone)."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError("ts is required")
    seconds: float
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(
                    f"ts {value!r:.60} is neither epoch seconds nor an ISO 8601 time"
                ) from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            seconds = moment.timestamp()
    else:
        raise ValueError(f"ts must be a number or text, got {value!r:.60}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"ts {value!r:.60} is not a positive time")
    if seconds > _MILLIS_THRESHOLD:
        raise ValueError(f"ts {value!r:.60} looks like milliseconds; give epoch seconds")
    if seconds > (now + _FUTURE_SLACK).timestamp():
        raise ValueError(f"ts {value!r:.60} is in the future")
    return seconds


def _click_id(record: Record) -> str:
    given = _text(record.fields, "click_id")
    if given:
        try:
            return str(uuid.UUID(given))
        except ValueError:
            raise ValueError(f"click_id {given!r:.60} is not a UUID") from None
    # Deterministic, so a re-run gives the same ids; the line number keeps equal lines apart.
    return str(uuid.uuid5(_NAMESPACE, record.canonical.hex()))


class _Refs(NamedTuple):
    ids: set[str]
    keys: set[tuple[str, str]]


def _link_refs(records: Iterable[Record]) -> _Refs:
    refs = _Refs(set(), set())
    for record in records:
        link_id = record.fields.get("link_id")
        if isinstance(link_id, str) and link_id:
            refs.ids.add(link_id)
            continue
        domain, key = record.fields.get("domain"), record.fields.get("key")
        if isinstance(domain, str) and isinstance(key, str) and domain and key:
            refs.keys.add((domain.strip().lower(), key))
    return refs


def to_raw_click(
    record: Record,
    *,
    options: BackfillOptions,
    by_id: dict[str, LinkInfo],
    by_key: dict[tuple[str, str], LinkInfo],
    now: datetime,
) -> RawClick:
    """The raw click event of one record; ``ValueError`` says what is wrong with it."""
    fields = record.fields
    org_id = _text(fields, "org_id")
    if options.org_id is not None:
        if org_id and org_id != options.org_id:
            raise ValueError(f"org_id {org_id!r:.60} is not the org given with --org")
        org_id = options.org_id
    elif not org_id:
        raise ValueError("org_id is required (or give the org with --org)")
    link_id = _text(fields, "link_id")
    if link_id:
        link = by_id.get(link_id)
        if link is None or link.org_id != org_id:
            raise ValueError(f"no link {link_id!r:.60} in this org")
    else:
        domain, key = _text(fields, "domain").strip().lower(), _text(fields, "key")
        if not domain or not key:
            raise ValueError("give link_id, or domain and key")
        link = by_key.get((domain, key))
        if link is None or link.org_id != org_id:
            raise ValueError(f"no link {domain}/{key} in this org"[:120])
    return RawClick(
        click_id=_click_id(record),
        ts=round(parse_ts(fields.get("ts"), now), 3),
        org_id=org_id,
        link_id=link.id,
        domain=link.domain,
        key=link.key,
        url=_text(fields, "url", link.url),
        # Unchecked here: decode_click (in prepare_batch) refuses any other value, as for the queue.
        trigger=cast(Trigger, _text(fields, "trigger", "link")),
        ip=_text(fields, "ip"),
        ua=_text(fields, "ua"),
        referrer=_text(fields, "referrer"),
        country=_text(fields, "country").upper(),
        method=cast(Method, _text(fields, "method", "GET").upper()),
    )


def chunk_token(options: BackfillOptions, records: Sequence[Record | LineError]) -> str:
    """The dedup token of one chunk: a hash of its lines, bad ones included, and ``--org``."""
    digest = hashlib.sha256(f"linkhop-backfill\n{options.org_id or ''}\n".encode())
    for item in records:
        if isinstance(item, Record):
            digest.update(item.canonical)
        else:
            digest.update(f"error:{item.line}".encode())
        digest.update(b"\n")
    return f"backfill:{digest.hexdigest()[:40]}"


def _chunks(items: Iterator[Record | LineError], size: int) -> Iterator[list[Record | LineError]]:
    chunk: list[Record | LineError] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _already_imported(store: ClickHouse, database: str, token: str) -> bool:
    rows = store.query(
        render("SELECT count() FROM $db.backfill_log WHERE token = {token:String}", database),
        {"token": token},
    )
    return int(rows[0][0]) > 0


def _record_chunk(
    store: ClickHouse,
    database: str,
    token: str,
    options: BackfillOptions,
    counts: tuple[int, int, int],
) -> None:
    first, lines, stored = counts
    store.command(
        render(
            "INSERT INTO $db.backfill_log (token, source, first_line, lines, stored) "
            "SELECT {token:String}, {source:String}, {first:UInt64}, {lines:UInt64}, "
            "{stored:UInt64}",
            database,
        ),
        {
            "token": token,
            "source": options.source,
            "first": first,
            "lines": lines,
            "stored": stored,
        },
    )


ErrorHook = Callable[[LineError, Record | None], None]


async def backfill(
    items: Iterator[Record | LineError],
    *,
    options: BackfillOptions,
    store: ClickHouse,
    database: str,
    links: LinkDirectory,
    counters: CounterSink,
    geo: GeoReader | None,
    store_ip: StoreIp,
    on_error: ErrorHook | None = None,
    now: datetime | None = None,
) -> BackfillReport:
    """Import ``items`` (from ``read_csv`` / ``read_jsonl``); see the module docstring."""
    moment = now or datetime.now(UTC)
    report = BackfillReport()
    sink = ClickHouseClickSink(store, database=database)

    def reject(error: LineError, record: Record | None) -> None:
        report.rejected += 1
        if len(report.errors) < 1000:
            report.errors.append(error)
        if on_error is not None:
            on_error(error, record)

    for chunk in _chunks(items, options.chunk_size):
        report.chunks += 1
        records = [item for item in chunk if isinstance(item, Record)]
        report.lines += len(chunk)
        refs = _link_refs(records)
        by_id = await links.by_ids(refs.ids) if refs.ids else {}
        by_key = await links.by_keys(refs.keys) if refs.keys else {}
        events: list[bytes] = []
        sources: list[Record] = []
        first_error: int | None = None
        for item in chunk:
            if isinstance(item, LineError):
                reject(item, None)
                first_error = first_error or item.line
                continue
            try:
                raw = to_raw_click(item, options=options, by_id=by_id, by_key=by_key, now=moment)
            except ValueError as exc:
                reject(LineError(item.line, str(exc)), item)
                first_error = first_error or item.line
                continue
            events.append(encode_click(raw))
            sources.append(item)
        # CPU work, like the worker's: a thread keeps the event loop responsive.
        prepared = await asyncio.to_thread(prepare_batch, events, geo=geo, store_ip=store_ip)
        for index, reason in prepared.malformed:  # decode_click's checks (trigger, method, …)
            reject(LineError(sources[index].line, reason), sources[index])
            first_error = min(first_error or sources[index].line, sources[index].line)
        if options.stop_on_error and first_error is not None:
            report.stopped_at = first_error
            return report
        token = chunk_token(options, chunk)
        if await asyncio.to_thread(_already_imported, store, database, token):
            report.skipped_chunks += 1
            report.already += len(prepared.rows)
            continue
        if prepared.rows:
            await sink.insert_clicks(prepared.rows, token)
        if prepared.counts:
            await counters.apply(token=token, counts=prepared.counts)
        counts = (chunk[0].line, len(chunk), len(prepared.rows))
        await asyncio.to_thread(_record_chunk, store, database, token, options, counts)
        report.stored += len(prepared.rows)
    return report
