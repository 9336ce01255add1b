"""Security and caching headers on every ``/app`` response (pages, errors and static files)."""

from __future__ import annotations

from linkhop.asgi import ASGIApp, Message, Receive, Scope, Send

# No inline scripts or styles anywhere: htmx, uPlot and app.js load from /app/static, and htmx
# is configured not to eval or inject <style>. `img-src data:` is for QR code previews.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),  # for browsers that predate frame-ancestors
    (b"referrer-policy", b"same-origin"),  # links opened from the dashboard do not see its URLs
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
# Static URLs carry a content hash (?v=…), so a changed file gets a new URL: cache for a year.
_STATIC_VERSIONED = (b"cache-control", b"public, max-age=31536000, immutable")
_STATIC_PLAIN = (b"cache-control", b"no-cache")
# Pages hold CSRF tokens and org data: never stored by the browser or a proxy.
_PAGE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """ASGI wrapper adding the dashboard's response headers."""

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/app/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(self.static_prefix):
            versioned = b"v=" in scope.get("query_string", b"")
            cache = _STATIC_VERSIONED if versioned else _STATIC_PLAIN
        else:
            cache = _PAGE

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers.extend(_COMMON)
                headers.append(cache)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
