"""Streaming a raw click export out of the analytics store in constant memory.

Each export runs on its OWN clickhouse-connect client, never on the process's shared
``ClickHouse``: that wrapper serialises every call behind one lock, and an export of millions of
rows would hold it for minutes and stall every dashboard query in the process. A dedicated
client costs one connection per export; ``MAX_CONCURRENT_EXPORTS`` bounds them.

- ``http(s)://`` stores: a fresh client from the configured DSN (its own HTTP connection).
- ``chdb://`` stores: a second client on the engine path this process already has open. chDB
  allows one path per process but any number of connection handles to it; each handle has its
  own lock, so a query on the shared handle runs while the export's handle streams (tested in
  ``tests/integration/analytics/test_export_chdb.py``).

The export reads one UTC month (one partition) per query, so ``FINAL`` merges only that month's
parts at a time (``export.month_windows``). CSV and JSON lines are encoded by ClickHouse
(``raw_stream``) and passed through in chunks. Parquet has a footer, and chDB's client
materialises any format it cannot stream block by block, so Parquet is encoded here from column
blocks with pyarrow (``parquet.py``).

Errors before the first chunk raise from ``open_export`` (the caller still answers with a
problem+json); later ones are logged by ``stream_chunks`` and abort the HTTP stream, so a client
sees a broken transfer rather than a short file that looks complete.
"""

from __future__ import annotations

import io
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import structlog
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import OperationalError

from linkhop.analytics.export import (
    FORMATS,
    bounds_sql,
    csv_header,
    export_columns,
    export_sql,
    month_windows,
)
from linkhop.analytics.parquet import parquet_chunks
from linkhop.analytics.queries import SqlQuery
from linkhop.analytics.schemas import ExportQuery
from linkhop.analytics.timeranges import TimeRange
from linkhop.clickhouse.client import ClickHouse, make_client
from linkhop.errors import RateLimited, Unavailable

# Each export holds a connection and a ClickHouse query; a handful at once is plenty per process.
MAX_CONCURRENT_EXPORTS = 4
# Bytes handed to the HTTP layer per read: large enough that thread hops are a small cost.
CHUNK_BYTES = 256 * 1024

log = structlog.get_logger()
_slots = threading.BoundedSemaphore(MAX_CONCURRENT_EXPORTS)


def export_dsn(ch: ClickHouse, configured_dsn: str) -> str:
    """The DSN a dedicated export client opens (see the module docstring)."""
    uri = str(ch.client.uri)
    # chDB: the path already open here, whatever the settings say (a second path cannot open).
    return uri if uri.startswith("chdb://") else configured_dsn


class ExportStream:
    """One export: its own client, an open result, the next chunk already read.

    ``on_close`` runs once, on ``close()`` or when the stream is garbage-collected unclosed.
    """

    def __init__(
        self, client: Client, chunks: Iterator[bytes], on_close: Callable[[], None]
    ) -> None:
        self._chunks = chunks
        self._lock = threading.Lock()
        self._closed = False
        self._release = weakref.finalize(self, _release, client, chunks, on_close)
        try:
            # Reading the first chunk starts the query: a bad query or a lost store raises here.
            self._pending = next(chunks, b"")
        except BaseException:
            self._release()
            raise

    def read(self) -> bytes:
        """The next chunk of the file; ``b""`` at the end."""
        with self._lock:
            if self._closed:
                return b""
            chunk, self._pending = self._pending, b""
            return chunk or next(self._chunks, b"")

    def close(self) -> None:
        """Stop the query, close the client, run ``on_close``; safe to call twice."""
        with self._lock:  # waits for a read in flight, so the result is never closed under it
            self._closed = True
            self._release()


def _release(client: Client, chunks: Iterator[bytes], on_close: Callable[[], None]) -> None:
    try:
        getattr(chunks, "close", lambda: None)()  # a generator's cleanup closes its result
        client.close()
    finally:
        on_close()


def export_queries(
    client: Client, *, query: ExportQuery, database: str, time_range: TimeRange
) -> Iterator[SqlQuery]:
    """One SELECT per UTC month of the range; an open end is closed at the matching data."""
    start, end = time_range.start, time_range.end
    if start is None or end is None:
        bounds = client.query(*bounds_sql(query, database=database, time_range=time_range))
        first_ms, last_ms, matches = bounds.result_rows[0]
        if matches == 0:
            return
        start = start or datetime.fromtimestamp(first_ms / 1000, UTC)
        end = end or datetime.fromtimestamp((last_ms + 1) / 1000, UTC)
    for window in month_windows(start, end):
        yield export_sql(query, database=database, time_range=window)


def text_chunks(
    client: Client, queries: Iterable[SqlQuery], clickhouse_format: str, header: bytes = b""
) -> Iterator[bytes]:
    """``header``, then each query's rows encoded by ClickHouse, in chunks of CHUNK_BYTES."""
    for sql, params in queries:
        # A sync client's raw stream is a file (chDB: over the engine; HTTP: the response body).
        result = cast(io.IOBase, client.raw_stream(sql, parameters=params, fmt=clickhouse_format))
        try:
            # The header waits until the first query has started, so that query's errors
            # surface from ExportStream's first read, before any response is sent.
            if header:
                yield header
                header = b""
            while chunk := result.read(CHUNK_BYTES):
                yield chunk
        finally:
            result.close()
    if header:  # no month to read: the file is the header alone
        yield header


def open_export(
    *, dsn: str, query: ExportQuery, database: str, time_range: TimeRange
) -> ExportStream:
    """Start an export on a dedicated client; RateLimited when all slots are busy."""
    if not _slots.acquire(blocking=False):
        raise RateLimited(
            f"{MAX_CONCURRENT_EXPORTS} exports are already running; retry shortly", retry_after=10
        )
    try:
        client = make_client(dsn)
    except BaseException as exc:
        _slots.release()
        if isinstance(exc, OperationalError):
            raise Unavailable("the analytics store is unreachable") from exc
        raise
    columns = export_columns(query)
    queries = export_queries(client, query=query, database=database, time_range=time_range)
    clickhouse_format = FORMATS[query.format].clickhouse_format
    chunks = (
        parquet_chunks(client, queries, columns)
        if clickhouse_format is None
        else text_chunks(
            client,
            queries,
            clickhouse_format,
            csv_header(columns) if query.format == "csv" else b"",
        )
    )
    try:
        return ExportStream(client, chunks, _slots.release)
    except OperationalError as exc:
        raise Unavailable("the analytics store is unreachable") from exc


async def stream_chunks(export: ExportStream, *, context: dict[str, Any]) -> AsyncIterator[bytes]:
    """The export's chunks for a StreamingResponse; closes it however the response ends."""
    try:
        while chunk := await anyio.to_thread.run_sync(export.read):
            yield chunk
    except Exception:
        # The status line is gone: the only honest signal left is to break the transfer.
        log.exception("analytics_export_failed", **context)
        raise
    finally:
        with anyio.CancelScope(shield=True):  # a disconnect cancels us; still release the store
            await anyio.to_thread.run_sync(export.close)
