"""The shim's HTTP server: ``python -m tests.chshim.server --port N --path DIR`` (repo root).

Supported: ``GET|POST /`` with one statement in ``query`` and/or the body (gzip, deflate, zstd
or lz4 ``Content-Encoding``; chunked or sized), ``multipart/form-data`` text fields,
``param_<name>`` bound parameters, ``database``, ``default_format``, ``query_id``, any other field
as a setting for that one query, GET as read-only; ``GET /ping``. Answers carry the server's
headers (``X-ClickHouse-Summary``, ``-Query-Id``, ``-Format``, ``-Timezone``,
``-Server-Display-Name``); errors are ``500`` with ``X-ClickHouse-Exception-Code`` and a
``Code: N. DB::Exception: … (version …)`` body.

Not supported: sessions (``session_id`` is accepted; each request is a session of its own),
external data tables, ClickHouse's ``compress``/``decompress`` block compression, progress
headers, authentication (any user is let in). Answers are buffered whole and sent uncompressed,
which HTTP allows whatever ``Accept-Encoding`` asked for.
"""

from __future__ import annotations

import argparse
import signal
import threading
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.chshim.engine import Engine, Outcome
from tests.chshim.protocol import (
    NOT_IMPLEMENTED,
    STD_EXCEPTION,
    ChRequest,
    ShimError,
    content_type,
    decode_body,
    error_body,
    parse_request,
    summary_header,
)

DISPLAY_NAME = "chshim"


class ShimServer(ThreadingHTTPServer):
    """A threaded HTTP server in front of one ``Engine``."""

    # Keep-alive connections park their handler thread in a read; never wait for them on exit.
    daemon_threads = True

    def __init__(self, address: tuple[str, int], engine: Engine, *, verbose: bool) -> None:
        super().__init__(address, ShimHandler)
        self.engine = engine
        self.verbose = verbose


class ShimHandler(BaseHTTPRequestHandler):
    """Maps each HTTP request to one statement on the engine."""

    protocol_version = "HTTP/1.1"  # keep-alive, as clickhouse-connect's urllib3 pool expects
    server: ShimServer

    def do_GET(self) -> None:
        """Read-only statements and ``/ping``."""
        self._dispatch(readonly=True)

    def do_POST(self) -> None:
        """Any statement; the body carries SQL and/or insert data."""
        self._dispatch(readonly=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Log requests to stderr only with ``--verbose``."""
        if self.server.verbose:
            super().log_message(format, *args)

    def _dispatch(self, *, readonly: bool) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path == "/ping" or (url.path == "/" and readonly and not url.query):
            self._reply(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        engine = self.server.engine
        headers = {
            "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            "X-ClickHouse-Query-Id": str(uuid.uuid4()),
        }
        if url.path != "/":
            text = f"chshim serves only / and /ping, not {url.path}"
            self._fail(ShimError.of(NOT_IMPLEMENTED, text), headers, status=404)
            return
        try:
            request = parse_request(
                fields=parse_qsl(url.query, keep_blank_values=True),
                body=decode_body(body, self.headers.get("Content-Encoding")),
                content_type=self.headers.get("Content-Type", ""),
                readonly=readonly,
                new_query_id=headers["X-ClickHouse-Query-Id"],
            )
            headers["X-ClickHouse-Query-Id"] = request.query_id
            if self.server.verbose:
                self.log_message("statement %r settings %r", request.sql[:200], request.settings)
            outcome = engine.run(request)
        except ShimError as exc:
            self._fail(exc, headers)
            return
        except Exception as exc:  # a shim bug must still reach the client as a server error
            self._fail(ShimError.of(STD_EXCEPTION, repr(exc)), headers)
            return
        self._reply(200, outcome.body, {**headers, **_result_headers(request, outcome, engine)})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _fail(self, error: ShimError, headers: dict[str, str], *, status: int = 500) -> None:
        headers = {
            **headers,
            "Content-Type": "text/plain; charset=UTF-8",
            "X-ClickHouse-Exception-Code": str(error.code),
        }
        self._reply(status, error_body(str(error), self.server.engine.version), headers)

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _result_headers(request: ChRequest, outcome: Outcome, engine: Engine) -> dict[str, str]:
    headers = {
        "Content-Type": content_type(outcome.fmt),
        # The session time zone when the request sets one, as the server reports it.
        "X-ClickHouse-Timezone": request.settings.get("session_timezone") or engine.timezone,
        "X-ClickHouse-Summary": summary_header(outcome.stats),
    }
    if outcome.fmt is not None:
        headers["X-ClickHouse-Format"] = outcome.fmt
    return headers


def _read_chunked(stream: Any) -> bytes:
    """Read an HTTP/1.1 chunked body (RFC 9112 §7.1); urllib3 streams inserts this way."""
    out = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailer fields: none matter here
            return bytes(out)
        out += stream.read(size)
        stream.readline()  # the CRLF after each chunk


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the store at ``--path`` on ``--port`` until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.chshim.server", description=__doc__)
    parser.add_argument("--path", type=Path, required=True, help="chDB data folder (created)")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    engine = Engine(args.path)
    server = ShimServer((args.host, args.port), engine, verbose=args.verbose)
    # shutdown() waits for serve_forever() to return, so it must not run on the serving thread.
    signal.signal(
        signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start()
    )
    # The first stdout line is the contract with tests.chshim.launcher (port 0 → real port).
    print(f"chshim listening on http://{args.host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.close()


if __name__ == "__main__":
    main()
