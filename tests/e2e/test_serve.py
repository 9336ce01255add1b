"""The product as a newcomer meets it: a real ``linkhop serve`` process, the CLI and HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server

pytestmark = pytest.mark.slow
CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(data_dir=tmp_path / "data")
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.kill()


def _wait_for_clicks(
    srv: Server, auth: dict[str, str], expected: int, timeout: float = 30.0
) -> int:
    deadline = time.monotonic() + timeout
    clicks = -1
    while time.monotonic() < deadline:
        r = httpx.get(
            f"{srv.base}/api/v1/analytics",
            params={"group_by": "count"},
            headers=auth,
        )
        clicks = r.json()["clicks"]
        if clicks >= expected:
            time.sleep(1.0)  # anything still arriving would be a duplicate: look again
            return int(httpx.get(f"{srv.base}/api/v1/analytics", headers=auth).json()["clicks"])
        time.sleep(0.2)
    return clicks


def test_newcomer_flow(server: Server) -> None:
    server.start()
    auth = server.create_account("links:read,links:write,analytics:read")
    docs = httpx.get(f"{server.base}/api/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert httpx.get(f"{server.base}/api/v1/openapi.json").json()["info"]["title"]
    created = httpx.post(
        f"{server.base}/api/v1/links", headers=auth, json={"url": "https://example.com/welcome"}
    )
    assert created.status_code == 201, created.text
    short_url = created.json()["short_url"]
    assert short_url.startswith(server.base)
    with httpx.Client(follow_redirects=False) as client:
        hop = client.get(short_url, headers={"user-agent": CHROME})
    assert hop.status_code == 302 and hop.headers["location"] == "https://example.com/welcome"
    assert _wait_for_clicks(server, auth, 1) == 1
    listed = server.cli("links", "list")
    assert "example.com/welcome" in listed
    cli_link = server.cli("links", "create", "https://example.com/cli", "--key", "from-cli")
    assert cli_link.strip() == f"{server.base}/from-cli"
    assert httpx.get(f"{server.base}/app/login").status_code == 200
    metrics = httpx.get(f"{server.base}/metrics").text
    assert "linkhop_clicks_published_total 1.0" in metrics
    assert 'linkhop_http_requests_total{app="api",method="POST",route="/api/v1/links"' in metrics
    # dashboard pages live in a mounted app: their label keeps the /app mount
    assert 'linkhop_http_requests_total{app="api",method="GET",route="/app/login"' in metrics
    assert server.stop() == 0  # graceful shutdown


def test_kill_9_loses_no_accepted_click_and_counts_none_twice(server: Server) -> None:
    """Crash right after redirects; after a restart every accepted click is counted once."""
    server.start()
    auth = server.create_account("links:read,links:write,analytics:read")
    link = httpx.post(
        f"{server.base}/api/v1/links",
        headers=auth,
        json={"url": "https://example.com/", "key": "crash"},
    ).json()
    accepted = 0
    with httpx.Client() as client:
        for _ in range(300):
            if (
                client.get(f"{server.base}/crash", headers={"user-agent": CHROME}).status_code
                == 302
            ):
                accepted += 1
    server.kill()  # no flush, no drain: the worker may be mid-batch
    server.start()
    assert accepted == 300
    assert _wait_for_clicks(server, auth, accepted) == accepted
    got = httpx.get(f"{server.base}/api/v1/links/{link['id']}", headers=auth).json()
    assert got["clicks"] == accepted
    server.stop()


def test_bad_configuration_is_one_readable_line(tmp_path: Path) -> None:
    srv = Server(data_dir=tmp_path / "data", extra_env={"LINKHOP_KEY_LENGTH": "2"})
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "linkhop.cli", "serve"],
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "LINKHOP_KEY_LENGTH" in done.stderr and "Traceback" not in done.stderr
