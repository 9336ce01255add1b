"""The shim's HTTP request and response mapping, as pure functions (no server, no chDB)."""

from __future__ import annotations

import gzip
import zlib

import lz4.frame  # type: ignore[import-untyped]  # lz4 ships no type information
import pytest
from backports import zstd
from tests.chshim.protocol import (
    ShimError,
    decode_body,
    error_body,
    error_code,
    parse_request,
    summary_header,
)
from urllib3 import encode_multipart_formdata


def test_query_field_and_body_are_one_statement() -> None:
    request = parse_request(
        fields=[("query", "INSERT INTO t FORMAT TSV")],
        body=b"1\tx\n",
        content_type="",
        readonly=False,
        new_query_id="q-new",
    )
    assert request.sql == b"INSERT INTO t FORMAT TSV\n1\tx\n"


def test_fields_split_into_settings_params_and_transport() -> None:
    request = parse_request(
        fields=[
            ("database", "analytics"),
            ("default_format", "JSON"),
            ("query_id", "q-given"),
            ("session_id", "s1"),
            ("wait_end_of_query", "1"),
            ("client_protocol_version", "54405"),
            ("insert_deduplication_token", "batch-7"),
            ("max_threads", "2"),
            ("param_org", "it's"),
        ],
        body=b"SELECT {org:String}",
        content_type="",
        readonly=False,
        new_query_id="q-new",
    )
    assert request.database == "analytics"
    assert request.default_format == "JSON"
    assert request.query_id == "q-given"
    assert request.settings == {"insert_deduplication_token": "batch-7", "max_threads": "2"}
    assert request.params == {"org": "it's"}


def test_defaults_and_a_blank_query_id() -> None:
    request = parse_request(
        fields=[("query_id", "")],
        body=b"SELECT 1",
        content_type="",
        readonly=False,
        new_query_id="q-new",
    )
    assert (request.database, request.default_format, request.query_id) == (
        None,
        "TabSeparated",
        "q-new",
    )


def test_get_is_read_only_unless_the_request_says_otherwise() -> None:
    get = parse_request(
        fields=[("query", "SELECT 1")], body=b"", content_type="", readonly=True, new_query_id="q"
    )
    assert get.settings == {"readonly": "2"}
    strict = parse_request(
        fields=[("query", "SELECT 1"), ("readonly", "1")],
        body=b"",
        content_type="",
        readonly=True,
        new_query_id="q",
    )
    assert strict.settings == {"readonly": "1"}


def test_multipart_form_fields_carry_query_and_params() -> None:
    body, content_type = encode_multipart_formdata(
        {"query": "SELECT {ids:Array(String)}", "param_ids": "['a','b']"}
    )
    request = parse_request(
        fields=[("max_threads", "1")],
        body=body,
        content_type=content_type,
        readonly=False,
        new_query_id="q",
    )
    assert request.sql == b"SELECT {ids:Array(String)}\n"
    assert request.params == {"ids": "['a','b']"}
    assert request.settings == {"max_threads": "1"}


def test_external_data_files_are_refused() -> None:
    body, content_type = encode_multipart_formdata({"ext": ("ext.tsv", b"1\n")})
    with pytest.raises(ShimError) as caught:
        parse_request(
            fields=[("query", "SELECT * FROM ext")],
            body=body,
            content_type=content_type,
            readonly=False,
            new_query_id="q",
        )
    assert caught.value.code == 48


@pytest.mark.parametrize(
    ("fields", "body", "code"),
    [
        ([], b"  \n", 62),  # empty query
        ([("compress", "1")], b"SELECT 1", 48),  # ClickHouse block compression
        ([("decompress", "1")], b"SELECT 1", 48),
        ([("max threads", "1")], b"SELECT 1", 115),  # not an identifier: never spliced into SQL
    ],
)
def test_refused_requests_carry_clickhouse_codes(
    fields: list[tuple[str, str]], body: bytes, code: int
) -> None:
    with pytest.raises(ShimError) as caught:
        parse_request(fields=fields, body=body, content_type="", readonly=False, new_query_id="q")
    assert caught.value.code == code
    assert str(caught.value).startswith(f"Code: {code}. DB::Exception: ")


def test_decode_body_undoes_each_content_encoding() -> None:
    data = b"INSERT INTO t FORMAT Native\n\x00\x01binary\x00"
    assert decode_body(data, None) == data
    assert decode_body(data, "identity") == data
    assert decode_body(gzip.compress(data), "gzip") == data
    assert decode_body(zlib.compress(data), "deflate") == data
    assert decode_body(zstd.compress(data), "ZSTD") == data
    # clickhouse-connect sends one LZ4 frame per block: every frame must be read, not the first.
    frames = lz4.frame.compress(data[:10]) + lz4.frame.compress(data[10:])
    assert decode_body(frames, "lz4") == data


def test_decode_body_refuses_unknown_and_corrupt_encodings() -> None:
    with pytest.raises(ShimError) as unknown:
        decode_body(b"x", "snappy")
    assert unknown.value.code == 48
    with pytest.raises(ShimError) as corrupt:
        decode_body(b"not gzip", "gzip")
    assert corrupt.value.code == 271
    with pytest.raises(ShimError) as truncated:
        decode_body(lz4.frame.compress(b"abc" * 100)[:-6], "lz4")
    assert truncated.value.code == 271


def test_error_text_and_code() -> None:
    message = "Code: 60. DB::Exception: Unknown table expression identifier 'x'. (UNKNOWN_TABLE)"
    assert error_code(message) == 60
    assert error_body(message, "26.9.2.1") == (message + " (version 26.9.2.1)\n").encode()
    assert error_code("segfault-free failure") == 1001
    assert error_body("boom", "1.0") == b"Code: 1001. DB::Exception: boom (version 1.0)\n"
    versioned = (
        "Code: 33. DB::Exception: Cannot read all data. (CANNOT_READ_ALL_DATA) (version 2.0)"
    )
    assert error_body(versioned, "2.0") == (versioned + "\n").encode()  # not repeated


def test_summary_header_renders_counters_as_strings() -> None:
    assert summary_header({"read_rows": 3, "elapsed_ns": 10}) == (
        '{"read_rows":"3","elapsed_ns":"10"}'
    )
