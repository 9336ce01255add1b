"""Prometheus metrics, defined once. Label sets are small and fixed (route templates, not paths)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
