"""A real chDB store per test.

chDB hosts one engine path per process and refuses a second path while any client of the first
is open, but a new path opens once every client of the old one is closed (~0.1 s after the
first ~1 s start). So each test opens its own store under ``tmp_path`` and MUST close it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linkhop.clickhouse.client import ClickHouse, chdb_dsn


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[ClickHouse]:
    """An open chDB store in this test's tmp_path, closed afterwards."""
    store = ClickHouse.connect(chdb_dsn(tmp_path / "chdb"))
    try:
        yield store
    finally:
        store.close()
