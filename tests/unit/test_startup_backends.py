"""Start-up helpers: URL redaction, hopeless settings, retried backends and what /readyz says."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from linkhop.apps.bootstrap import (
    Backend,
    ConfigurationError,
    all_ready,
    check_urls,
    describe_error,
    redact_url,
)
from linkhop.apps.ops import NotReady, OpsApp
from linkhop.db.engine import is_unavailable
from linkhop.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+asyncpg://app:s3cret@db:5432/linkhop",
            "postgresql+asyncpg://app:***@db:5432/linkhop",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        (
            "https://default:s3cret@ch:8443/?password=s3cret&x=1",
            "https://default:***@ch:8443/?password=***&x=1",
        ),
        ("chdb:///var/lib/linkhop/clickhouse", "chdb:///var/lib/linkhop/clickhouse"),
        ("sqlite+aiosqlite:////data/linkhop.db", "sqlite+aiosqlite:////data/linkhop.db"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
    ],
)
def test_urls_are_shown_without_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_error_texts_lose_the_password_whatever_the_driver_printed() -> None:
    url = "redis://:s3cret@cache:6379/0"
    cause = OSError("auth s3cret refused")
    try:
        raise RuntimeError("cannot connect") from cause
    except RuntimeError as exc:
        text = describe_error(exc, url)
    assert "s3cret" not in text
    assert text == "RuntimeError: cannot connect (OSError: auth *** refused)"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"database_url": "not a url"}, "LINKHOP_DATABASE_URL"),
        ({"database_url": "postgresql+asyncpg://u@h:port/x"}, "LINKHOP_DATABASE_URL"),
        ({"database_url": "postgresql+nosuchdriver://u@h/x"}, "LINKHOP_DATABASE_URL"),
        ({"redis_url": "http://cache:6379"}, "LINKHOP_REDIS_URL"),
        ({"redis_url": "redis://cache:port/0"}, "LINKHOP_REDIS_URL"),
        ({"clickhouse_url": "chdb://relative/path"}, "LINKHOP_CLICKHOUSE_URL"),
        ({"clickhouse_url": "tcp://ch:9000"}, "LINKHOP_CLICKHOUSE_URL"),
    ],
)
def test_hopeless_urls_are_refused_before_anything_connects(
    tmp_path: Path, env: dict[str, Any], named: str
) -> None:
    settings = Settings(data_dir=tmp_path, **env)
    with pytest.raises(ConfigurationError, match=named):
        check_urls(settings)


def test_unreachable_means_connection_errors_not_bugs() -> None:
    from sqlalchemy import exc as sa_exc

    assert is_unavailable(ConnectionRefusedError(111, "refused"))
    assert is_unavailable(sa_exc.OperationalError("SELECT 1", {}, OSError("gone")))
    assert is_unavailable(sa_exc.TimeoutError("pool"))
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, ValueError("dup")))
    assert not is_unavailable(KeyError("bug"))


async def _readyz(app: OpsApp) -> tuple[int, dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "http", "path": "/readyz", "method": "GET"}, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


async def test_a_backend_is_retried_until_it_answers_and_readyz_follows() -> None:
    calls = 0
    up = False

    async def connect() -> str:
        nonlocal calls
        calls += 1
        if not up:
            raise ConnectionRefusedError(111, "Connection refused")
        return "handle"

    async def probe() -> None:
        if not up:
            raise OSError("down again")

    backend: Backend[str] = Backend(
        "database", "postgresql+asyncpg://u:pw@db/x", connect=connect, probe=probe, critical=False
    )
    app = OpsApp({"database": backend.check}, optional={"database"})
    stop = asyncio.Event()
    task = asyncio.create_task(backend.reach(stop=stop, max_delay=0.02, first_delay=0.01))
    await asyncio.sleep(0.1)
    status, body = await _readyz(app)
    # Never reached: unready even though the backend is optional afterwards.
    assert status == 503 and body["status"] == "fail"
    assert "not ready" in body["checks"]["database"] and "pw" not in body["checks"]["database"]
    assert calls >= 2
    up = True
    assert await asyncio.wait_for(task, 5) is True
    assert backend.value == "handle"
    assert await all_ready([backend], stop)
    assert await _readyz(app) == (200, {"status": "ok", "checks": {"database": "ok"}})
    up = False  # lost after start-up: an optional backend only degrades the process
    status, body = await _readyz(app)
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["database"] == "OSError: down again"


async def test_a_critical_backend_lost_after_start_up_makes_the_process_unready() -> None:
    async def fails() -> None:
        raise OSError("down")

    async def ok() -> None:
        return None

    app = OpsApp({"clickhouse": fails, "spool": ok})
    status, body = await _readyz(app)
    assert status == 503
    assert body == {"status": "fail", "checks": {"clickhouse": "OSError: down", "spool": "ok"}}


async def test_a_stop_ends_the_retries() -> None:
    async def never() -> None:
        raise NotReady("no")

    backend: Backend[None] = Backend("redis", "redis://cache", connect=never)
    stop = asyncio.Event()
    task = asyncio.create_task(backend.reach(stop=stop, max_delay=10))
    await asyncio.sleep(0.05)
    stop.set()
    assert await asyncio.wait_for(task, 5) is False
    assert not await all_ready([backend], stop)
