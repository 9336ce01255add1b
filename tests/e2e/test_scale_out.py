"""Separate processes sharing Redis: an API edit reaches every redirect replica via pub/sub."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.e2e.server import Server, free_port

pytestmark = pytest.mark.slow
SCOPES = "links:read,links:write,analytics:read"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


class RedisServer:
    """A private redis-server on a free port, with AOF (as production must run it)."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.port = str(free_port())
        self.argv = [
            str(binary),
            "--port",
            self.port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            str(directory),
        ]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
        assert _eventually(self._pings)

    def _pings(self) -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", self.port, "ping"], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() == "PONG"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.kill()


def _click(redirect: Server, key: str, n: int) -> None:
    """``n`` human clicks on ``key``, each answered with a redirect."""
    for _ in range(n):
        r = httpx.get(f"{redirect.base}/{key}", headers={"host": "sho.rt", "user-agent": CHROME})
        assert r.status_code == 302


def _kill_running(servers: list[Server]) -> None:
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.kill()


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_edits_reach_every_replica_through_redis(tmp_path: Path, redis: RedisServer) -> None:
    redis_url = redis.url
    data = tmp_path / "data"
    # In-process caches that would hold stale answers for 5 minutes: only pub/sub can help.
    env = {
        "LINKHOP_REDIS_URL": redis_url,
        "LINKHOP_CACHE_TTL_SECONDS": "300",
        "LINKHOP_NEGATIVE_CACHE_TTL_SECONDS": "300",
        "LINKHOP_DEFAULT_DOMAIN": "sho.rt",
    }
    api = Server(data_dir=data, command="api", extra_env=env)
    replicas = [Server(data_dir=data, command="redirect", extra_env=env) for _ in range(2)]
    servers = [api, *replicas]
    try:
        api.start()
        for replica in replicas:
            replica.start()
        auth = api.create_account(SCOPES)

        def status(replica: Server, path: str) -> httpx.Response:
            return httpx.get(f"{replica.base}{path}", headers={"host": "sho.rt"})

        for replica in replicas:  # both replicas now remember "no such key" for 5 minutes
            assert status(replica, "/late").status_code == 404
        created = httpx.post(
            f"{api.base}/api/v1/links",
            headers=auth,
            json={"url": "https://example.com/one", "key": "late"},
        )
        assert created.status_code == 201, created.text
        for replica in replicas:
            assert _eventually(lambda r=replica: status(r, "/late").status_code == 302)
        link_id = created.json()["id"]
        httpx.patch(
            f"{api.base}/api/v1/links/{link_id}",
            headers=auth,
            json={"url": "https://example.com/two"},
        ).raise_for_status()
        for replica in replicas:
            assert _eventually(
                lambda r=replica: (
                    status(r, "/late").headers.get("location") == "https://example.com/two"
                )
            )
        httpx.delete(f"{api.base}/api/v1/links/{link_id}", headers=auth).raise_for_status()
        for replica in replicas:
            assert _eventually(lambda r=replica: status(r, "/late").status_code == 404)
        for server in servers:
            assert server.stop() == 0
    finally:
        _kill_running(servers)


def test_clicks_flow_through_the_stream_and_survive_a_redis_outage(
    tmp_path: Path, redis: RedisServer
) -> None:
    data = tmp_path / "data"
    env = {
        "LINKHOP_REDIS_URL": redis.url,
        "LINKHOP_DEFAULT_DOMAIN": "sho.rt",
        "LINKHOP_INGEST_INTERVAL_SECONDS": "0.2",
    }
    api = Server(data_dir=data, command="api", extra_env=env)
    redirect = Server(data_dir=data, command="redirect", extra_env=env)
    # chDB allows one process per folder: the worker writes its own analytics store; the
    # per-link counters it maintains live in the shared database and show in the API.
    worker_env = {
        **env,
        "LINKHOP_CLICKHOUSE_URL": f"chdb://{tmp_path / 'worker-ch'}",
        "LINKHOP_WORKER_PORT": str(free_port()),
    }
    worker = Server(data_dir=data, command="worker", extra_env=worker_env)
    servers = [api, redirect]
    try:
        api.start()
        redirect.start()
        worker.start_detached(tmp_path / "worker.log")
        servers.append(worker)
        auth = api.create_account(SCOPES)
        link = httpx.post(
            f"{api.base}/api/v1/links",
            headers=auth,
            json={"url": "https://example.com/", "key": "flow"},
        ).json()

        def counted() -> int:
            got = httpx.get(f"{api.base}/api/v1/links/{link['id']}", headers=auth)
            return int(got.json()["clicks"])

        _click(redirect, "flow", 20)
        assert _eventually(lambda: counted() == 20, timeout=60)
        redis.kill()  # the redirect keeps answering and spools the clicks
        _click(redirect, "flow", 15)
        redis.start()  # same AOF folder: the stream and the group come back
        assert _eventually(lambda: counted() == 35, timeout=60), counted()
        time.sleep(1.0)
        assert counted() == 35  # and nothing twice
        for server in servers:
            assert server.stop() == 0
    finally:
        _kill_running(servers)


def test_clickhouse_outage_delays_analytics_but_loses_nothing(
    tmp_path: Path, redis: RedisServer
) -> None:
    """api, redirect and worker share ClickHouse (the chDB-backed HTTP shim) and Redis."""
    from tests.chshim.launcher import running_shim

    store, port = tmp_path / "clickhouse", free_port()
    data = tmp_path / "data"
    env = {
        "LINKHOP_REDIS_URL": redis.url,
        "LINKHOP_DEFAULT_DOMAIN": "sho.rt",
        "LINKHOP_CLICKHOUSE_URL": f"http://127.0.0.1:{port}/",
        "LINKHOP_INGEST_INTERVAL_SECONDS": "0.2",
    }
    api = Server(data_dir=data, command="api", extra_env=env)
    redirect = Server(data_dir=data, command="redirect", extra_env=env)
    worker = Server(
        data_dir=data, command="worker", extra_env={**env, "LINKHOP_WORKER_PORT": str(free_port())}
    )
    servers: list[Server] = []
    try:
        with running_shim(store, port=port):
            for server in (api, redirect):
                server.start()
                servers.append(server)
            worker.start_detached(tmp_path / "worker.log")
            servers.append(worker)
            auth = api.create_account(SCOPES)
            httpx.post(
                f"{api.base}/api/v1/links",
                headers=auth,
                json={"url": "https://example.com/", "key": "ch"},
            ).raise_for_status()

            def analytics_clicks() -> int:
                r = httpx.get(f"{api.base}/api/v1/analytics", headers=auth)
                return int(r.json()["clicks"]) if r.status_code == 200 else -1

            _click(redirect, "ch", 10)
            assert _eventually(lambda: analytics_clicks() == 10, timeout=60)
        # ClickHouse is down: redirects are unaffected, clicks wait in the stream.
        _click(redirect, "ch", 25)
        assert httpx.get(f"{api.base}/api/v1/analytics", headers=auth).status_code == 503
        with running_shim(store, port=port):
            assert _eventually(lambda: analytics_clicks() == 35, timeout=90), analytics_clicks()
            time.sleep(1.0)
            assert analytics_clicks() == 35
            for server in servers:
                assert server.stop() == 0
    finally:
        _kill_running(servers)
