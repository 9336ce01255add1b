"""What the redirect benchmark measures: the servers, the key sets, and the rows not run yet.

A new configuration (routing rules, …) is one more ``Variant`` here plus, if it needs its own
server, one ``SERVER_ENV`` entry (and a ``REDIS_SERVERS`` entry if it needs Redis).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.events import BROWSER_UA
from bench.redis_bench import Streams

DOMAIN = "lnk.bench"  # every linkhop server's default domain; wrk sends it as the Host header
# A browser's User-Agent, so clicks are stored as human clicks (wrk sends none by default).
HEADERS = {"Host": DOMAIN, "User-Agent": BROWSER_UA}
TARGET = "≥ 0.35× nginx rps (pinned), p99 ≤ 3 ms"
NOT_YET = [
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
            "hit-redis",
            "hit-redis",
            "plain",
            frozenset({302}),
            "`hit` with LINKHOP_REDIS_URL: LRU hit, decision, click buffered and XADDed packed "
            "to a Redis stream (every 5 ms) instead of the spool",
            TARGET,
        ),
        Variant(
            "miss-redis",
            "miss-redis",
            "plain",
            frozenset({302}),
            "LINKHOP_CACHE_SIZE=0 (an LRU of one entry) with Redis: every request misses the "
            "LRU and is answered by the Redis cache tier (one GET), clicks to the Redis stream",
        ),
        Variant(
            "hit-granian",
            "hit-granian",
            "plain",
            frozenset({302}),
            "`hit` on LINKHOP_REDIRECT_SERVER=granian (granian embedded in linkhop's loop) "
            "instead of uvicorn",
            TARGET,
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
# The redirect benchmark's own stream names (no worker reads them: deleted around every run).
STREAMS = Streams("redirect")
_HIT = {"LINKHOP_CACHE_TTL_SECONDS": "3600"}
SERVER_ENV: dict[str, dict[str, str]] = {
    # A TTL longer than the run isolates the hit path the target is about.
    "hit": _HIT,
    "default": {},
    "miss": {"LINKHOP_CACHE_SIZE": "0"},
    "hit-redis": _HIT,
    # The Redis records live LINKHOP_REDIS_CACHE_TTL_SECONDS (a day): warm for the whole run.
    "miss-redis": {"LINKHOP_CACHE_SIZE": "0"},
    "hit-granian": {**_HIT, "LINKHOP_REDIRECT_SERVER": "granian"},
}
# Servers that get LINKHOP_REDIS_URL and the stream names (STREAMS.env()) on top of SERVER_ENV;
# their rows are skipped when Redis does not answer.
REDIS_SERVERS = frozenset({"hit-redis", "miss-redis"})
UNPINNED_VARIANTS = ("nginx", "bare", "hit", "hit-redis", "hit-granian")
# Servers that can be warm for a whole run (the others reload by design), with the /metrics
# sample that must stop growing: LRU misses, or for the one-entry LRU the Redis tier's misses
# (each of which went to the database).
LRU_MISS = 'linkhop_cache_events_total{result="miss"}'
REDIS_MISS = 'linkhop_cache_events_total{result="redis_miss"}'
WARMABLE = {
    "hit": LRU_MISS,
    "hit-redis": LRU_MISS,
    "hit-granian": LRU_MISS,
    "miss-redis": REDIS_MISS,
}
