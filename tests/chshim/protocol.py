"""The ClickHouse HTTP interface, as far as the shim speaks it: pure request and response mapping.

A request becomes one statement: the ``query`` URL (or form) field, a newline, then the body
(ClickHouse concatenates them the same way, which is how ``INSERT … FORMAT Native`` data follows
its statement). Every other field is a setting, except ``param_<name>`` (a bound parameter) and
the transport fields below. Reference: https://clickhouse.com/docs/interfaces/http
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from tests.chshim.sql import is_setting_name

# ClickHouse error codes (src/Common/ErrorCodes.cpp) for what the shim refuses itself.
NOT_IMPLEMENTED = 48
SYNTAX_ERROR = 62
UNKNOWN_SETTING = 115
ABORTED = 236
CANNOT_DECOMPRESS = 271
STD_EXCEPTION = 1001

# Fields the HTTP handler consumes itself: never forwarded to the engine as settings.
TRANSPORT_FIELDS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "user",
        "password",
        "quota_key",
        "role",
        "session_id",  # accepted but not honoured: every request is a fresh session (see server)
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",  # the shim always answers after the query has finished
        "client_protocol_version",  # chDB writes protocol-0 Native; the client probes and adapts
        "stacktrace",
    }
)

_ERROR_CODE = re.compile(r"Code: (\d+)\.")
_VERSION_SUFFIX = re.compile(r"\(version [^()]*\)\Z")

_CONTENT_TYPES = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "JSON": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}


class ShimError(Exception):
    """A failed request, reported the way ClickHouse reports exceptions."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code if code is not None else error_code(message)

    @classmethod
    def of(cls, code: int, text: str) -> ShimError:
        """An error raised by the shim itself, worded like a server exception."""
        return cls(f"Code: {code}. DB::Exception: {text}", code)


@dataclass(frozen=True)
class ChRequest:
    """One statement to run: its text (plus inline data), where, how, and with what."""

    sql: bytes
    database: str | None
    default_format: str
    query_id: str
    settings: dict[str, str]
    params: dict[str, str]


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """Undo the request's ``Content-Encoding`` (clickhouse-connect compresses insert bodies)."""
    encoding = (content_encoding or "identity").strip().lower()
    try:
        if encoding == "identity":
            return body
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "zstd":
            from backports import zstd  # clickhouse-connect's own zstd dependency on 3.11

            return bytes(zstd.decompress(body))
        if encoding == "lz4":
            return _lz4_frames(body)
    except (OSError, EOFError, ValueError, RuntimeError, zlib.error) as exc:
        raise ShimError.of(CANNOT_DECOMPRESS, f"cannot decode {encoding} body: {exc}") from exc
    raise ShimError.of(NOT_IMPLEMENTED, f"chshim does not accept Content-Encoding {encoding}")


def _lz4_frames(body: bytes) -> bytes:
    # clickhouse-connect compresses each insert block as its own LZ4 frame, and
    # lz4.frame.decompress() stops after the first frame, so walk them all.
    import lz4.frame  # type: ignore[import-untyped]  # lz4 ships no type information

    out = bytearray()
    rest = body
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        out += decompressor.decompress(rest)
        if not decompressor.eof:
            raise ValueError("truncated LZ4 frame")
        rest = decompressor.unused_data
    return bytes(out)


def form_fields(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """The text fields of a ``multipart/form-data`` body (clickhouse-connect's long-params path)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: list[tuple[str, str]] = []
    for part in message.iter_parts():
        if part.get_filename() is not None:
            raise ShimError.of(NOT_IMPLEMENTED, "chshim does not support external data tables")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.append((name, payload.decode("utf-8")))
    return fields


def parse_request(
    *,
    fields: Sequence[tuple[str, str]],
    body: bytes,
    content_type: str,
    readonly: bool,
    new_query_id: str,
) -> ChRequest:
    """Map URL fields and a decoded body to the statement to run (GET requests are read-only)."""
    all_fields = list(fields)
    if content_type.lower().startswith("multipart/form-data"):
        all_fields += form_fields(body, content_type)
        body = b""
    values = dict(all_fields)  # a repeated field: the last one wins
    for flag in ("compress", "decompress"):
        # These ask for ClickHouse's own block compression, which chDB cannot produce over HTTP.
        if values.get(flag, "0") not in ("0", ""):
            raise ShimError.of(NOT_IMPLEMENTED, f"chshim does not support {flag}=1")
    query = values.get("query", "")
    sql = (query.encode() + b"\n" if query else b"") + body
    if not sql.strip():
        raise ShimError.of(SYNTAX_ERROR, "Empty query")
    settings: dict[str, str] = {}
    params: dict[str, str] = {}
    for name, value in values.items():
        if name.startswith("param_"):
            params[name.removeprefix("param_")] = value
        elif name not in TRANSPORT_FIELDS:
            if not is_setting_name(name):
                raise ShimError.of(UNKNOWN_SETTING, f"Unknown setting {name!r}")
            settings[name] = value
    if readonly and "readonly" not in settings:
        settings["readonly"] = "2"  # the server makes GET read-only but lets it change settings
    return ChRequest(
        sql=sql,
        database=values.get("database") or None,
        default_format=values.get("default_format") or "TabSeparated",
        query_id=values.get("query_id") or new_query_id,
        settings=settings,
        params=params,
    )


def content_type(fmt: str | None) -> str:
    """The ``Content-Type`` ClickHouse sends for ``fmt``."""
    if fmt is None:
        return "text/plain; charset=UTF-8"
    return _CONTENT_TYPES.get(fmt, "application/octet-stream")


def summary_header(stats: Mapping[str, int]) -> str:
    """The ``X-ClickHouse-Summary`` JSON: every counter as a decimal string, like the server."""
    return json.dumps({name: str(value) for name, value in stats.items()}, separators=(",", ":"))


def error_code(message: str) -> int:
    """The code of a ``Code: N. DB::Exception: …`` message (STD_EXCEPTION when there is none)."""
    found = _ERROR_CODE.search(message)
    return int(found[1]) if found else STD_EXCEPTION


def error_body(message: str, version: str) -> bytes:
    """The error body the server sends: the exception text and the server version."""
    text = message.strip()
    if not text.startswith("Code: "):
        text = f"Code: {error_code(text)}. DB::Exception: {text}"
    if not _VERSION_SUFFIX.search(text):  # chDB's insert errors already end with it
        text = f"{text} (version {version})"
    return f"{text}\n".encode()
