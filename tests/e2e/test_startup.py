"""Start-up against unreachable backends: alive, not ready, one log line each, then ready by itself.

Real processes against real servers that are started late: a private PostgreSQL, a private
Redis and the ClickHouse HTTP shim, each on a port nothing listens on when linkhop starts.
"""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chshim.launcher import running_shim
from tests.conftest import unavailable
from tests.e2e.backends import PrivatePostgres, PrivateRedis, eventually, log_text, readyz
from tests.e2e.server import LINKHOP, Server, free_port

pytestmark = pytest.mark.slow
SCOPES = "links:read,links:write"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
CH_PASSWORD = "clickh0use-pw"
FAST_RETRY = {"LINKHOP_BACKEND_RETRY_MAX_SECONDS": "1", "LINKHOP_DEFAULT_DOMAIN": "sho.rt"}


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.init()  # initdb now, start later: the port stays closed until the test starts it
    yield pg
    pg.cleanup()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    yield server
    server.cleanup()


def _launch(server: Server, log: Path) -> Path:
    server.start_detached(log)
    return log


def _stop_all(servers: list[Server]) -> None:
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.kill()


def _failing_checks(server: Server) -> set[str]:
    body = readyz(server).json()
    return {name for name, result in body["checks"].items() if result != "ok"}


def test_split_processes_wait_for_every_backend_then_serve(
    tmp_path: Path, postgres: PrivatePostgres, redis: PrivateRedis
) -> None:
    ch_port = free_port()
    env = {
        **FAST_RETRY,
        "LINKHOP_DATABASE_URL": postgres.url,
        "LINKHOP_REDIS_URL": redis.url,
        "LINKHOP_CLICKHOUSE_URL": f"http://default:{CH_PASSWORD}@127.0.0.1:{ch_port}/",
        "LINKHOP_INGEST_INTERVAL_SECONDS": "0.2",
    }
    data = tmp_path / "data"
    api = Server(data_dir=data, command="api", extra_env=env)
    redirect = Server(data_dir=data, command="redirect", extra_env=env)
    worker_port = free_port()
    worker = Server(
        data_dir=data,
        command="worker",
        port=worker_port,
        extra_env={**env, "LINKHOP_WORKER_PORT": str(worker_port)},
    )
    servers = [api, redirect, worker]
    logs = {
        s.command: _launch(s, tmp_path / f"{s.command}.log") for s in servers
    }  # nothing they need is up yet
    try:
        expected = {
            "api": {"database", "clickhouse", "redis"},
            "redirect": {"database", "redis"},
            "worker": {"database", "clickhouse", "redis"},
        }
        for server in servers:
            assert eventually(lambda s=server: readyz(s).status_code == 503, timeout=60), (
                f"{server.command} never answered /readyz: {log_text(logs[server.command])}"
            )
            body = readyz(server).json()
            assert body["status"] == "fail"
            assert _failing_checks(server) == expected[server.command], body
            assert "not ready" in body["checks"]["database"]
            assert httpx.get(f"{server.base}/healthz").status_code == 200
        for server in servers:
            text = log_text(logs[server.command])
            for backend in expected[server.command]:
                lines = [
                    line
                    for line in text.splitlines()
                    if '"backend_unavailable"' in line and f'"backend": "{backend}"' in line
                ]
                assert len(lines) == 1, (server.command, backend, text)
                assert "***" in lines[0]
            for secret in (postgres.password, redis.password, CH_PASSWORD):
                assert secret not in text
            assert server.process is not None and server.process.poll() is None

        postgres.start()
        redis.start()
        with running_shim(tmp_path / "clickhouse", port=ch_port):
            for server in servers:
                assert eventually(lambda s=server: readyz(s).status_code == 200, timeout=90), (
                    server.command,
                    readyz(server).text,
                )
                assert readyz(server).json() == {
                    "status": "ok",
                    "checks": dict.fromkeys(readyz(server).json()["checks"], "ok"),
                }
            auth = api.create_account(SCOPES)
            link = httpx.post(
                f"{api.base}/api/v1/links",
                headers=auth,
                json={"url": "https://example.com/late", "key": "late"},
            )
            assert link.status_code == 201, link.text
            for _ in range(3):
                answer = httpx.get(
                    f"{redirect.base}/late", headers={"host": "sho.rt", "user-agent": CHROME}
                )
                assert answer.status_code == 302
                assert answer.headers["location"] == "https://example.com/late"

            def clicks() -> int:
                got = httpx.get(f"{api.base}/api/v1/links/{link.json()['id']}", headers=auth)
                return int(got.json()["clicks"])

            assert eventually(lambda: clicks() == 3, timeout=60), clicks()
            for server in servers:
                assert server.stop() == 0
        for server in servers:
            text = log_text(logs[server.command])
            assert "Traceback" not in text, text
            assert '"backend_ready"' in text
    finally:
        _stop_all(servers)


def test_serve_migrates_once_postgres_comes_up(tmp_path: Path, postgres: PrivatePostgres) -> None:
    serve = Server(
        data_dir=tmp_path / "data",
        extra_env={**FAST_RETRY, "LINKHOP_DATABASE_URL": postgres.url},
    )
    log = _launch(serve, tmp_path / "serve.log")
    try:
        assert eventually(lambda: readyz(serve).status_code == 503, timeout=60), log_text(log)
        # chDB (local) opens within seconds; the database stays unreachable.
        assert eventually(lambda: _failing_checks(serve) == {"database"}, timeout=60)
        assert eventually(lambda: '"backend_unavailable"' in log_text(log), timeout=10)
        postgres.start()
        assert eventually(lambda: readyz(serve).status_code == 200, timeout=60), readyz(serve).text
        auth = serve.create_account(SCOPES)
        created = httpx.post(
            f"{serve.base}/api/v1/links",
            headers=auth,
            json={"url": "https://example.com/pg", "key": "pg"},
        )
        assert created.status_code == 201, created.text
        answer = httpx.get(f"{serve.base}/pg", headers={"host": "sho.rt"})
        assert answer.status_code == 302
        assert serve.stop() == 0
        text = log_text(log)
        assert '"database_migrated"' in text
        assert "Traceback" not in text
        assert postgres.password not in text
    finally:
        _stop_all([serve])


@pytest.mark.parametrize("command", ["serve", "redirect", "api", "worker"])
@pytest.mark.parametrize(
    ("variable", "value", "secret"),
    [
        (
            "LINKHOP_DATABASE_URL",
            "postgresql+asyncpg://linkhop:hunter2pw@db:notaport/x",
            "hunter2pw",
        ),
        ("LINKHOP_REDIS_URL", "http://:hunter2pw@cache:6379/0", "hunter2pw"),
    ],
    ids=["database-port", "redis-scheme"],
)
def test_hopeless_configuration_stops_with_one_line(
    tmp_path: Path, command: str, variable: str, value: str, secret: str
) -> None:
    env = Server(data_dir=tmp_path / "data").env | {variable: value, "LINKHOP_WORKER_PORT": "0"}
    done = subprocess.run(
        [*LINKHOP, command], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert len(output.splitlines()) == 1, output
    assert '"configuration_error"' in output and variable in output
    assert "Traceback" not in output
    assert secret not in output


@pytest.mark.parametrize("command", ["redirect", "worker"])
def test_a_process_still_waiting_for_its_database_stops_cleanly(
    tmp_path: Path, command: str
) -> None:
    closed = free_port()  # nothing listens there
    url = f"postgresql+asyncpg://linkhop:hunter2pw@127.0.0.1:{closed}/linkhop"
    port = free_port()
    server = Server(
        data_dir=tmp_path / "data",
        command=command,
        port=port,
        extra_env={**FAST_RETRY, "LINKHOP_DATABASE_URL": url, "LINKHOP_WORKER_PORT": str(port)},
    )
    log = _launch(server, tmp_path / f"{command}.log")
    try:
        assert eventually(lambda: readyz(server).status_code == 503, timeout=60), log_text(log)
        assert "database" in _failing_checks(server)
        assert server.stop() == 0
        text = log_text(log)
        assert '"backend_unavailable"' in text
        assert "Traceback" not in text and "hunter2pw" not in text
    finally:
        _stop_all([server])
    # The admin commands say the same in one line.
    done = subprocess.run(
        [*LINKHOP, "links", "list"],
        env=server.env | {"LINKHOP_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "the database cannot be reached" in done.stderr
    assert "Traceback" not in done.stderr and "hunter2pw" not in done.stderr


def test_the_redirect_runs_on_granian_and_stops_gracefully(tmp_path: Path) -> None:
    if importlib.util.find_spec("granian") is None:
        unavailable("granian is not installed (pip install -e '.[bench]')")
    server = Server(
        data_dir=tmp_path / "data",
        command="redirect",
        extra_env={"LINKHOP_REDIRECT_SERVER": "granian", "LINKHOP_DEFAULT_DOMAIN": "sho.rt"},
    )
    server.cli(
        "users",
        "create",
        "--email",
        "ada@example.com",
        "--password",
        "correct horse battery",
        "--org",
        "Acme",
    )
    server.cli("links", "create", "https://example.com/g", "--key", "g", "--org", "Acme")
    log = _launch(server, tmp_path / "redirect.log")
    try:
        assert eventually(lambda: readyz(server).status_code == 200, timeout=60), log_text(log)
        answer = httpx.get(f"{server.base}/g", headers={"host": "sho.rt", "user-agent": CHROME})
        assert answer.status_code == 302
        assert answer.headers["location"] == "https://example.com/g"
        assert httpx.get(f"{server.base}/nope", headers={"host": "sho.rt"}).status_code == 404
        assert server.stop() == 0
        text = log_text(log)
        assert '"server": "granian"' in text and '"redirect_stopped"' in text
        assert "Traceback" not in text
        # The click was sealed into the spool on the way out, as with uvicorn.
        assert list((tmp_path / "data" / "spool").glob("*.seg"))
    finally:
        _stop_all([server])
