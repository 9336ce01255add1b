"""The README's scale-out walkthrough (deploy/local/scale-out.sh) works as written.

It brings up two redirect replicas, an api and a worker against PostgreSQL, Redis and a
ClickHouse HTTP endpoint, creates a link through the api, clicks it on each replica and reads
the clicks back from analytics — the whole path, with the script's own commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.e2e.server import free_port

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "local" / "scale-out.sh"


def test_scale_out_walkthrough(tmp_path: Path) -> None:
    if shutil.which("psql") is None:
        unavailable("psql is not installed")
    suffix = f"{os.getpid()}_{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKHOP_")}
    env.update(
        {
            "API_PORT": str(free_port()),
            "REDIRECT_PORTS": f"{free_port()} {free_port()}",
            "WORKER_PORT": str(free_port()),
            "CLICKHOUSE_PORT": str(free_port()),
            "PG_DB": f"linkhop_walkthrough_{suffix}",
            "WORK": str(tmp_path / "work"),
            "LINKHOP_CLICK_STREAM": f"linkhop:walkthrough:{suffix}",
            "LINKHOP_CLICKHOUSE_DATABASE": f"walkthrough_{suffix}",
            "SCALE_OUT_EXIT": "1",
        }
    )
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=270, check=False
    )
    logs = "".join(
        f"\n--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in sorted((tmp_path / "work").glob("*.log"))
    )
    assert done.returncode == 0, done.stdout + done.stderr + logs
    assert "clicks recorded: 2 (expected 2)" in done.stdout
    assert done.stdout.count("→ 302 https://example.com/scale-out") == 2
    subprocess.run(
        [
            "psql",
            "postgresql://postgres@127.0.0.1:5432/postgres",
            "-qc",
            f"DROP DATABASE IF EXISTS {env['PG_DB']}",
        ],
        capture_output=True,
        check=False,
    )
