"""SQL text: quoting what the shim writes (``SET``, ``USE``) and reading what clients send.

Query parameters never pass through here: chDB binds ``{name:Type}`` placeholders server-side,
exactly as ClickHouse does for ``param_<name>`` over HTTP. Only setting values and the database
name from the request are spliced into SQL, so they are quoted (or refused) here. Statements are
inspected coarsely (first keyword, tokens), never parsed: chDB is the parser.
"""

from __future__ import annotations

import re

_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# ClickHouse string literal escapes (docs: "String literals"); NUL is escaped so the statement
# text never carries a raw zero byte.
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0"})
_IDENTIFIER_ESCAPES = str.maketrans({"\\": "\\\\", "`": "\\`", "\0": "\\0"})

# Statements whose answer is a result set (the server then reports X-ClickHouse-Format).
_ROW_STATEMENTS = frozenset(
    {"SELECT", "WITH", "SHOW", "DESC", "DESCRIBE", "EXISTS", "EXPLAIN", "CHECK"}
)
_FIRST_KEYWORD = re.compile(rb"(?:\s+|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*\(?\s*([A-Za-z]+)", re.DOTALL)
# Tokens, coarsely: quoted strings/identifiers and comments come whole, so a 'FORMAT x' or a ';'
# inside a literal is never taken for syntax.
_TOKEN = re.compile(
    rb"'(?:[^'\\]|\\.|'')*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"|--[^\n]*|/\*.*?\*/|\s+|(\w+)|.",
    re.DOTALL,
)
# The data of `INSERT … FORMAT name` starts after blanks on the FORMAT line and one line break,
# as in ClickHouse's ParserInsertQuery.
_FORMAT_NAME = re.compile(rb"\s+([A-Za-z0-9_]+)[ \t\f]*\r?\n?")
_TRAILING_FORMAT = re.compile(rb"\bFORMAT\s+(\w+)\s*;?\s*\Z", re.IGNORECASE)


def quote_string(value: str) -> str:
    """A single-quoted ClickHouse string literal equal to ``value``."""
    return f"'{value.translate(_STRING_ESCAPES)}'"


def quote_identifier(name: str) -> str:
    """A back-quoted ClickHouse identifier equal to ``name``."""
    return f"`{name.translate(_IDENTIFIER_ESCAPES)}`"


def is_setting_name(name: str) -> bool:
    """True when ``name`` can be a setting (a bare identifier, so it can appear unquoted)."""
    return _SETTING_NAME.fullmatch(name) is not None


def set_statement(name: str, value: str) -> str:
    """``SET name = 'value'``; ClickHouse converts the quoted value to the setting's type."""
    if not is_setting_name(name):
        raise ValueError(f"not a setting name: {name!r}")
    return f"SET {name} = {quote_string(value)}"


def _first_keyword(sql: bytes) -> str:
    keyword = _FIRST_KEYWORD.match(sql)
    return keyword[1].upper().decode() if keyword else ""


def split_insert(sql: bytes) -> tuple[str, str, bytes] | None:
    """``INSERT … FORMAT name <data>`` as (statement without FORMAT, name, data); else None."""
    if _first_keyword(sql) != "INSERT":
        return None
    for token in _TOKEN.finditer(sql):
        word = (token[1] or b"").upper()
        if word == b"VALUES":
            return None  # inline VALUES are statement text
        if word == b"FORMAT":
            name = _FORMAT_NAME.match(sql, token.end())
            if name is not None:  # not format(…), the table function
                return sql[: token.start()].decode(), name[1].decode(), sql[name.end() :]
    return None  # INSERT … SELECT


def second_statement_at(sql: bytes) -> int | None:
    """Where a second statement follows a ``;`` (1-based, as the server reports), else None."""
    end: int | None = None
    for token in _TOKEN.finditer(sql):
        text = token[0]
        if end is None:
            end = token.start() if text == b";" else None
        elif not (text.isspace() or text == b";" or text.startswith((b"--", b"/*"))):
            return end + 1
    return None


def output_format(sql: bytes, default_format: str) -> str | None:
    """The format of the statement's result set, or None when it answers with no rows."""
    if _first_keyword(sql) not in _ROW_STATEMENTS:
        return None
    trailing = _TRAILING_FORMAT.search(sql)
    return trailing[1].decode() if trailing else default_format
