"""Where a redirect's CPU goes, measured in this process on the same seeded data.

wrk numbers include uvicorn and the kernel; these isolate linkhop's own per-request work and its
parts, as CPU microseconds per operation (``time.thread_time``/``process_time``, so neighbours
on a shared machine do not inflate them much). The miss path is measured three ways: the
redirect's own read (``LinkReader``), the same Core SELECT through an ``AsyncSession`` and
aiosqlite (what every lookup cost before), and the bare SELECT through ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.events import BROWSER_UA
from bench.results import Report, Row
from bench.seed import SeededLink
from linkhop.apps.redirect import RedirectApp
from linkhop.db.engine import make_engine, make_sessionmaker, read_only
from linkhop.ids import uuid7, uuid7_text
from linkhop.ingest.schemas import RawClick, encode_click
from linkhop.metrics import HTTP_LATENCY, HTTP_REQUESTS, BufferedCounter, BufferedHistogram
from linkhop.queue.local import SpoolPublisher
from linkhop.redirects.decision import LinkRecord, RedirectRequest, decide_redirect
from linkhop.redirects.service import LinkReader, load_link
from linkhop.settings import Settings

_SELECT = (
    "SELECT id, org_id, domain, key, url, expires_at, expired_url, max_clicks, clicks, "
    "password_hash, archived, redirect_status, forward_query, title, created_at "
    "FROM links WHERE domain = ? AND key_lookup = ?"
)


def _sync(n: int, fn: Callable[[], object]) -> float:
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) * 1e6 / n


async def _async(n: int, fn: Callable[[], Awaitable[object]]) -> float:
    # process_time: a miss also burns CPU in aiosqlite's worker thread.
    started = time.process_time()
    for _ in range(n):
        await fn()
    return (time.process_time() - started) * 1e6 / n


async def _diagnose(settings: Settings, links: Sequence[SeededLink], n: int) -> dict[str, float]:
    engine = make_engine(settings.resolved_database_url)
    sessionmaker = make_sessionmaker(read_only(engine))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as spool:
        publisher = SpoolPublisher(Path(spool))
        app = RedirectApp(
            settings=settings,
            sessionmaker=sessionmaker,
            publisher=publisher,
            secret_key=settings.load_secret_key(),
        )
        keys = [link.key for link in links]
        scopes = [
            {
                "type": "http",
                "method": "GET",
                "path": f"/{key}",
                "query_string": b"",
                "headers": [
                    (b"host", settings.default_domain.encode()),
                    (b"user-agent", BROWSER_UA.encode()),
                ],
                "client": ("127.0.0.1", 40000),
            }
            for key in keys
        ]
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        for scope in scopes:  # fill the LRU: every key below is a hit
            await app(scope, receive, send)
        index = iter(range(10**9))

        async def one_request() -> None:
            await app(scopes[next(index) % len(scopes)], receive, send)
            sent.clear()

        out["linkhop request handling, LRU hit (no server)"] = await _async(n, one_request)
        record = await load_link(sessionmaker, settings.default_domain, keys[0])
        assert isinstance(record, LinkRecord)
        now = datetime.now(UTC)
        request = RedirectRequest(
            method="GET",
            key=keys[0],
            is_inspect=False,
            query="",
            unlocked=False,
            user_agent=BROWSER_UA,
            now=now,
        )
        out["decide_redirect (pure decision)"] = _sync(
            n, lambda: decide_redirect(record, request, permanent_max_age=30)
        )
        out["uuid7_text() (click id)"] = _sync(n, uuid7_text)
        event: RawClick = {
            "click_id": str(uuid7()),
            "ts": now.timestamp(),
            "org_id": record.org_id,
            "link_id": record.id,
            "domain": record.domain,
            "key": record.key,
            "url": record.url,
            "trigger": "link",
            "ip": "127.0.0.1",
            "ua": BROWSER_UA,
            "referrer": "",
            "country": "",
            "method": "GET",
        }
        out["encode_click (orjson)"] = _sync(n, lambda: encode_click(event))
        payload = encode_click(event)
        out["SpoolPublisher.publish (one write)"] = _sync(n, lambda: publisher.publish(payload))

        requests = BufferedCounter(HTTP_REQUESTS.labels("redirect", "/{key}", "GET", "302"))
        latency = BufferedHistogram(HTTP_LATENCY.labels("redirect", "/{key}"))

        def metrics() -> None:
            requests.value += 1
            latency.observe(0.0001)

        out["metrics: buffered counter + histogram (per request)"] = _sync(n, metrics)
        misses = min(n, 2000)
        out["miss: load_link (Core SELECT via AsyncSession + aiosqlite)"] = await _async(
            misses,
            lambda: load_link(sessionmaker, settings.default_domain, keys[next(index) % len(keys)]),
        )
        reader = LinkReader(read_only(engine))
        out["miss: LinkReader.load (the redirect's read: sqlite3, loop thread)"] = await _async(
            n,
            lambda: reader.load(settings.default_domain, keys[next(index) % len(keys)]),
        )
        reader.close()
        await publisher.close()
    await engine.dispose()
    db = sqlite3.connect(str(settings.data_dir / "linkhop.db"))
    try:
        out["miss: same SELECT via sqlite3 directly"] = _sync(
            misses,
            lambda: db.execute(
                _SELECT, (settings.default_domain, keys[next(index) % len(keys)])
            ).fetchone(),
        )
    finally:
        db.close()
    return out


def diagnose(report: Report, settings: Settings, links: Sequence[SeededLink], *, n: int) -> None:
    """Add one ``diag:`` row per measured operation (CPU µs per operation)."""
    for name, micros in asyncio.run(_diagnose(settings, links, n)).items():
        report.add(Row(name=f"diag: {name}", metrics={"us_per_op": round(micros, 1)}))
