"""A reference server: the barest ASGI redirect (dict lookup → 302) on the same uvicorn setup.

It answers the same keys with the same headers as linkhop, on uvicorn with uvloop + httptools
and no access log, exactly as ``linkhop redirect`` configures it. Measured next to nginx and
linkhop in the same rounds, it splits linkhop's cost into "the server stack" (this) and "what
linkhop does per request" (the difference): architecture.md §1 puts it at ≈ 0.42× nginx.

The same app also runs on granian, to compare the two servers on identical work
(docs/decisions/0014-redirect-server.md): ``granian`` is granian's usual process model (a
supervisor and one worker process, asyncio tasks), ``granian-rust`` the same with its Rust
task implementation, ``granian-embed`` granian's experimental embedded server inside our own
uvloop event loop (how linkhop, which starts its backends before serving, would host it).

Run: ``python -m bench.bare_asgi <port> <keys file: "key<TAB>url" lines> [server]`` with
server one of ``uvicorn`` (default), ``granian``, ``granian-rust``, ``granian-embed``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import uvicorn

SERVERS = ("uvicorn", "granian", "granian-rust", "granian-embed")
_KEYS_ENV = "LINKHOP_BENCH_BARE_KEYS"  # how granian's worker process finds the keys file

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


def load_targets(keys: Path) -> dict[str, bytes]:
    """``key<TAB>url`` lines → {key: url bytes}."""
    targets = {}
    for line in keys.read_text().splitlines():
        key, _, url = line.partition("\t")
        targets[key] = url.encode()
    return targets


def granian_app() -> Any:
    """Factory for granian's worker process (it imports the app by name)."""
    return make_app(load_targets(Path(os.environ[_KEYS_ENV])))


def _granian(port: int, keys: Path, *, rust_tasks: bool) -> None:
    from granian import Granian  # noqa: PLC0415 — bench extra only
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl  # noqa: PLC0415

    os.environ[_KEYS_ENV] = str(keys)
    Granian(
        "bench.bare_asgi:granian_app",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGINL,  # no lifespan, like the uvicorn run
        workers=1,
        loop=Loops.uvloop,
        task_impl=TaskImpl.rust if rust_tasks else TaskImpl.asyncio,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        log_level="warning",  # type: ignore[arg-type]  # granian maps the string to its enum
    ).serve()


def _granian_embed(port: int, keys: Path) -> None:
    import uvloop  # noqa: PLC0415
    from granian.constants import HTTPModes, Interfaces  # noqa: PLC0415
    from granian.server.embed import Server  # noqa: PLC0415 — experimental embedded mode

    async def serve() -> None:
        server = Server(
            make_app(load_targets(keys)),
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGINL,
            http=HTTPModes.http1,
            websockets=False,
            log_access=False,
        )
        await server.serve()

    uvloop.run(serve())


def main(port: int, keys: Path, server: str = "uvicorn") -> None:
    """Serve ``keys`` on 127.0.0.1:``port`` until stopped."""
    if server not in SERVERS:
        raise SystemExit(f"unknown server {server!r}: one of {', '.join(SERVERS)}")
    if server == "granian-embed":
        _granian_embed(port, keys)
        return
    if server.startswith("granian"):
        _granian(port, keys, rust_tasks=server == "granian-rust")
        return
    uvicorn.run(
        make_app(load_targets(keys)),
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
    main(int(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:4])
