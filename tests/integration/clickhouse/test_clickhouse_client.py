"""The ClickHouse wrapper against a real chDB engine (and a refused HTTP port)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from linkhop.clickhouse.client import ClickHouse, chdb_dsn, make_client, quote_identifier
from linkhop.errors import Unavailable


def test_chdb_dsn_is_absolute(tmp_path: Path) -> None:
    assert chdb_dsn(tmp_path / "x") == f"chdb://{tmp_path.resolve() / 'x'}"


@pytest.mark.parametrize(
    "dsn", ["chdb://relative/path", "chdb://", "ftp://host/", "clickhouse://host:9000"]
)
def test_make_client_refuses_ambiguous_or_unknown_dsns(dsn: str) -> None:
    with pytest.raises(ValueError, match="DSN"):
        make_client(dsn)


def test_a_refused_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but never listening: connections are refused
        with pytest.raises(Unavailable):
            ClickHouse.connect(f"http://127.0.0.1:{port}/")


def test_query_binds_parameters_server_side(ch: ClickHouse) -> None:
    hostile = "x' OR 1=1 --"
    assert ch.query("SELECT {v:String}, {n:UInt8}", {"v": hostile, "n": 7}) == [(hostile, 7)]
    assert ch.query_named("SELECT {v:String} AS v", {"v": "a"}) == [{"v": "a"}]


def test_parameters_without_a_placeholder_are_refused(ch: ClickHouse) -> None:
    # %(v)s would be formatted into the SQL text by the client; only server binding is allowed.
    with pytest.raises(ValueError, match="placeholder"):
        ch.query("SELECT %(v)s", {"v": "a"})


@pytest.mark.parametrize("name", ["linkhop", "t_01", "_x"])
def test_quote_identifier_accepts_plain_names(name: str) -> None:
    assert quote_identifier(name) == f"`{name}`"


@pytest.mark.parametrize("name", ["", "a-b", "a;DROP TABLE x", "a`b", "1abc", "db.table", "x" * 64])
def test_quote_identifier_refuses_anything_else(name: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        quote_identifier(name)


def test_command_and_insert_round_trip(ch: ClickHouse, database: str) -> None:
    ch.command(f"CREATE DATABASE {database}")
    ch.command(f"CREATE TABLE {database}.t (k UInt32, v String) ENGINE = MergeTree ORDER BY k")
    ch.insert(f"{database}.t", [(1, "a"), (2, "b")], ["k", "v"])
    assert ch.query(f"SELECT k, v FROM {database}.t ORDER BY k") == [(1, "a"), (2, "b")]


async def test_concurrent_async_queries_each_get_their_rows(ch: ClickHouse) -> None:
    # One handle, many tasks: without serialisation a chDB handle answers a query issued while
    # another streams with an empty result.
    results = await asyncio.gather(
        *(ch.aquery("SELECT number FROM numbers({n:UInt32})", {"n": n}) for n in range(1, 40))
    )
    assert [len(rows) for rows in results] == list(range(1, 40))
    assert await ch.aping()


async def test_async_command_insert_and_named_query(ch: ClickHouse, database: str) -> None:
    await ch.acommand(f"CREATE DATABASE {database}")
    await ch.acommand(f"CREATE TABLE {database}.t (k UInt32) ENGINE = MergeTree ORDER BY k")
    await ch.ainsert(f"{database}.t", [(5,)], ["k"], dedup_token=None)
    assert await ch.aquery_named(f"SELECT k FROM {database}.t") == [{"k": 5}]


def test_a_second_store_path_is_refused_while_one_is_open(ch: ClickHouse, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="already initialized"):
        ClickHouse.connect(chdb_dsn(tmp_path / "another"))
    assert ch.ping()  # the open store is unaffected


# Run in a fresh interpreter: this process already hosts the suite's chDB engine.
_LIFECYCLE = """
import json, sys
from pathlib import Path
from linkhop.clickhouse.client import ClickHouse, chdb_dsn
root = Path(sys.argv[1])
first = ClickHouse.connect(chdb_dsn(root / "deep" / "one"))
first.command("CREATE DATABASE only_in_one")
twin = ClickHouse.connect(chdb_dsn(root / "deep" / "one"))  # same path: shares the engine
twin.close()
alive_after_twin_closed = first.ping()
first.close()
second = ClickHouse.connect(chdb_dsn(root / "two"))
seen = second.query("SELECT count() FROM system.databases WHERE name = 'only_in_one'")[0][0]
print(json.dumps({
    "created": (root / "deep" / "one").is_dir(),
    "alive_after_twin_closed": alive_after_twin_closed,
    "closed_pings": first.ping(),
    "second_path_sees_first": seen,
    "second_pings": second.ping(),
}))
second.close()
"""


@pytest.mark.slow
def test_store_lifecycle_in_a_fresh_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _LIFECYCLE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "created": True,  # connect() made the missing folders
        "alive_after_twin_closed": True,  # closing one client of a path leaves the others open
        "closed_pings": False,  # ping reports, never raises
        "second_path_sees_first": 0,  # a new path is a new, empty store
        "second_pings": True,  # ...and opens once every client of the first path is closed
    }
