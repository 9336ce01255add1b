"""Fixtures: one chshim subprocess per test module, a linkhop store on it, a database per test.

The shim owns its chDB folder in its own process, so the test process keeps its in-process store
(``chdb_store``) for comparisons without opening a second chDB path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from tests.chshim.launcher import Shim, running_shim

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import CLICK_COLUMNS

ClickRows = Callable[..., list[list[Any]]]


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shim]:
    """A running shim over a fresh chDB folder, shared by one test module."""
    with running_shim(tmp_path_factory.mktemp("chshim") / "store") as running:
        yield running


@pytest.fixture
def shim_store(shim: Shim) -> Iterator[ClickHouse]:
    """linkhop's store over clickhouse-connect's HTTP client, pointed at the shim."""
    store = ClickHouse.connect(shim.url)
    yield store
    store.close()


@pytest.fixture
def shim_database(shim_store: ClickHouse) -> Iterator[str]:
    """A database name no other test uses on the shim (migrate() creates it), dropped after."""
    name = f"t_shim_{uuid.uuid4().hex[:12]}"
    yield name
    shim_store.command(f"DROP DATABASE IF EXISTS {name}")


def _click_rows(
    ts: list[datetime], *, org_id: str = "org_a", country: str = "US"
) -> list[list[Any]]:
    rows = []
    for i, when in enumerate(ts):
        row: dict[str, Any] = dict.fromkeys(CLICK_COLUMNS, "")
        row.update(
            click_id=uuid.uuid4(),
            ts=when,
            org_id=org_id,
            link_id="link_1",
            domain="go.example",
            trigger="link",
            country=country,
            device="desktop",
            bot=0,
            visitor_id=i % 3,
        )
        rows.append([row[c] for c in CLICK_COLUMNS])
    return rows


@pytest.fixture
def click_rows() -> ClickRows:
    """Build ``clicks`` rows (in CLICK_COLUMNS order), one human click per timestamp."""
    return _click_rows
