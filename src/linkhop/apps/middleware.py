"""API middleware as plain ASGI: request ids, access logs, metrics and the body size limit."""

from __future__ import annotations

import re
import secrets
import time

import orjson
import structlog

from linkhop.asgi import ASGIApp, Message, Receive, Scope, Send, send_bytes
from linkhop.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("linkhop.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Paths that carry a secret (the dashboard's invitation links): logged without it.
_SECRET_PATHS = ("/app/invite/",)


def loggable_path(path: str) -> str:
    """``path`` for the access log, with the token of a secret-bearing path cut off."""
    for prefix in _SECRET_PATHS:
        if path.startswith(prefix):
            return prefix + "…"
    return path


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when it is sane, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if _REQUEST_ID.match(text):
                return text
    return secrets.token_hex(8)


class ApiMiddleware:
    """Wraps the API app: binds a request id, enforces the body limit, logs and measures."""

    def __init__(self, app: ASGIApp, *, app_name: str, max_body: int, prefix: str = "") -> None:
        self.app = app
        self.prefix = prefix
        self.app_name = app_name
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        outer_root = scope.get("root_path", "")

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body:
                await _too_large(send_wrapper, self.max_body, request_id)
                return
            await self.app(scope, _limited(receive, self.max_body), send_wrapper)
        finally:
            template = route_template(scope, self.prefix, outer_root=outer_root)
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(self.app_name, template, scope["method"], str(status)).inc()
            HTTP_LATENCY.labels(self.app_name, template).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=loggable_path(scope["path"]),
                route=template,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")


def route_template(scope: Scope, prefix: str, *, outer_root: str = "") -> str:
    """The matched route's path template (a bounded metrics label), or ``unmatched``.

    FastAPI mounts included routers, so the scope's route holds the router-local template;
    the mount prefix is put back in front of it. A route inside a mounted sub-app (the
    dashboard at /app) carries its mount in ``root_path``, which Starlette extends in place:
    whatever was added to the root path while routing is the mount to put back.
    """
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return "unmatched"
    root = scope.get("root_path", "")
    mount = root[len(outer_root) :] if root.startswith(outer_root) else ""
    if mount and not path.startswith(mount):
        path = mount + path
    if prefix and scope["path"].startswith(prefix + "/") and not path.startswith(prefix):
        return prefix + path
    return path


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyTooLarge(Exception):
    """Raised inside receive() when a streamed body passes the limit."""


def _limited(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge
        return message

    return wrapped


async def _too_large(send: Send, limit: int, request_id: str) -> None:
    body = orjson.dumps(
        {
            "type": "urn:linkhop:problem:body_too_large",
            "title": "Request body too large",
            "status": 413,
            "detail": f"request bodies are limited to {limit} bytes",
            "code": "body_too_large",
            "request_id": request_id,
        }
    )
    await send_bytes(send, 413, body, b"application/problem+json")
