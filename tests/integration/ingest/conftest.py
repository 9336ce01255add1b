"""Fixtures for click ingestion tests: a real chDB engine per test and the in-test doubles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client
from ingest_doubles import CLICKS_DDL, DATABASE, MemoryCounters, MemoryQueue


@pytest.fixture
def chdb_client(tmp_path: Path) -> Iterator[Client]:
    """A chDB engine in this test's tmp dir with an empty test database (no tables)."""
    client = clickhouse_connect.get_client(dsn=f"chdb://{tmp_path / 'chdb'}")
    client.command(f"CREATE DATABASE {DATABASE}")
    try:
        yield client
    finally:
        # Closing releases the process-wide engine so the next test can open another path.
        client.close()


@pytest.fixture
def ch(chdb_client: Client) -> Client:
    """chDB with the `clicks` table created."""
    chdb_client.command(CLICKS_DDL)
    return chdb_client


@pytest.fixture
def queue() -> MemoryQueue:
    return MemoryQueue()


@pytest.fixture
def counters() -> MemoryCounters:
    return MemoryCounters()
