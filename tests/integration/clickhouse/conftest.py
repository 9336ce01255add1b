"""Fixtures over the suite's one chDB store (``chdb_store`` in tests/conftest.py).

chDB hosts one engine path per process and refuses a second path while any client of the first
is open, so tests share the session store and isolate themselves by database name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from linkhop.clickhouse.client import ClickHouse


@pytest.fixture
def ch(chdb_store: ClickHouse) -> ClickHouse:
    """The shared chDB store."""
    return chdb_store


@pytest.fixture
def database(chdb_store: ClickHouse) -> Iterator[str]:
    """A database name no other test uses (not created: migrate() creates it), dropped after."""
    name = f"t_ch_{uuid.uuid4().hex[:12]}"
    yield name
    chdb_store.command(f"DROP DATABASE IF EXISTS {name}")
