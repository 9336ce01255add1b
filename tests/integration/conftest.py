"""The in-process harness fixture (API + redirect + worker on real SQLite/PostgreSQL + chDB)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from linkhop.apps.analytics_store import AnalyticsStore
from linkhop.apps.api import create_api_app
from linkhop.apps.bootstrap import build_runtime
from linkhop.apps.ops import OpsApp
from linkhop.apps.redirect import RedirectApp
from linkhop.apps.servers import Dispatcher
from linkhop.clickhouse.client import ClickHouse
from linkhop.db.engine import make_sessionmaker, read_only
from linkhop.queue.local import SpoolConsumer, SpoolPublisher
from linkhop.settings import Settings
from tests.integration.harness import Harness

SHORT_DOMAIN = "lh.test"


@pytest.fixture
async def harness(
    db_url: str, chdb_store: ClickHouse, ch_database: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """A complete linkhop in this process; the client talks to it over ASGI."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        clickhouse_database=ch_database,
        default_domain=SHORT_DOMAIN,
        secret_key="x" * 40,
        log_format="console",
    )
    runtime = build_runtime(settings)
    runtime.clickhouse = chdb_store
    store = AnalyticsStore(chdb_store, ch_database, 0)
    publisher = SpoolPublisher(settings.resolved_spool_dir)
    consumer = SpoolConsumer(settings.resolved_spool_dir)
    redirect_app = RedirectApp(
        settings=settings,
        sessionmaker=make_sessionmaker(read_only(runtime.engine)),
        publisher=publisher,
        secret_key=runtime.secret_key,
    )
    runtime.invalidation_hooks.append(redirect_app.invalidate)

    async def ready() -> None:
        return None

    app = Dispatcher(
        ops=OpsApp({"database": ready}), api=create_api_app(runtime), redirect=redirect_app
    )
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{SHORT_DOMAIN}") as client:
        yield Harness(
            runtime=runtime,
            store=store,
            publisher=publisher,
            consumer=consumer,
            client=client,
            redirect_app=redirect_app,
        )
    await publisher.close()
    await consumer.close()
    await runtime.engine.dispose()
