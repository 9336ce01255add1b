"""Minimal ASGI types and response helpers for the framework-free apps (redirect, ops)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    *,
    head: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Send a complete response (no body for HEAD, but the real Content-Length)."""
    raw = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *(headers or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def pick_client_ip(peer: str, forwarded_for: str, trusted_hops: int) -> str:
    """The visitor's address: the socket peer, or — behind ``trusted_hops`` proxies that each
    append to X-Forwarded-For — the entry those proxies vouch for. Entries further left are
    client-supplied and could be forged, so they are never used."""
    if trusted_hops and forwarded_for:
        parts = [p.strip() for p in forwarded_for.split(",") if p.strip()]
        if len(parts) >= trusted_hops:
            return parts[-trusted_hops]
    return peer


def client_ip(scope: Scope, trusted_hops: int) -> str:
    """``pick_client_ip`` for an ASGI scope."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not trusted_hops:
        return peer
    forwarded = ", ".join(
        v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"
    )
    return pick_client_ip(peer, forwarded, trusted_hops)
