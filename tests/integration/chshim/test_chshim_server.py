"""The shim over raw HTTP and over clickhouse-connect: what a ClickHouse server would answer."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import cast

import clickhouse_connect
import httpx
import pytest
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError
from tests.chshim.launcher import Shim


@pytest.fixture
def http(shim: Shim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shim.url, timeout=30) as client:
        yield client


@pytest.fixture
def client(shim: Shim) -> Iterator[Client]:
    """clickhouse-connect's HTTP client with its defaults (session id, lz4 inserts…)."""
    ch = clickhouse_connect.get_client(dsn=shim.url)
    yield ch
    ch.close()


@pytest.fixture
def table(http: httpx.Client) -> Iterator[str]:
    name = f"t_http_{uuid.uuid4().hex[:12]}"
    http.post("/", content=f"CREATE DATABASE {name}").raise_for_status()
    http.post(
        "/",
        content=f"CREATE TABLE {name}.t (a UInt32, b String) ENGINE = MergeTree ORDER BY a",
    ).raise_for_status()
    yield f"{name}.t"
    http.post("/", content=f"DROP DATABASE {name}").raise_for_status()


def test_ping_and_bare_get_answer_ok(http: httpx.Client) -> None:
    assert http.get("/ping").text == "Ok.\n"
    assert http.get("/").text == "Ok.\n"


def test_a_select_answers_with_server_headers(http: httpx.Client) -> None:
    reply = http.post("/", params={"query_id": "q-1"}, content="SELECT number FROM numbers(3)")
    assert reply.status_code == 200
    assert reply.text == "0\n1\n2\n"
    assert reply.headers["X-ClickHouse-Format"] == "TabSeparated"
    assert reply.headers["X-ClickHouse-Query-Id"] == "q-1"
    assert reply.headers["X-ClickHouse-Timezone"]
    assert reply.headers["X-ClickHouse-Server-Display-Name"] == "chshim"
    assert json.loads(reply.headers["X-ClickHouse-Summary"])["read_rows"] == "3"


def test_default_format_and_an_explicit_format(http: httpx.Client) -> None:
    as_json = http.post("/", params={"default_format": "JSONEachRow"}, content="SELECT 1 AS x")
    assert (as_json.text, as_json.headers["X-ClickHouse-Format"]) == ('{"x":1}\n', "JSONEachRow")
    explicit = http.post("/", content="SELECT 1 AS x FORMAT CSV")
    assert (explicit.text, explicit.headers["X-ClickHouse-Format"]) == ("1\n", "CSV")


def test_ddl_reports_no_result_format(http: httpx.Client, table: str) -> None:
    reply = http.post("/", content=f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS c UInt8")
    assert reply.status_code == 200
    assert "X-ClickHouse-Format" not in reply.headers


def test_query_field_then_body_data_make_one_insert(http: httpx.Client, table: str) -> None:
    http.post(
        "/",
        params={"query": f"INSERT INTO {table} FORMAT TabSeparated"},
        content=b"1\tone\n2\ttwo\n",
    ).raise_for_status()
    assert http.post("/", content=f"SELECT * FROM {table} ORDER BY a").text == "1\tone\n2\ttwo\n"


def test_compressed_and_chunked_bodies(http: httpx.Client, table: str) -> None:
    body = gzip.compress(f"INSERT INTO {table} FORMAT CSV\n3,three\n".encode())
    http.post("/", content=body, headers={"Content-Encoding": "gzip"}).raise_for_status()
    chunks = [f"INSERT INTO {table} FORMAT CSV\n".encode(), b"4,fo", b"ur\n"]
    http.post("/", content=iter(chunks)).raise_for_status()  # an iterator is sent chunked
    assert http.post("/", content=f"SELECT b FROM {table} ORDER BY a").text == "three\nfour\n"


def test_get_is_read_only(http: httpx.Client) -> None:
    reply = http.get("/", params={"query": "CREATE DATABASE never_made"})
    assert reply.status_code == 500
    assert reply.headers["X-ClickHouse-Exception-Code"] == "164"  # READONLY
    assert http.get("/", params={"query": "SELECT 1"}).text == "1\n"


def test_readonly_requests_still_take_their_settings(http: httpx.Client) -> None:
    ask = "SELECT getSetting('max_threads')"
    assert http.post("/", params={"readonly": "1", "max_threads": "3"}, content=ask).text == "3\n"
    assert http.get("/", params={"max_threads": "3", "query": ask}).text == "3\n"


def test_settings_apply_to_one_request_only(http: httpx.Client) -> None:
    ask = "SELECT getSetting('max_threads')"
    assert http.post("/", params={"max_threads": "3"}, content=ask).text == "3\n"
    assert http.post("/", content=ask).text != "3\n"


@pytest.mark.parametrize("value", ["it's", "back\\slash", "nul\0byte", "'; SELECT 1; --"])
def test_setting_values_are_quoted(http: httpx.Client, value: str) -> None:
    reply = http.post(
        "/",
        params={"log_comment": value, "default_format": "JSONEachRow"},
        content="SELECT getSetting('log_comment') AS v",
    )
    assert json.loads(reply.text)["v"] == value


def test_database_field_selects_the_current_database(http: httpx.Client) -> None:
    assert http.post(
        "/", params={"database": "system"}, content="SELECT currentDatabase()"
    ).text == ("system\n")
    missing = http.post("/", params={"database": "no_such_db"}, content="SELECT 1")
    assert missing.headers["X-ClickHouse-Exception-Code"] == "81"  # UNKNOWN_DATABASE


def test_errors_look_like_server_exceptions(http: httpx.Client) -> None:
    reply = http.post("/", content="SELECT * FROM system.no_such_table")
    assert reply.status_code == 500
    assert reply.headers["X-ClickHouse-Exception-Code"] == "60"
    assert reply.text.startswith("Code: 60. DB::Exception: ")
    assert "(UNKNOWN_TABLE) (version " in reply.text
    unknown_setting = http.post("/", params={"no_such_setting": "1"}, content="SELECT 1")
    assert unknown_setting.headers["X-ClickHouse-Exception-Code"] == "115"


def test_one_statement_per_request(http: httpx.Client, table: str) -> None:
    reply = http.post("/", content=f"SELECT 1; DROP TABLE {table}")
    assert reply.headers["X-ClickHouse-Exception-Code"] == "62"
    assert "Multi-statements are not allowed" in reply.text
    assert http.post("/", content=f"EXISTS TABLE {table}").text == "1\n"  # nothing ran


def test_other_paths_are_not_found(http: httpx.Client) -> None:
    assert http.post("/play", content="SELECT 1").status_code == 404


def test_client_connects_to_the_real_engine(client: Client) -> None:
    assert client.server_version == client.command("SELECT version()")
    assert int(client.server_version.split(".")[0]) >= 24  # the production target's semantics


@pytest.mark.parametrize(
    "value", ["it's", "back\\slash\\", "nul\0byte", "tab\tnew\nline", "{x:String}", "Zürich"]
)
def test_bound_parameters_round_trip(client: Client, value: str) -> None:
    result = client.query(
        "SELECT {v:String} AS v, {n:UInt64} AS n", parameters={"v": value, "n": 7}
    )
    assert result.result_rows == [(value, 7)]


def test_long_parameters_go_as_a_form_and_still_bind(client: Client) -> None:
    ids = [f"link_{i:05d}_{'x' * 40}" for i in range(200)]  # past the client's 4 KiB URL budget
    result = client.query(
        "SELECT length({ids:Array(String)}), {ids:Array(String)}[200]", {"ids": ids}
    )
    assert result.result_rows == [(200, ids[-1])]


def test_native_insert_and_select_round_trip_types(client: Client, table: str) -> None:
    database = table.split(".", maxsplit=1)[0]
    client.command(
        f"CREATE TABLE {database}.typed (id UUID, ts DateTime64(3, 'UTC'), "
        "tag LowCardinality(String), n Nullable(Int64), xs Array(String)) "
        "ENGINE = MergeTree ORDER BY ts"
    )
    row = (uuid.uuid4(), datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC), "US", None, ["a", ""])
    client.insert(f"{database}.typed", [list(row)])  # lz4-compressed Native body by default
    got = client.query(f"SELECT * FROM {database}.typed").result_rows
    assert got == [(row[0], row[1].replace(tzinfo=None), "US", None, ["a", ""])]


def test_native_data_with_blank_lines_arrives_whole(client: Client, table: str) -> None:
    # Native bytes often contain "\n\n"; chDB's query() would cut inline data there.
    values = ["a\n\nb", "\n\n", "x" * 10 + "\n\n\n" + "y"]
    client.insert(table, [[i, v] for i, v in enumerate(values)], column_names=["a", "b"])
    assert client.query(f"SELECT b FROM {table} ORDER BY a").result_columns == [values]


def test_streaming_reads_used_by_exports(client: Client) -> None:
    sql = "SELECT number AS n, toString(number) AS s FROM numbers({rows:UInt32})"
    # A sync client's raw stream is a file over the response body.
    raw = cast(io.IOBase, client.raw_stream(sql, parameters={"rows": 5}, fmt="CSVWithNames"))
    try:
        assert raw.read() == b'"n","s"\n0,"0"\n1,"1"\n2,"2"\n3,"3"\n4,"4"\n'
    finally:
        raw.close()
    with client.query_column_block_stream(sql, parameters={"rows": 100_000}) as blocks:
        assert sum(len(block[0]) for block in blocks) == 100_000


def test_client_errors_are_database_errors_with_the_server_text(client: Client) -> None:
    with pytest.raises(DatabaseError) as caught:
        client.query("SELECT no_such_column")
    assert caught.value.code == 47
    assert "Unknown expression identifier `no_such_column`" in str(caught.value)
    assert "(UNKNOWN_IDENTIFIER)" in str(caught.value)
