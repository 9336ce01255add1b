"""Prometheus metrics, defined once. Label sets are small and fixed (route templates, not paths)."""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric


class BufferedCounter:
    """A Prometheus counter child counted as a plain int on a hot path.

    ``value += 1`` costs tens of nanoseconds; ``Counter.inc`` costs a lock and a few checks
    (≈ 1 µs, several per redirect). What was counted reaches the real child whenever the registry
    is collected (``/metrics``, ``get_sample_value``), so scrapes see exact values. Only one
    thread may add to ``value`` (the event loop); collection may run in any thread.
    """

    __slots__ = ("_flushed", "_target", "value")

    def __init__(self, target: Any) -> None:
        self._target = target
        self._flushed = 0
        self.value = 0
        _BUFFERED.append(self)

    def flush(self) -> None:
        """Add what was counted since the last flush to the Prometheus child."""
        value = self.value
        if value != self._flushed:
            self._target.inc(value - self._flushed)
            self._flushed = value


class BufferedHistogram:
    """A Prometheus histogram child observed into plain ints on a hot path (see above)."""

    __slots__ = ("_bounds", "_flushed", "_flushed_sum", "_target", "counts", "total")

    def __init__(self, target: Any) -> None:
        # prometheus_client has no bulk observe: flush adds to the child's bucket and sum
        # values, which it exposes only as private attributes. A unit test compares this with
        # plain observe() calls, so a client upgrade that changes them fails loudly.
        buckets, bounds = target._buckets, target._upper_bounds
        if len(buckets) != len(bounds):
            raise TypeError("unexpected prometheus_client Histogram internals")
        self._target = target
        self._bounds = tuple(bounds)
        self.counts = [0] * len(bounds)
        self._flushed = [0] * len(bounds)
        self.total = 0.0
        self._flushed_sum = 0.0
        _BUFFERED.append(self)

    def observe(self, amount: float) -> None:
        """Count ``amount`` in the first bucket whose upper bound is ≥ it (Prometheus ``le``)."""
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.total += amount

    def flush(self) -> None:
        """Add what was observed since the last flush to the Prometheus child."""
        target = self._target
        for i, count in enumerate(self.counts):
            if count != self._flushed[i]:
                target._buckets[i].inc(count - self._flushed[i])
                self._flushed[i] = count
        total = self.total
        if total != self._flushed_sum:
            target._sum.inc(total - self._flushed_sum)
            self._flushed_sum = total


_BUFFERED: list[BufferedCounter | BufferedHistogram] = []


class _FlushBuffered:
    """Registered before every linkhop metric, so each collection first flushes the buffers."""

    def describe(self) -> Iterable[Metric]:
        return ()

    def __init__(self) -> None:
        self._lock = threading.Lock()  # two concurrent scrapes must not add the same delta twice

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            for buffered in list(_BUFFERED):
                buffered.flush()
        return ()


REGISTRY.register(_FlushBuffered())

HTTP_REQUESTS = Counter(
    "linkhop_http_requests_total",
    "HTTP requests by app, route template, method and status.",
    ["app", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "linkhop_http_request_duration_seconds",
    "HTTP request latency by app and route template.",
    ["app", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CLICKS_PUBLISHED = Counter(
    "linkhop_clicks_published_total", "Click events handed to the queue by the redirect service."
)
CLICKS_SPOOLED = Counter(
    "linkhop_clicks_spooled_total", "Click events written to the local disk spool."
)
CLICKS_PUBLISH_ERRORS = Counter(
    "linkhop_clicks_publish_errors_total", "Click events that could not be queued at all."
)
CLICKS_PROCESSED = Counter(
    "linkhop_ingest_clicks",
    "Click events taken off the queue by the worker, by outcome (human, bot, malformed). "
    "A batch replayed after a crash is counted again here; the stores deduplicate it.",
    ["outcome"],
)
INGEST_BATCHES = Counter(
    "linkhop_ingest_batches_total", "Click batches the worker inserted and acknowledged."
)
QUEUE_LAG = Gauge("linkhop_queue_lag", "Click events queued but not yet ingested.")
CACHE_EVENTS = Counter(
    "linkhop_cache_events_total", "Short-key cache lookups by result.", ["result"]
)
