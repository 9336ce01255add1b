"""Parquet encoding of export rows, block by block, with pyarrow.

One row group per ClickHouse block (~65 k rows): bytes leave as soon as a block is encoded, and
only the footer waits for the end. Every column is a string except ``ts`` (a UTC timestamp in
milliseconds) and ``bot`` (a boolean), matching ``export._PARQUET``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any

from clickhouse_connect.driver.client import Client

from linkhop.analytics.queries import SqlQuery


class _Drain(io.RawIOBase):
    """A write-only file that hands out what was written since the last ``take``."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # any bytes-like object pyarrow hands over
        self._buffer += data
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        taken = bytes(self._buffer)
        self._buffer.clear()
        return taken


def parquet_chunks(
    client: Client, queries: Iterable[SqlQuery], columns: tuple[str, ...]
) -> Iterator[bytes]:
    """One Parquet file from the rows of ``queries`` (selecting ``columns``), in chunks."""
    # Imported here: only Parquet exports need pyarrow, and it costs ~0.2 s to import.
    import pyarrow as pa  # noqa: PLC0415 — see above
    import pyarrow.parquet as pq  # noqa: PLC0415 — see above

    types = {"ts": pa.timestamp("ms", tz="UTC"), "bot": pa.bool_()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in columns])
    drain = _Drain()
    writer = pq.ParquetWriter(drain, schema, compression="zstd")
    for sql, params in queries:
        with client.query_column_block_stream(sql, parameters=params) as blocks:
            for block in blocks:
                arrays = [
                    pa.array(values, type=field.type)
                    for values, field in zip(block, schema, strict=True)
                ]
                writer.write_batch(pa.record_batch(arrays, schema=schema))
                # Never an empty chunk before the end: b"" means "end of file" to ExportStream.
                if chunk := drain.take():
                    yield chunk
    writer.close()  # the footer: only a complete file gets one
    yield drain.take()
