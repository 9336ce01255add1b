"""Operational endpoints shared by every app, as bare ASGI (the redirect app imports this).

- ``/healthz``: liveness, no I/O;
- ``/readyz``: checks each configured backend, 503 with the failing ones named. A backend named
  in ``optional`` (one the process can serve without, e.g. the database for a redirect replica
  with a Redis cache) only makes it ``degraded`` (200) once it has been reached at least once;
  until then its check raises :class:`NotReady`, which always fails;
- ``/metrics``: Prometheus text format.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from linkhop.asgi import Receive, Scope, Send, send_bytes

Check = Callable[[], Awaitable[None]]
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class NotReady(Exception):
    """A check's backend has not been reached since start-up: unready even if optional."""


async def _run_check(check: Check, limit_seconds: float) -> tuple[str | None, bool]:
    """(the failure, or None; whether the failure is "not reached since start-up")."""
    try:
        await asyncio.wait_for(check(), limit_seconds)
    except TimeoutError:
        return f"timed out after {limit_seconds:g} s", False
    except NotReady as exc:
        return f"not ready: {exc}"[:400], True
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300], False
    return None, False


class OpsApp:
    """Serves the three operational paths; ``checks`` maps a backend name to its probe."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        optional: Collection[str] = (),
        timeout: float = 2.0,
    ) -> None:
        self.checks = dict(checks)
        self.optional = frozenset(optional)
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
            failing = {n: r for n, (r, _) in zip(names, results, strict=True) if r is not None}
            fatal = [
                n
                for n, (r, starting) in zip(names, results, strict=True)
                if r is not None and (starting or n not in self.optional)
            ]
            status = "fail" if fatal else "degraded" if failing else "ok"
            body = orjson.dumps(
                {"status": status, "checks": {n: (failing.get(n) or "ok") for n in names}}
            )
            await send_bytes(send, 503 if fatal else 200, body, b"application/json", head=head)
