"""Opening the analytics store (chDB or a ClickHouse server) with its schema migrated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
from linkhop.settings import Settings


@dataclass
class AnalyticsStore:
    """A connected, migrated store."""

    ch: ClickHouse
    database: str
    version: int

    def close(self) -> None:
        """Release the connection (chDB: the data folder lock)."""
        self.ch.close()


async def open_analytics(settings: Settings) -> AnalyticsStore:
    """Connect and apply pending ClickHouse migrations."""

    def _open() -> AnalyticsStore:
        ch = ClickHouse.connect(settings.resolved_clickhouse_url)
        runner.migrate(ch, settings.clickhouse_database)
        return AnalyticsStore(ch, settings.clickhouse_database,
                              runner.current_version(ch, settings.clickhouse_database))

    return await asyncio.to_thread(_open)
