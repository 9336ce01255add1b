"""Structured logs (structlog): one JSON object per line, with the request id bound per request."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, level: str = "info", fmt: str = "json", cache: bool = True) -> None:
    """Route stdlib and structlog output through one JSON (or console) renderer on stderr.

    ``cache``: each module's logger is built once, on its first use (the servers' setting: no
    per-call configuration lookup). Short admin commands pass False, so a command run inside
    another program (tests, an embedding tool) leaves that program's logging configurable.
    """
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates ours (we log every request with its id and route).
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # clickhouse-connect's HTTP client warns (via urllib3) on every refused connection; linkhop
    # reports an unreachable ClickHouse itself, once per outage (backend_unavailable,
    # ingest_failed), so these per-attempt lines would only flood the log during an outage.
    for name in ("urllib3.connectionpool", "clickhouse_connect.driver"):
        logging.getLogger(name).setLevel(logging.ERROR)
