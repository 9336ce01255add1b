"""Click factories over the suite's chDB store and a migrated per-test database.

``chdb_store`` and ``ch_database`` come from tests/conftest.py: one chDB engine per test process
(chDB refuses a second data folder while one is open), one fresh migrated database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import CLICK_COLUMNS

ClickFactory = Callable[..., dict[str, Any]]
ClickWriter = Callable[[list[dict[str, Any]]], None]


@pytest.fixture
def store(chdb_store: ClickHouse) -> ClickHouse:
    """The shared chDB store."""
    return chdb_store


@pytest.fixture
def database(ch_database: str) -> str:
    """This test's migrated ClickHouse database."""
    return ch_database


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
def add_clicks(store: ClickHouse, database: str) -> ClickWriter:
    """Insert click dicts into this test's database as one batch."""

    def add(rows: list[dict[str, Any]]) -> None:
        store.insert(
            f"{database}.clicks", [[r[c] for c in CLICK_COLUMNS] for r in rows], CLICK_COLUMNS
        )

    return add
