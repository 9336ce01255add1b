"""The chDB store behind the shim: one engine, one statement at a time, a fresh session each.

chDB hosts one engine path per process and keeps it alive while any connection is open, so the
engine holds an anchor connection for its lifetime. Each request runs on its own short-lived
connection (opening one costs well under a millisecond once the engine is up): ``USE`` and
``SET`` then stay scoped to that request, as URL settings are scoped to one query on a server.
A lock serialises requests; chDB's own clients do the same (a handle runs one query at a time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import chdb

from tests.chshim.protocol import ABORTED, SYNTAX_ERROR, ChRequest, ShimError
from tests.chshim.sql import (
    output_format,
    quote_identifier,
    second_statement_at,
    set_statement,
    split_insert,
)

# chdb ships py.typed but leaves connect() unannotated; it returns a chdb Connection.
_connect = cast("Callable[[str], Any]", chdb.connect)


@dataclass(frozen=True)
class Outcome:
    """What one statement produced: the body, its format (None: no result set), counters."""

    body: bytes
    fmt: str | None
    stats: dict[str, int]


def _stats(result: Any) -> dict[str, int]:
    return {
        "read_rows": int(result.rows_read()),
        "read_bytes": int(result.bytes_read()),
        "written_rows": int(result.rows_written()),
        "written_bytes": int(result.bytes_written()),
        "elapsed_ns": int(result.elapsed() * 1_000_000_000),
    }


def _insert(conn: Any, statement: str, input_format: str, data: bytes) -> Outcome:
    # Inline data must not ride in query(): chDB parses it with clickhouse-client's multi-query
    # rules and cuts it at the first blank line ("\n\n"), which random Native bytes contain.
    with conn.send_insert(statement, input_format) as inserter:
        if data:
            inserter.append(data)
        done = inserter.finish()
    stats = {
        "written_rows": int(done.rows_written),
        "written_bytes": int(done.bytes_written),
        "elapsed_ns": int(done.elapsed * 1_000_000_000),
    }
    return Outcome(b"", None, stats)


class Engine:
    """A chDB store that runs ``ChRequest`` statements."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._path = str(path.resolve())
        self._lock = threading.Lock()
        self._anchor = _connect(self._path)
        self._closed = False
        row = self._anchor.query("SELECT version(), timezone()", "TabSeparated").bytes()
        version, timezone = row.decode().rstrip("\n").split("\t")
        self.version: str = version
        self.timezone: str = timezone

    def run(self, request: ChRequest) -> Outcome:
        """Run ``request`` in a session of its own; a failure raises ``ShimError``."""
        fmt = output_format(request.sql, request.default_format)
        insert = split_insert(request.sql)
        # One statement per request, as over HTTP (chDB would run them all); insert data is not SQL.
        second = second_statement_at(request.sql) if insert is None else None
        if second is not None:
            text = f"Syntax error (Multi-statements are not allowed): failed at position {second}"
            raise ShimError.of(SYNTAX_ERROR, text)
        with self._lock:
            if self._closed:
                # A connect() now would boot a new engine on the folder during shutdown.
                raise ShimError.of(ABORTED, "chshim is shutting down")
            conn = _connect(self._path)
            try:
                if request.database:
                    conn.query(f"USE {quote_identifier(request.database)}", "TabSeparated")
                # readonly goes last: once set, it would refuse the SETs after it, while a server
                # applies all URL settings to the query at once.
                for name, value in sorted(
                    request.settings.items(), key=lambda s: s[0] == "readonly"
                ):
                    conn.query(set_statement(name, value), "TabSeparated")
                if insert is None:
                    result = conn.query(request.sql, request.default_format, params=request.params)
                    outcome = Outcome(bytes(result.bytes() or b""), fmt, _stats(result))
                else:
                    outcome = _insert(conn, *insert)
            except Exception as exc:  # chDB raises its own error types; all carry the server text
                text = str(exc)
                raise ShimError(text[text.find("Code: ") :] if "Code: " in text else text) from exc
            finally:
                conn.close()
        return outcome

    def close(self) -> None:
        """Close the anchor connection, which shuts the engine down and releases the folder."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._anchor.close()
