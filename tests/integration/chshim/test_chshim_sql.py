"""The shim's SQL text handling; quoting is checked by the real engine (the in-process chDB)."""

from __future__ import annotations

import pytest
from tests.chshim.sql import (
    is_setting_name,
    output_format,
    quote_identifier,
    quote_string,
    second_statement_at,
    set_statement,
    split_insert,
)

from linkhop.clickhouse.client import ClickHouse

TRICKY = [
    "",
    "plain",
    "it's",
    "''",
    "ends with a quote'",
    "back\\slash",
    "\\'",  # a backslash before a quote must not un-escape the quote
    "trailing backslash\\",
    "nul\0byte",
    "\0",
    "tab\tnew\nline\rreturn",
    "' OR 1 = 1 --",
    "'; DROP DATABASE system; --",
    "Zürich ✓ 東京",
    "%s {x:String} $db",
]


def test_quote_string_escapes_quotes_backslashes_and_nul() -> None:
    assert quote_string("it's") == "'it\\'s'"
    assert quote_string("a\\b") == "'a\\\\b'"
    assert quote_string("a\0b") == "'a\\0b'"
    assert "\0" not in quote_string("\0")


@pytest.mark.parametrize("value", TRICKY)
def test_quoted_strings_read_back_unchanged(chdb_store: ClickHouse, value: str) -> None:
    assert chdb_store.query(f"SELECT {quote_string(value)}") == [(value,)]


@pytest.mark.parametrize("name", ["plain", "with`backtick", "back\\slash", "sp ace", "it's"])
def test_quoted_identifiers_read_back_unchanged(chdb_store: ClickHouse, name: str) -> None:
    rows = chdb_store.query_named(f"SELECT 1 AS {quote_identifier(name)}")
    assert list(rows[0]) == [name]


@pytest.mark.parametrize("name", ["max_threads", "_x", "custom_a1"])
def test_setting_names_are_identifiers(name: str) -> None:
    assert is_setting_name(name)
    assert set_statement(name, "1") == f"SET {name} = '1'"


@pytest.mark.parametrize("name", ["", "1st", "a-b", "max_threads = 1; DROP TABLE t", "a b", "é"])
def test_set_statement_refuses_anything_else(name: str) -> None:
    assert not is_setting_name(name)
    with pytest.raises(ValueError, match="not a setting name"):
        set_statement(name, "1")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (b"SELECT 1", "TabSeparated"),
        (b"select 1\n FORMAT Native", "Native"),
        (b"SELECT 1 FORMAT JSONEachRow;\n", "JSONEachRow"),
        (b"-- comment\n/* block\n comment */ WITH 1 AS x SELECT x", "TabSeparated"),
        (b"(SELECT 1) UNION ALL (SELECT 2)", "TabSeparated"),
        (b"SHOW TABLES", "TabSeparated"),
        (b"DESCRIBE TABLE t FORMAT Native", "Native"),
        (b"INSERT INTO t (a) FORMAT Native\n\x01\x01\x01a\x05UInt8\x07", None),
        (b"CREATE TABLE t (a UInt8) ENGINE = Memory", None),
        (b"DROP DATABASE IF EXISTS d", None),
        (b"SET max_threads = 1", None),
    ],
)
def test_output_format_only_for_result_sets(sql: bytes, expected: str | None) -> None:
    assert output_format(sql, "TabSeparated") == expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            b"INSERT INTO t (a) FORMAT Native\n\x01\n\n\x02",
            ("INSERT INTO t (a) ", "Native", b"\x01\n\n\x02"),
        ),
        (b"insert into t format TSV  \r\n1\tx\n", ("insert into t ", "TSV", b"1\tx\n")),
        (
            b"INSERT INTO t FORMAT CSV\n\n1,2\n",
            ("INSERT INTO t ", "CSV", b"\n1,2\n"),
        ),  # one break only
        (
            b"INSERT INTO t SETTINGS x = 1 FORMAT Native",
            ("INSERT INTO t SETTINGS x = 1 ", "Native", b""),
        ),
        (
            b"INSERT INTO t (`format`, b) FORMAT JSONEachRow {}",
            ("INSERT INTO t (`format`, b) ", "JSONEachRow", b"{}"),
        ),
        (b"INSERT INTO t VALUES (1, 'FORMAT x')", None),
        (b"INSERT INTO t SELECT 'it''s FORMAT x', `FORMAT y` -- FORMAT z", None),
        (
            b"INSERT INTO t SELECT * FROM input('a String') FORMAT CSV\n'FORMAT x'\n",
            ("INSERT INTO t SELECT * FROM input('a String') ", "CSV", b"'FORMAT x'\n"),
        ),
        (b"INSERT INTO t SELECT * FROM format(CSV, '1')", None),
        (b"SELECT 1 FORMAT Native", None),
    ],
)
def test_split_insert_finds_where_the_data_starts(
    sql: bytes, expected: tuple[str, str, bytes] | None
) -> None:
    assert split_insert(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        b"SELECT 1",
        b"SELECT 1;",
        b"SELECT 1 ;; -- done\n/* and */  ",
        b"SELECT ';' AS a, `x;y`, \"z;\" -- ; SELECT 2",
        b"INSERT INTO t VALUES ('a;b'), ('it''s; fine')",
    ],
)
def test_one_statement_passes(sql: bytes) -> None:
    assert second_statement_at(sql) is None


@pytest.mark.parametrize(
    ("sql", "at"),
    [
        (b"SELECT 1; SELECT 2", 9),
        (b"SELECT 1;DROP TABLE t", 9),
        (b"SELECT ';'; /* c */ SELECT 2", 11),
    ],
)
def test_a_second_statement_is_found(sql: bytes, at: int) -> None:
    assert second_statement_at(sql) == at
