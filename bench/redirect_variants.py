"""What the redirect benchmark measures: the servers, the key sets, and the rows not run yet.

A new configuration (a Redis Streams queue, the Redis cache, routing rules) is one more
``Variant`` here plus, if it needs its own server, one ``SERVER_ENV`` entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.events import BROWSER_UA

DOMAIN = "lnk.bench"  # every linkhop server's default domain; wrk sends it as the Host header
# A browser's User-Agent, so clicks are stored as human clicks (wrk sends none by default).
HEADERS = {"Host": DOMAIN, "User-Agent": BROWSER_UA}
TARGET = "≥ 0.35× nginx rps (pinned), p99 ≤ 3 ms"
NOT_YET = [
    (
        "LRU hit + click published to Redis Streams (packed XADD)",
        "not available yet: linkhop has no Redis Streams click queue; the embedded spool is "
        "the only queue (architecture.md §1 lists it as the production path).",
        TARGET,
    ),
    (
        "miss path through the Redis cache",
        "not available yet: there is no Redis cache layer (LRU → database only).",
        "",
    ),
    (
        "routing rules evaluated",
        "not available yet: routing rules do not exist (a later issue).",
        "",
    ),
]


@dataclass(frozen=True)
class Variant:
    """One thing to measure: which server answers, which keys wrk asks for, what it expects."""

    name: str
    server: str
    keys: str
    expect: frozenset[int]
    description: str
    target: str = ""


VARIANTS = {
    v.name: v
    for v in [
        Variant("nginx", "nginx", "plain", frozenset({302}), "nginx `map` → 302 (the ceiling)"),
        Variant(
            "bare",
            "bare",
            "plain",
            frozenset({302}),
            "reference: bare ASGI dict lookup → 302, linkhop's uvicorn setup (bench/bare_asgi.py)",
        ),
        Variant(
            "hit",
            "hit",
            "plain",
            frozenset({302}),
            "`linkhop redirect`: LRU hit, decision, click appended to the spool",
            TARGET,
        ),
        Variant(
            "default",
            "default",
            "plain",
            frozenset({302}),
            "same with the default cache TTL (5 s): each hot key reloads from SQLite every 5 s",
        ),
        Variant(
            "miss",
            "miss",
            "plain",
            frozenset({302}),
            "cache miss on every request (LINKHOP_CACHE_SIZE=0): SQLite lookup per request",
        ),
        Variant(
            "password", "hit", "password", frozenset({401}), "password-protected link: 401 page"
        ),
        Variant(
            "expired",
            "hit",
            "expired",
            frozenset({302, 410}),
            "expired link: half 302 to expired_url, half 410 page",
        ),
    ]
}
SERVER_ENV: dict[str, dict[str, str]] = {
    # A TTL longer than the run isolates the hit path the target is about.
    "hit": {"LINKHOP_CACHE_TTL_SECONDS": "3600"},
    "default": {},
    "miss": {"LINKHOP_CACHE_SIZE": "0"},
}
UNPINNED_VARIANTS = ("nginx", "bare", "hit")
# Only the long-TTL server can be warm for a whole run; the others reload by design.
WARMABLE = frozenset({"hit"})
