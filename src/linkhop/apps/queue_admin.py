"""Queue admin commands behind ``linkhop queue …``: status, dead letters, redrive, purge.

The work is done by ``queue/redis_admin.py`` and ``queue/spool_admin.py``; this module opens the
Redis client from the settings, turns Redis failures into ``LinkhopError``s (one readable line
and exit code 1 through ``cli.run_admin``) and renders tables or JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rich.console import Console
from rich.table import Table

from linkhop.errors import Invalid, LinkhopError, NotFound, Unavailable
from linkhop.queue.redis_admin import (
    DeadLetter,
    MalformedEntries,
    RedriveReport,
    StreamStatus,
    UnknownEntries,
    list_dead_letters,
    purge_dead_letters,
    redrive,
    stream_status,
)
from linkhop.queue.redis_client import stream_client
from linkhop.queue.spool_admin import SpoolDepth, spool_depth
from linkhop.settings import Settings

_TIMEOUT_S = 5.0


@asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    if not settings.redis_url:
        raise Invalid(
            "LINKHOP_REDIS_URL is not set: clicks go through the embedded spool, which has no "
            "dead-letter stream (see `linkhop queue status`)"
        )
    client = stream_client(settings.redis_url, timeout=_TIMEOUT_S)
    try:
        yield client
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        # One line; the URL is not printed (it may hold a password).
        raise Unavailable(f"Redis cannot be reached: {type(exc).__name__}: {exc}") from exc
    except RedisError as exc:
        raise LinkhopError(f"Redis refused the command: {exc}") from exc
    finally:
        await client.aclose()


async def queue_status(settings: Settings) -> StreamStatus | SpoolDepth:
    """The Redis click stream's status with ``redis_url``, else the local spool's depth."""
    if not settings.redis_url:
        return await spool_depth(settings.resolved_spool_dir)
    async with _redis(settings) as client:
        return await stream_status(
            client,
            stream=settings.click_stream,
            group=settings.click_stream_group,
            dlq_stream=settings.click_stream_dlq,
        )


async def dead_letters(settings: Settings, *, limit: int) -> list[DeadLetter]:
    """The oldest ``limit`` entries of the dead-letter stream."""
    async with _redis(settings) as client:
        return await list_dead_letters(client, dlq_stream=settings.click_stream_dlq, limit=limit)


async def redrive_dead_letters(
    settings: Settings, *, ids: list[str], every: bool, dry_run: bool
) -> RedriveReport:
    """Move DLQ entries back to the click stream (``redis_admin.redrive``)."""
    async with _redis(settings) as client:
        try:
            return await redrive(
                client,
                stream=settings.click_stream,
                dlq_stream=settings.click_stream_dlq,
                ids=ids,
                every=every,
                dry_run=dry_run,
            )
        except UnknownEntries as exc:
            raise NotFound(
                f"not in the dead-letter stream {settings.click_stream_dlq}: "
                f"{', '.join(exc.ids)}; nothing was moved"
            ) from exc
        except MalformedEntries as exc:
            raise Invalid(
                f"the worker would dead-letter these again at once (their payload does not "
                f"unpack), nothing was moved: {exc}"
            ) from exc


async def purge(settings: Settings, *, before: str | None) -> int:
    """Delete dead letters with ids below ``before``, or all of them."""
    async with _redis(settings) as client:
        return await purge_dead_letters(client, dlq_stream=settings.click_stream_dlq, before=before)


def _dump(doc: Any) -> None:
    print(json.dumps(doc, indent=2))


def _ago(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f} s"


def status_json(status: StreamStatus | SpoolDepth) -> dict[str, Any]:
    """The status as a JSON-ready dict."""
    if isinstance(status, SpoolDepth):
        return {
            "backend": "spool",
            "directory": str(status.directory),
            "exists": status.exists,
            "segments": status.segments,
            "open_segments": status.open_segments,
            "events": status.events,
            "bytes": status.bytes,
            "in_flight_events": status.in_flight_events,
        }
    group = status.group
    return {
        "backend": "redis",
        "stream": status.stream,
        "length": status.length,
        "group": {
            "name": status.group_name,
            "exists": group is not None,
            "pending": group.pending if group else 0,
            "lag": group.lag if group else None,
            "last_delivered_id": group.last_delivered_id if group else None,
            "consumers": [
                {"name": c.name, "pending": c.pending, "idle_ms": c.idle_ms}
                | ({"inactive_ms": c.inactive_ms} if c.inactive_ms is not None else {})
                for c in (group.consumers if group else [])
            ],
        },
        "dead_letters": {"stream": status.dlq_stream, "length": status.dlq_length},
    }


def show_status(status: StreamStatus | SpoolDepth, *, as_json: bool) -> None:
    """Print the status as tables, or as JSON."""
    if as_json:
        _dump(status_json(status))
        return
    console = Console()
    if isinstance(status, SpoolDepth):
        table = Table("embedded spool", "value", title="click queue (no LINKHOP_REDIS_URL)")
        table.add_row("directory", str(status.directory) + ("" if status.exists else " (absent)"))
        table.add_row("segments", f"{status.segments} ({status.open_segments} open)")
        table.add_row("events not ingested", str(status.events))
        table.add_row("bytes not ingested", str(status.bytes))
        table.add_row("in flight", str(status.in_flight_events))
        console.print(table)
        return
    group = status.group
    table = Table("Redis stream", "value", title="click queue")
    table.add_row("stream", status.stream)
    table.add_row("length (entries)", str(status.length))
    table.add_row("group", status.group_name + ("" if group else " (not created yet)"))
    if group is not None:
        table.add_row("pending (delivered, not acked)", str(group.pending))
        table.add_row("lag (never delivered)", "unknown" if group.lag is None else str(group.lag))
        table.add_row("last delivered id", group.last_delivered_id)
    table.add_row("dead-letter stream", status.dlq_stream)
    table.add_row("dead letters", str(status.dlq_length))
    console.print(table)
    if group is not None and group.consumers:
        consumers = Table("consumer", "pending", "idle", "inactive", title="consumers")
        for c in group.consumers:
            consumers.add_row(c.name, str(c.pending), _ago(c.idle_ms), _ago(c.inactive_ms))
        console.print(consumers)


def show_dead_letters(rows: list[DeadLetter], *, as_json: bool) -> None:
    """Print DLQ entries (payload cut to its first bytes): a table on a terminal, one
    tab-separated line per entry when piped, or JSON."""
    if as_json:
        _dump([r.as_json() for r in rows])
        return
    lines = [
        (
            r.id,
            r.dead_lettered_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.reason,
            "-" if r.deliveries is None else str(r.deliveries),
            "malformed" if r.events is None else str(r.events),
            f"{r.payload_bytes} B: "
            + r.payload_head
            + ("…" if r.payload_bytes > len(r.payload_head) else ""),
        )
        for r in rows
    ]
    if not sys.stdout.isatty():
        for line in lines:
            print("\t".join(" ".join(cell.split()) for cell in line))
        return
    table = Table("id", "dead-lettered (UTC)", "reason", "deliveries", "events", "payload")
    table.columns[0].no_wrap = True
    for line in lines:
        table.add_row(*line)
    Console().print(table)
    if not rows:
        print("the dead-letter stream is empty")


def show_redrive(report: RedriveReport) -> None:
    """One line per moved (or, dry run, movable) entry, then the skipped ones and a summary."""
    verb = "would move" if report.dry_run else "moved"
    for m in report.moved:
        to = "" if m.new_id is None else f" -> {m.new_id}"
        print(f"{verb} {m.dlq_id}{to} ({m.events} events)")
    for dlq_id, why in report.skipped.items():
        print(f"kept {dlq_id}: {why}")
    events = sum(m.events for m in report.moved)
    print(
        f"{verb} {len(report.moved)} entries ({events} events) back to the click stream"
        + (f", kept {len(report.skipped)} malformed" if report.skipped else "")
    )
