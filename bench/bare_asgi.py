"""A reference server: the barest ASGI redirect (dict lookup → 302) on the same uvicorn setup.

It answers the same keys with the same headers as linkhop, on uvicorn with uvloop + httptools
and no access log, exactly as ``linkhop redirect`` configures it. Measured next to nginx and
linkhop in the same rounds, it splits linkhop's cost into "the server stack" (this) and "what
linkhop does per request" (the difference): architecture.md §1 puts it at ≈ 0.42× nginx.

Run: ``python -m bench.bare_asgi <port> <keys file: "key<TAB>url" lines>``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn

HEADERS = [
    (b"content-type", b"text/plain"),
    (b"x-robots-tag", b"noindex"),
    (b"cache-control", b"no-store"),
]


def make_app(targets: dict[str, bytes]) -> Any:
    """The ASGI callable: ``/<key>`` → 302, ``/readyz`` → 200, anything else → 404."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        location = targets.get(path[1:])
        if location is None:
            status = 200 if path == "/readyz" else 404
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"location", location), *HEADERS, (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 302, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def main(port: int, keys: Path) -> None:
    """Serve ``keys`` on 127.0.0.1:``port`` until stopped."""
    targets = {}
    for line in keys.read_text().splitlines():
        key, _, url = line.partition("\t")
        targets[key] = url.encode()
    uvicorn.run(
        make_app(targets),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
