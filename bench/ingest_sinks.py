"""Thin wrappers around the worker's real sinks that only observe: time spent and click lag."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from linkhop.ingest.enrich import TS_INDEX, EnrichedClick, InsertRow
from linkhop.ingest.service import ClickSink, CounterSink, LinkCount


class TimedSink:
    """A ``ClickSink`` that adds up the wall time of the inserts it forwards."""

    def __init__(self, inner: ClickSink) -> None:
        self.inner = inner
        self.seconds = 0.0

    async def insert_clicks(
        self, rows: Sequence[InsertRow] | Sequence[EnrichedClick], token: str
    ) -> None:
        """Forward and time."""
        started = time.perf_counter()
        await self.inner.insert_clicks(rows, token)
        self.seconds += time.perf_counter() - started


class TimedCounters:
    """A ``CounterSink`` that adds up the wall time of the counter updates it forwards."""

    def __init__(self, inner: CounterSink) -> None:
        self.inner = inner
        self.seconds = 0.0

    async def apply(self, *, token: str, counts: Mapping[str, LinkCount]) -> None:
        """Forward and time."""
        started = time.perf_counter()
        await self.inner.apply(token=token, counts=counts)
        self.seconds += time.perf_counter() - started


class LagSink:
    """A ``ClickSink`` that records, per stored click, seconds from the redirect to the insert."""

    def __init__(self, inner: ClickSink) -> None:
        self.inner = inner
        self.lags: list[float] = []

    async def insert_clicks(
        self, rows: Sequence[InsertRow] | Sequence[EnrichedClick], token: str
    ) -> None:
        """Forward, then note each row's age now that it is stored."""
        await self.inner.insert_clicks(rows, token)
        now = time.time()
        for row in rows:
            ts = row[TS_INDEX]  # epoch ms from prepare_batch, a datetime from enrich()
            self.lags.append(now - (ts / 1000 if isinstance(ts, int) else ts.timestamp()))
