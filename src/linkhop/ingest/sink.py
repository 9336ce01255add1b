"""``ClickSink`` over the analytics store (``linkhop.clickhouse.client.ClickHouse``)."""

from __future__ import annotations

from collections.abc import Sequence

from linkhop.clickhouse.client import ClickHouse, quote_identifier
from linkhop.clickhouse.tables import CLICKS
from linkhop.ingest.enrich import CLICK_COLUMNS, EnrichedClick, InsertRow


class ClickHouseClickSink:
    """Inserts click rows into ``<database>.clicks`` with the batch token as dedup token."""

    def __init__(self, store: ClickHouse, *, database: str) -> None:
        self._store = store
        self._table = f"{quote_identifier(database)}.{quote_identifier(CLICKS)}"

    async def insert_clicks(
        self, rows: Sequence[InsertRow] | Sequence[EnrichedClick], token: str
    ) -> None:
        """Insert ``rows`` as one block; ClickHouse drops a replay carrying the same ``token``.

        Either kind of row works: clickhouse-connect writes a UUID column from text or UUID
        objects and a DateTime64(3) column from epoch milliseconds or datetimes, deciding per
        column from its first value (a batch never mixes them).
        """
        # ainsert runs the blocking client in a worker thread, behind the store's lock.
        await self._store.ainsert(self._table, rows, CLICK_COLUMNS, dedup_token=token)
