"""The ClickHouse wrapper against a real chDB engine (and a refused HTTP port)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from linkhop.clickhouse.client import ClickHouse, chdb_dsn, make_client, quote_identifier
from linkhop.errors import Unavailable


def test_chdb_dsn_is_absolute(tmp_path: Path) -> None:
    assert chdb_dsn(tmp_path / "x") == f"chdb://{tmp_path.resolve() / 'x'}"


def test_connect_creates_the_store_folder(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "store"
    with ClickHouse.connect(chdb_dsn(folder)) as store:
        assert store.ping()
    assert folder.is_dir()


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


def test_command_and_insert_round_trip(ch: ClickHouse) -> None:
    ch.command("CREATE DATABASE d")
    ch.command("CREATE TABLE d.t (k UInt32, v String) ENGINE = MergeTree ORDER BY k")
    ch.insert("d.t", [(1, "a"), (2, "b")], ["k", "v"])
    assert ch.query("SELECT k, v FROM d.t ORDER BY k") == [(1, "a"), (2, "b")]


def test_ping_is_false_once_closed(tmp_path: Path) -> None:
    store = ClickHouse.connect(chdb_dsn(tmp_path / "s"))
    assert store.ping()
    store.close()
    assert not store.ping()


async def test_concurrent_async_queries_each_get_their_rows(ch: ClickHouse) -> None:
    # One handle, many tasks: without serialisation a chDB handle answers a query issued while
    # another streams with an empty result.
    results = await asyncio.gather(
        *(ch.aquery("SELECT number FROM numbers({n:UInt32})", {"n": n}) for n in range(1, 40))
    )
    assert [len(rows) for rows in results] == list(range(1, 40))
    assert await ch.aping()


async def test_async_command_insert_and_named_query(ch: ClickHouse) -> None:
    await ch.acommand("CREATE DATABASE d")
    await ch.acommand("CREATE TABLE d.t (k UInt32) ENGINE = MergeTree ORDER BY k")
    await ch.ainsert("d.t", [(5,)], ["k"], dedup_token=None)
    assert await ch.aquery_named("SELECT k FROM d.t") == [{"k": 5}]


def test_a_second_store_path_opens_after_the_first_is_closed(tmp_path: Path) -> None:
    first = ClickHouse.connect(chdb_dsn(tmp_path / "one"))
    first.command("CREATE DATABASE only_in_one")
    with pytest.raises(Exception, match="already initialized"):
        ClickHouse.connect(chdb_dsn(tmp_path / "two"))
    first.close()
    with ClickHouse.connect(chdb_dsn(tmp_path / "two")) as second:
        assert second.query("SELECT count() FROM system.databases WHERE name = 'only_in_one'") == [
            (0,)
        ]
