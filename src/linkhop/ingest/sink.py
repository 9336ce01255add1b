"""``ClickSink`` over a clickhouse-connect client (HTTP server or embedded ``chdb://``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from linkhop.ingest.enrich import CLICK_COLUMNS, EnrichedClick


class ClickHouseClickSink:
    """Inserts click rows into ``<database>.clicks`` with the batch token as dedup token."""

    def __init__(self, client: Client, *, database: str, table: str = "clicks") -> None:
        self._client = client
        self._database = database
        self._table = table

    async def insert_clicks(self, rows: Sequence[EnrichedClick], token: str) -> None:
        """Insert ``rows`` as one block; ClickHouse drops a replay carrying the same ``token``."""
        # The client is synchronous (chDB has no async client); a thread keeps the loop free.
        await asyncio.to_thread(
            self._client.insert,
            self._table,
            rows,
            column_names=CLICK_COLUMNS,
            database=self._database,
            settings={"insert_deduplication_token": token},
        )
