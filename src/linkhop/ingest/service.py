"""One ingestion step: read a queue batch, enrich it, write it, count it, ack it.

Why this is effectively once (reliability.md §4.3-4.4):

* The queue delivers at least once. A batch that is not acked is handed out again with the SAME
  entries and the SAME deterministic ``token`` (``linkhop.queue.base``).
* The ``clicks`` insert carries ``insert_deduplication_token=<token>``; with
  ``non_replicated_deduplication_window`` set on the table, ClickHouse drops a replayed block
  instead of storing it twice. The table is also a ReplacingMergeTree keyed on ``click_id``, the
  second line of defence if a replay falls outside the dedup window.
* The per-link counters are applied through a ``CounterSink`` that records the token in the
  same transaction as the increments and ignores a token it has seen.
* ``ack`` comes last. A crash anywhere before it (mid-enrichment, after the insert, after the
  counters) replays the batch; every step above is then a no-op or a first application, so the
  result is as if the batch had been processed exactly once.

A malformed item never blocks the queue: it is logged, counted and skipped, and the batch keeps
its token because the token names the queue entries, not the rows derived from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

import structlog

from linkhop.ingest.enrich import (
    BOT_INDEX,
    LINK_INDEX,
    TS_INDEX,
    BatchEnricher,
    EnrichedClick,
    InsertRow,
    StoreIp,
    as_enriched,
)
from linkhop.ingest.geo import GeoReader
from linkhop.ingest.schemas import decode_click
from linkhop.metrics import CLICKS_PROCESSED, INGEST_BATCHES
from linkhop.queue.base import ClickConsumer

log = structlog.get_logger()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LinkCount(NamedTuple):
    """Per-link counter increment from one batch: human clicks and the latest click time."""

    clicks: int
    last_ts: datetime


class ClickSink(Protocol):
    """Writes enriched rows to the ``clicks`` table, deduplicating on ``token``."""

    async def insert_clicks(
        self, rows: Sequence[InsertRow] | Sequence[EnrichedClick], token: str
    ) -> None:
        """Insert ``rows`` (tuples in ``CLICK_COLUMNS`` order) as one idempotent block: insert
        rows from ``prepare_batch`` (click id text, epoch ms) or ``EnrichedClick`` rows."""
        ...


class CounterSink(Protocol):
    """Applies per-link click counters, at most once per ``token``."""

    async def apply(self, *, token: str, counts: Mapping[str, LinkCount]) -> None:
        """Add ``counts`` (link_id -> increment) unless ``token`` was applied before."""
        ...


@dataclass(slots=True)
class PreparedBatch:
    """A batch turned into rows, counter increments and the items that had to be skipped."""

    clicks: list[InsertRow] = field(default_factory=list)  # what the sink inserts
    counts: dict[str, LinkCount] = field(default_factory=dict)
    bots: int = 0
    malformed: list[tuple[int, str]] = field(default_factory=list)  # (item index, reason)

    @property
    def rows(self) -> list[EnrichedClick]:
        """The rows as ``enrich`` builds them (UUID and datetime values)."""
        return [as_enriched(row) for row in self.clicks]


def prepare_batch(
    items: Sequence[bytes], *, geo: GeoReader | None, store_ip: StoreIp
) -> PreparedBatch:
    """Decode and enrich every item; count human clicks per link. Never raises for bad input."""
    out = PreparedBatch()
    enricher = BatchEnricher(geo=geo, store_ip=store_ip)
    rows, malformed = out.clicks, out.malformed
    humans: dict[str, list[int]] = {}  # link id -> [clicks, latest ts in epoch ms]
    for index, item in enumerate(items):
        try:
            row = enricher.row(decode_click(item))
        # Any failure of one item (bad JSON, bad field, an enrichment edge case) must skip that
        # item, never stall the whole queue behind a poison message.
        except Exception as exc:
            malformed.append((index, f"{type(exc).__name__}: {exc}"[:300]))
            continue
        rows.append(row)
        if row[BOT_INDEX]:
            out.bots += 1
            continue
        seen = humans.get(row[LINK_INDEX])
        if seen is None:
            humans[row[LINK_INDEX]] = [1, row[TS_INDEX]]
        else:
            seen[0] += 1
            seen[1] = max(seen[1], row[TS_INDEX])
    out.counts = {
        link_id: LinkCount(n, _EPOCH + timedelta(milliseconds=ms))
        for link_id, (n, ms) in humans.items()
    }
    return out


async def ingest_once(
    *,
    consumer: ClickConsumer,
    sink: ClickSink,
    counters: CounterSink,
    geo: GeoReader | None,
    store_ip: StoreIp,
    max_items: int,
) -> int:
    """Move one batch from the queue into ClickHouse and the counters; return items taken."""
    batch = await consumer.read_batch(max_items)
    if batch is None:
        return 0
    # Enrichment is CPU work (~5-20 µs a click); a thread keeps the event loop, which may also
    # serve redirects in `linkhop serve`, responsive during a 5000-item batch.
    prepared = await asyncio.to_thread(prepare_batch, batch.items, geo=geo, store_ip=store_ip)
    for index, reason in prepared.malformed:
        log.warning("click_malformed", token=batch.token, index=index, reason=reason)
    if prepared.clicks:
        await sink.insert_clicks(prepared.clicks, batch.token)
    if prepared.counts:
        await counters.apply(token=batch.token, counts=prepared.counts)
    await consumer.ack(batch)
    stored = len(prepared.clicks)
    CLICKS_PROCESSED.labels("human").inc(stored - prepared.bots)
    CLICKS_PROCESSED.labels("bot").inc(prepared.bots)
    CLICKS_PROCESSED.labels("malformed").inc(len(prepared.malformed))
    INGEST_BATCHES.inc()
    log.debug(
        "clicks_ingested",
        token=batch.token,
        items=len(batch.items),
        stored=stored,
        bots=prepared.bots,
        malformed=len(prepared.malformed),
    )
    return len(batch.items)
