"""In-test implementations of the interfaces the ingestion worker consumes (the click queue
consumer and the per-link counter sink), and a raw click factory."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from linkhop.ids import uuid7
from linkhop.ingest.schemas import encode_click
from linkhop.ingest.service import LinkCount
from linkhop.queue.base import Batch


class SimulatedCrashError(RuntimeError):
    """Stands in for the worker process dying at a chosen point."""


class MemoryQueue:
    """A ClickConsumer over a list: replays the un-acked batch with the same token, like the
    real queues do after a crash."""

    def __init__(self) -> None:
        self.entries: list[bytes] = []
        self.offset = 0
        self.pending: Batch | None = None
        self.crash_on_next_ack = False
        self.reads = 0

    def publish(self, payload: bytes) -> None:
        self.entries.append(payload)

    async def read_batch(self, max_items: int) -> Batch | None:
        self.reads += 1
        if self.pending is not None:
            return self.pending
        items = self.entries[self.offset : self.offset + max_items]
        if not items:
            return None
        token = hashlib.sha256(f"{self.offset}:{self.offset + len(items)}".encode()).hexdigest()
        self.pending = Batch(token=token, items=items)
        return self.pending

    async def ack(self, batch: Batch) -> None:
        if self.crash_on_next_ack:
            self.crash_on_next_ack = False
            raise SimulatedCrashError("worker died before ack")
        assert self.pending is not None
        assert batch.token == self.pending.token
        self.offset += len(batch.items)
        self.pending = None

    async def lag(self) -> int:
        return len(self.entries) - self.offset

    async def close(self) -> None:
        return None


class MemoryCounters:
    """A CounterSink that, like the SQL one, applies each token at most once."""

    def __init__(self) -> None:
        self.clicks: dict[str, int] = {}
        self.last_ts: dict[str, datetime] = {}
        self.tokens: set[str] = set()
        self.crash_on_next_apply = False

    async def apply(self, *, token: str, counts: Mapping[str, LinkCount]) -> None:
        if self.crash_on_next_apply:
            self.crash_on_next_apply = False
            raise SimulatedCrashError("worker died before the counters were committed")
        if token in self.tokens:
            return
        self.tokens.add(token)
        for link_id, count in counts.items():
            self.clicks[link_id] = self.clicks.get(link_id, 0) + count.clicks
            previous = self.last_ts.get(link_id)
            self.last_ts[link_id] = (
                count.last_ts if previous is None else max(previous, count.last_ts)
            )


IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def click_payload(**overrides: object) -> bytes:
    """One queue item: an encoded raw click with a fresh UUIDv7, overridable field by field."""
    click: dict[str, object] = {
        "click_id": str(uuid7()),
        "ts": 1_764_072_000.250,
        "org_id": "org_1",
        "link_id": "link_a",
        "domain": "go.example.com",
        "key": "spring",
        "url": "https://shop.example.com/?utm_source=news&utm_medium=email",
        "trigger": "link",
        "ip": "81.2.69.160",
        "ua": IPHONE_UA,
        "referrer": "https://www.google.com/",
        "country": "GB",
        "method": "GET",
    }
    click.update(overrides)
    return encode_click(click)  # type: ignore[arg-type]  # overrides are the test's input
