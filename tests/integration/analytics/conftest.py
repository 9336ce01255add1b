"""A real chDB store per test.

chDB hosts one engine path per process and refuses a second path while any client of the first
is open, but a new path opens once every client of the old one is closed (~0.1 s after the
first ~1 s start). So each test opens its own store under ``tmp_path`` and MUST close it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from linkhop.clickhouse.client import ClickHouse, chdb_dsn
from linkhop.clickhouse.runner import migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS


@pytest.fixture
def ch(tmp_path: Path) -> Iterator[ClickHouse]:
    """An open chDB store in this test's tmp_path, closed afterwards."""
    store = ClickHouse.connect(chdb_dsn(tmp_path / "chdb"))
    try:
        yield store
    finally:
        store.close()



DB = "lh_analytics"
ClickFactory = Callable[..., dict[str, Any]]
ClickWriter = Callable[[list[dict[str, Any]]], None]


@pytest.fixture
def database() -> str:
    """The ClickHouse database the analytics tests migrate and query."""
    return DB


@pytest.fixture
def store(ch: ClickHouse) -> ClickHouse:
    """The chDB store with the analytics schema migrated into ``DB``."""
    migrate(ch, DB)
    return ch


def _click(ts: datetime, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CLICK_COLUMNS, "")
    row.update(
        click_id=uuid.uuid4(),
        ts=ts,
        org_id="org_a",
        link_id="link_1",
        domain="go.example",
        trigger="link",
        country="US",
        device="desktop",
        browser="Chrome",
        os="Windows",
        bot=0,
        visitor_id=1,
    )
    row.update(fields)
    return row


@pytest.fixture
def make_click() -> ClickFactory:
    """Build a human click on org_a/link_1 at ``ts``; keyword arguments override any column."""
    return _click


@pytest.fixture
def add_clicks(store: ClickHouse) -> ClickWriter:
    """Insert click dicts into the migrated test database as one batch."""

    def add(rows: list[dict[str, Any]]) -> None:
        store.insert(f"{DB}.clicks", [[r[c] for c in CLICK_COLUMNS] for r in rows], CLICK_COLUMNS)

    return add
