"""Analytics admin commands behind ``linkhop analytics …``: backfill and cluster DDL."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import orjson

from linkhop.apps.analytics_store import AnalyticsStore, open_analytics
from linkhop.apps.bootstrap import build_runtime, prepare_database
from linkhop.apps.worker import SqlCounterSink
from linkhop.clickhouse.cluster import ClusterOptions, cluster_script, cluster_statements
from linkhop.clickhouse.retention import retention_policy
from linkhop.errors import NotFound
from linkhop.ingest.backfill import (
    BackfillOptions,
    BackfillReport,
    LineError,
    Record,
    SqlLinkDirectory,
    backfill,
    read_csv,
    read_jsonl,
)
from linkhop.ingest.geo import GeoReader
from linkhop.orgs import service as orgs_service
from linkhop.runtime import Runtime
from linkhop.settings import Settings

ErrorPrinter = Callable[[LineError], None]


class _Rejects:
    """Writes rejected lines in the input's format, so they can be fixed and imported alone."""

    def __init__(self, stream: TextIO, fmt: str) -> None:
        self._stream = stream
        self._fmt = fmt
        self._csv = csv.writer(stream) if fmt == "csv" else None
        self._header: list[str] | None = None

    def write(self, record: Record | None) -> None:
        if record is None:  # a line that could not even be parsed: only the report names it
            return
        if self._csv is None:
            self._stream.write(orjson.dumps(record.fields).decode() + "\n")
            return
        if self._header is None:
            self._header = list(record.fields)
            self._csv.writerow(self._header)
        self._csv.writerow([record.fields.get(name, "") for name in self._header])


async def resolve_org(runtime: Runtime, org: str) -> str:
    """The id of the org named ``org`` (or with that id)."""
    async with runtime.sessionmaker() as session:
        found = await orgs_service.get_org_by_name(session, name=org)
        if found is None:
            found = await orgs_service.org_by_id(session, org_id=org)
    if found is None:
        raise NotFound(f"no organisation named '{org}'")
    return found.id


async def import_file(
    runtime: Runtime,
    store: AnalyticsStore,
    *,
    path: str,
    options: BackfillOptions,
    rejects: Path | None = None,
    on_error: ErrorPrinter | None = None,
) -> BackfillReport:
    """Import one file (``-`` = standard input) into ``store`` (see ``ingest.backfill``)."""
    settings = runtime.settings
    with ExitStack() as stack:
        # Blocking, buffered local reads: a CLI command is the only task on its event loop.
        stream: TextIO = (
            sys.stdin
            if path == "-"
            else stack.enter_context(open(path, encoding="utf-8-sig", newline=""))  # noqa: ASYNC230 — see above
        )
        items: Iterator[Record | LineError] = (
            read_csv(stream) if options.fmt == "csv" else read_jsonl(stream)
        )
        writer = None
        if rejects is not None:
            writer = _Rejects(stack.enter_context(rejects.open("w", newline="")), options.fmt)
        geo = GeoReader(settings.geoip_db) if settings.geoip_db else None
        if geo is not None:
            stack.callback(geo.close)

        def hook(error: LineError, record: Record | None) -> None:
            if writer is not None:
                writer.write(record)
            if on_error is not None:
                on_error(error)

        return await backfill(
            items,
            options=options,
            store=store.ch,
            database=store.database,
            links=SqlLinkDirectory(runtime.sessionmaker),
            counters=SqlCounterSink(runtime),
            geo=geo,
            store_ip=settings.store_ip,
            on_error=hook,
        )


async def run_backfill(
    settings: Settings,
    *,
    path: str,
    options: BackfillOptions,
    org: str | None,
    rejects: Path | None,
    on_error: ErrorPrinter | None,
) -> BackfillReport:
    """``linkhop analytics backfill``: open both stores, resolve ``--org``, import the file."""
    runtime = build_runtime(settings)
    try:
        await prepare_database(runtime, apply_migrations=settings.auto_migrate)
        org_id = await resolve_org(runtime, org) if org is not None else None
        store = await open_analytics(settings)
        try:
            return await import_file(
                runtime,
                store,
                path=path,
                options=BackfillOptions(
                    fmt=options.fmt,
                    org_id=org_id,
                    chunk_size=options.chunk_size,
                    stop_on_error=options.stop_on_error,
                    source=options.source,
                ),
                rejects=rejects,
                on_error=on_error,
            )
        finally:
            store.close()
    finally:
        await runtime.engine.dispose()


def cluster_ddl(
    settings: Settings,
    *,
    cluster: str,
    from_version: int,
    down: bool,
    sharding_key: str | None,
    with_retention: bool,
) -> str:
    """``linkhop analytics cluster-ddl``: the cluster schema as a SQL script (no connection)."""
    options = ClusterOptions(cluster=cluster, database=settings.clickhouse_database)
    if sharding_key is not None:
        options = ClusterOptions(cluster, settings.clickhouse_database, sharding_key)
    statements = cluster_statements(
        options,
        from_version=from_version,
        down=down,
        retention=retention_policy(settings) if with_retention and not down else None,
    )
    return cluster_script(statements)
