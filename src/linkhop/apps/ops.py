"""Operational endpoints shared by every app, as bare ASGI (the redirect app imports this).

- ``/healthz``: liveness, no I/O;
- ``/readyz``: checks each configured backend, 503 with the failing ones named;
- ``/metrics``: Prometheus text format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from linkhop.asgi import Receive, Scope, Send, send_bytes

Check = Callable[[], Awaitable[None]]
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


async def _run_check(check: Check, limit_seconds: float) -> str | None:
    try:
        await asyncio.wait_for(check(), limit_seconds)
    except TimeoutError:
        return f"timed out after {limit_seconds:g} s"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None


class OpsApp:
    """Serves the three operational paths; ``checks`` maps a backend name to its probe."""

    def __init__(self, checks: Mapping[str, Check], *, timeout: float = 2.0) -> None:
        self.checks = dict(checks)
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        head = scope.get("method") == "HEAD"
        if path == "/healthz":
            await send_bytes(send, 200, b'{"status":"ok"}', b"application/json", head=head)
        elif path == "/metrics":
            await send_bytes(send, 200, generate_latest(), CONTENT_TYPE_LATEST.encode(), head=head)
        else:
            names = list(self.checks)
            results = await asyncio.gather(
                *(_run_check(self.checks[n], self.timeout) for n in names)
            )
            failing = {n: r for n, r in zip(names, results, strict=True) if r is not None}
            body = orjson.dumps(
                {
                    "status": "fail" if failing else "ok",
                    "checks": {n: (failing.get(n) or "ok") for n in names},
                }
            )
            await send_bytes(send, 503 if failing else 200, body, b"application/json", head=head)
