"""PostgreSQL stops under a running deployment, then comes back (issue 3, fault test 7).

A private PostgreSQL (``pg_ctl stop -m immediate``: no clean shutdown), a private Redis, and
``linkhop api`` + ``linkhop redirect`` processes that are never restarted:

- while PostgreSQL is down, links in the Redis cache keep redirecting; keys in no cache get a
  503 page at once (not a 500, not a hang: the client's timeout would fail the test); the API
  answers 503 problem+json; ``/readyz`` names the database (the API is unready, the redirect
  replica is degraded but keeps serving);
- once PostgreSQL is back, everything works again by itself.

The measured times are printed (run with ``-s`` to see them); they are not asserted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.backends import PrivatePostgres, PrivateRedis, eventually, log_text, readyz
from tests.e2e.server import Server

pytestmark = pytest.mark.slow
SCOPES = "links:read,links:write"
HOST = {"host": "sho.rt"}
# A hang fails the test through this client timeout; the time itself is only reported.
CLIENT_TIMEOUT = 15.0


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.cleanup()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.cleanup()


def _get(server: Server, key: str) -> httpx.Response:
    return httpx.get(f"{server.base}/{key}", headers=HOST, timeout=CLIENT_TIMEOUT)


def test_postgres_outage_keeps_cached_links_and_recovers_by_itself(
    tmp_path: Path, postgres: PrivatePostgres, redis: PrivateRedis
) -> None:
    data = tmp_path / "data"
    env = {
        "LINKHOP_DATABASE_URL": postgres.url,
        "LINKHOP_REDIS_URL": redis.url,
        "LINKHOP_DEFAULT_DOMAIN": "sho.rt",
        "LINKHOP_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        # The in-process cache forgets quickly, so "cached" below means "in Redis".
        "LINKHOP_CACHE_TTL_SECONDS": "0.5",
        "LINKHOP_NEGATIVE_CACHE_TTL_SECONDS": "0.5",
    }
    api = Server(
        data_dir=data,
        command="api",
        extra_env={**env, "LINKHOP_CLICKHOUSE_URL": f"chdb://{tmp_path / 'api-ch'}"},
    )
    redirect = Server(data_dir=data, command="redirect", extra_env=env)
    servers = [api, redirect]
    try:
        api.start()
        redirect.start()
        auth = api.create_account(SCOPES)
        keys = [f"k{i}" for i in range(8)]
        for key in keys:
            created = httpx.post(
                f"{api.base}/api/v1/links",
                headers=auth,
                json={"url": f"https://example.com/{key}", "key": key},
            )
            assert created.status_code == 201, created.text
        warm, cold = keys[:4], keys[4:]
        for key in warm:
            assert _get(redirect, key).status_code == 302

        postgres.stop("immediate")
        time.sleep(1.0)  # past the in-process TTL: only Redis still knows the warm keys

        for key in warm:
            answer = _get(redirect, key)
            assert answer.status_code == 302, answer.text
            assert answer.headers["location"] == f"https://example.com/{key}"
        timings = []
        for key in cold:
            started = time.perf_counter()
            answer = _get(redirect, key)
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("text/html")
            assert "unavailable" in answer.text.lower()
            assert answer.headers["retry-after"]
        head = httpx.head(f"{redirect.base}/{cold[0]}", headers=HOST, timeout=CLIENT_TIMEOUT)
        assert head.status_code == 503
        hits = []
        with httpx.Client(base_url=redirect.base, headers=HOST, timeout=CLIENT_TIMEOUT) as client:
            for _ in range(20):  # one kept-alive connection: the server's time, not the client's
                started = time.perf_counter()
                assert client.get(f"/{cold[0]}").status_code == 503
                timings.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert client.get(f"/{warm[0]}").status_code == 302
                hits.append(time.perf_counter() - started)
        print(
            f"\nPostgreSQL down: 503 in {statistics.median(timings) * 1000:.1f} ms median "
            f"(max {max(timings) * 1000:.1f} ms, {len(timings)} requests); a cached link's 302 "
            f"in {statistics.median(hits) * 1000:.1f} ms median"
        )

        redirect_ready = readyz(redirect)
        assert redirect_ready.status_code == 200, redirect_ready.text
        assert redirect_ready.json()["status"] == "degraded"
        assert redirect_ready.json()["checks"]["database"] != "ok"
        api_ready = readyz(api)
        assert api_ready.status_code == 503, api_ready.text
        assert api_ready.json()["checks"]["database"] != "ok"

        write = httpx.post(
            f"{api.base}/api/v1/links",
            headers=auth,
            json={"url": "https://example.com/during", "key": "during"},
            timeout=CLIENT_TIMEOUT,
        )
        assert write.status_code == 503, write.text
        assert write.headers["content-type"] == "application/problem+json"
        assert write.json()["code"] == "database_unavailable"

        restarted = time.perf_counter()
        postgres.start()
        back = time.perf_counter()
        assert eventually(lambda: _get(redirect, cold[0]).status_code == 302, timeout=60)
        recovered = time.perf_counter()
        print(
            f"PostgreSQL start took {back - restarted:.2f} s; the first uncached redirect "
            f"worked {recovered - back:.2f} s after it accepted connections"
        )
        for key in keys:
            assert _get(redirect, key).status_code == 302
        after = httpx.post(
            f"{api.base}/api/v1/links",
            headers=auth,
            json={"url": "https://example.com/after", "key": "after"},
        )
        assert after.status_code == 201, after.text
        assert eventually(lambda: _get(redirect, "after").status_code == 302, timeout=10)
        for server in servers:
            assert eventually(lambda s=server: readyz(s).json()["status"] == "ok", timeout=30)
        for server in servers:
            assert server.stop() == 0
        for server in servers:
            text = log_text(data.parent / f"{server.command}-{server.port}.log")
            assert "Traceback" not in text, text
            assert postgres.password not in text
    finally:
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.kill()
