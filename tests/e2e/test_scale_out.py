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


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private Redis on a free port (no persistence needed for the cache)."""
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_edits_reach_every_replica_through_redis(tmp_path: Path, redis_url: str) -> None:
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
        api.cli(
            "users",
            "create",
            "--email",
            "ada@example.com",
            "--password",
            "correct horse battery",
            "--org",
            "Acme",
        )
        key = (
            api.cli(
                "keys",
                "create",
                "--email",
                "ada@example.com",
                "--org",
                "Acme",
                "--scopes",
                "links:read,links:write",
            )
            .strip()
            .splitlines()[-1]
        )
        auth = {"Authorization": f"Bearer {key}"}

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
        for server in servers:
            if server.process is not None and server.process.poll() is None:
                server.kill()
