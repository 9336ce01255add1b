"""A real ``linkhop serve``: a client that hangs up mid-export frees the export and the store."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.server import Server

from linkhop.analytics.export_stream import MAX_CONCURRENT_EXPORTS

pytestmark = pytest.mark.slow
ROWS = 60_000  # ~25 MB of JSON lines: far more than the socket buffers hold
EMAIL = "hangup@example.com"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """A server whose store holds ROWS clicks of its one org, and that org's API key."""
    server = Server(data_dir=tmp_path / "data", extra_env={"LINKHOP_LOG_LEVEL": "warning"})
    server.data_dir.mkdir()
    server.cli("migrate")
    created = server.cli(
        "users", "create", "--email", EMAIL, "--password", "hangup-pw-123", "--org", "Hangup"
    )
    org_id = created.split("created org ")[1].split()[0]
    key = server.cli(
        "keys", "create", "--email", EMAIL, "--org", "Hangup", "--scopes", "analytics:read"
    ).splitlines()[-1]
    # Loaded by a child process before the server starts: one process per chDB store.
    module = "tests.integration.analytics.export_memory_check"
    subprocess.run(
        [sys.executable, "-m", module, "fill", str(server.data_dir), org_id, str(ROWS)],
        check=True,
        capture_output=True,
    )
    server.start(timeout=120)
    yield server, {"Authorization": f"Bearer {key}"}
    server.stop()


def _hang_up_after_one_chunk(base: str, auth: dict[str, str]) -> None:
    with httpx.stream(
        "GET", f"{base}/api/v1/analytics/export", params={"format": "jsonl"}, headers=auth
    ) as response:
        assert response.status_code == 200
        assert next(response.iter_raw(65536))
    # Leaving the block closes the connection with most of the body unread.


def test_hung_up_exports_release_their_slots(server: tuple[Server, dict[str, str]]) -> None:
    srv, auth = server
    for _ in range(MAX_CONCURRENT_EXPORTS + 2):  # leaked slots would end in a 429
        _hang_up_after_one_chunk(srv.base, auth)
        # The server notices the hang-up when its next write fails; give it a moment.
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(f"{srv.base}/api/v1/analytics", headers=auth, timeout=60)
            assert r.status_code == 200, r.text
            assert r.json()["clicks"] == ROWS  # the shared store still answers
            probe = httpx.get(
                f"{srv.base}/api/v1/analytics/export",
                params={"format": "csv", "country": "US", "utm_campaign": "spring-0"},
                headers=auth,
                timeout=60,
            )
            if probe.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert probe.status_code == 200, probe.text
        assert probe.content.count(b"\n") > 1
