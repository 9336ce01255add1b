"""Fixtures for click ingestion tests.

ClickHouse is the process-wide chDB store of ``tests/conftest.py`` (chDB hosts one data folder
per process) with a fresh database migrated by the real ``linkhop.clickhouse`` migrations.
"""

from __future__ import annotations

import pytest
from ingest_doubles import MemoryCounters, MemoryQueue

from linkhop.clickhouse.client import ClickHouse
from linkhop.ingest.sink import ClickHouseClickSink


@pytest.fixture
def sink(chdb_store: ClickHouse, ch_database: str) -> ClickHouseClickSink:
    """The real ClickHouse sink writing to this test's migrated database."""
    return ClickHouseClickSink(chdb_store, database=ch_database)


@pytest.fixture
def queue() -> MemoryQueue:
    """An in-memory click queue consumer that replays un-acked batches."""
    return MemoryQueue()


@pytest.fixture
def counters() -> MemoryCounters:
    """An in-memory counter sink, idempotent per token."""
    return MemoryCounters()
