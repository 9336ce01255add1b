"""Several processes share one store through the shim, and the store outlives a shim restart."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.chshim.launcher import Shim, running_shim

from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.runner import current_version, load_migrations, migrate
from linkhop.clickhouse.tables import CLICK_COLUMNS
from linkhop.errors import Unavailable

pytestmark = pytest.mark.slow

T0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
BATCHES = 8
ROWS = 40
ClickRows = Callable[..., list[list[Any]]]  # the click_rows fixture

# A second client process: what `linkhop worker` does to the store, in miniature.
_WRITER = """
import sys, uuid
from datetime import UTC, datetime, timedelta
from linkhop.clickhouse.client import ClickHouse
from linkhop.clickhouse.tables import CLICK_COLUMNS

url, database, org, batches, rows = sys.argv[1:]
t0 = datetime(2025, 6, 10, 9, 0, tzinfo=UTC)
store = ClickHouse.connect(url)
for b in range(int(batches)):
    batch = []
    for i in range(int(rows)):
        row = dict.fromkeys(CLICK_COLUMNS, "")
        row.update(click_id=uuid.uuid4(), ts=t0 + timedelta(seconds=i), org_id=org,
                   link_id="link_1", bot=0, visitor_id=i)
        batch.append([row[c] for c in CLICK_COLUMNS])
    store.insert(f"{database}.clicks", batch, CLICK_COLUMNS, dedup_token=f"{org}-{b}")
    store.insert(f"{database}.clicks", batch, CLICK_COLUMNS, dedup_token=f"{org}-{b}")  # retry
sql = "SELECT count() FROM {db:Identifier}.clicks WHERE org_id = {org:String}"
print(store.query(sql, {"db": database, "org": org})[0][0])
store.close()
"""


def _count(store: ClickHouse, database: str, org: str) -> int:
    sql = f"SELECT count() FROM {database}.clicks WHERE org_id = {{org:String}}"
    return int(store.query(sql, {"org": org})[0][0])


def test_two_processes_write_and_read_one_store(
    shim: Shim, shim_store: ClickHouse, shim_database: str, click_rows: ClickRows
) -> None:
    migrate(shim_store, shim_database)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _WRITER,
            shim.url,
            shim_database,
            "org_sub",
            str(BATCHES),
            str(ROWS),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )

    def write(batch: int) -> None:
        rows = click_rows([T0 + timedelta(seconds=i) for i in range(ROWS)], org_id="org_main")
        shim_store.insert(f"{shim_database}.clicks", rows, CLICK_COLUMNS, dedup_token=f"m-{batch}")

    # Meanwhile this process writes from several threads and reads what the other one wrote.
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(write, range(BATCHES)))
    _count(shim_store, shim_database, "org_sub")  # reading while the other process writes
    out, _ = writer.communicate(timeout=120)

    assert writer.returncode == 0
    assert int(out.strip()) == BATCHES * ROWS  # the writer reads its own rows back, retries once
    assert _count(shim_store, shim_database, "org_main") == BATCHES * ROWS
    assert _count(shim_store, shim_database, "org_sub") == BATCHES * ROWS


def test_a_second_shim_cannot_take_a_folder_in_use(tmp_path: Path) -> None:
    path = tmp_path / "store"
    # chDB locks its folder: the second process fails to start instead of sharing it unsafely.
    with (
        running_shim(path),
        pytest.raises(RuntimeError, match="chshim did not start"),
        running_shim(path),
    ):
        pass


def test_the_store_survives_a_restart_and_clients_see_the_outage(tmp_path: Path) -> None:
    path = tmp_path / "store"
    with running_shim(path) as first:
        store = ClickHouse.connect(first.url)
        migrate(store, "kept")
        store.command("INSERT INTO kept.clicks (org_id, link_id) VALUES ('org_a', 'link_1')")
        store.close()
        url = first.url

    with pytest.raises(Unavailable):
        ClickHouse.connect(url)  # nothing listens there now: the domain error, not a crash

    with running_shim(path) as second:
        store = ClickHouse.connect(second.url)
        assert current_version(store, "kept") == len(load_migrations())
        assert store.query("SELECT org_id, link_id FROM kept.clicks") == [("org_a", "link_1")]
        store.close()
