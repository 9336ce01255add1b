"""Opening the analytics store (chDB or a ClickHouse server) with its schema migrated."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from linkhop.clickhouse import runner
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.retention import apply_retention, retention_policy
from linkhop.errors import Unavailable
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
        url = settings.resolved_clickhouse_url
        try:
            ch = ClickHouse.connect(url)
        except Exception as exc:
            if url.startswith("chdb://") and "EmbeddedServer" in str(exc):
                raise Unavailable(
                    f"the embedded analytics store {url} is open in another process (chDB "
                    "allows one process per folder): stop it, or point LINKHOP_CLICKHOUSE_URL "
                    "at a ClickHouse server"
                ) from exc
            raise
        runner.migrate(ch, settings.clickhouse_database)
        # Per-org TTLs follow settings; a no-op unless the policy changed since the last start.
        apply_retention(ch, settings.clickhouse_database, retention_policy(settings))
        return AnalyticsStore(
            ch,
            settings.clickhouse_database,
            runner.current_version(ch, settings.clickhouse_database),
        )

    return await asyncio.to_thread(_open)
