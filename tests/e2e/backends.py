"""Private backends for fault and start-up tests: PostgreSQL and Redis on free ports.

Each is a real server started from the Debian binaries into a temporary folder, so a test can
stop and start it (or start it late) without touching the shared services on 5432 / 6379.
PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import unavailable
from tests.e2e.server import Server, free_port

PG_BIN = Path(os.environ.get("LINKHOP_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def eventually(check: Callable[[], bool], timeout: float = 30.0, step: float = 0.1) -> bool:
    """Poll ``check`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(step)
    return False


def readyz(server: Server) -> httpx.Response:
    """The server's /readyz answer."""
    return httpx.get(f"{server.base}/readyz", timeout=5)


def log_text(path: Path) -> str:
    """What a process logged so far."""
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


class PrivatePostgres:
    """A PostgreSQL cluster of its own (fsync off: test data only) on a free port.

    Its folder is a fresh one under the system temp dir, not pytest's: as root the server runs
    as ``postgres``, which cannot enter pytest's private (0700) folders.
    """

    def __init__(self, *, password: str = "s3cret-pw") -> None:
        if not (PG_BIN / "initdb").exists():
            unavailable(f"PostgreSQL server binaries not found in {PG_BIN}")
        self.directory = Path(tempfile.mkdtemp(prefix="linkhop-pg-"))
        self.data = self.directory / "pgdata"
        self.port = free_port()
        self.password = password
        self._as_postgres = os.geteuid() == 0
        self._initialised = False

    @property
    def url(self) -> str:
        """The linkhop database URL (trust auth: the password only has to be redacted)."""
        return f"postgresql+asyncpg://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120.0) -> None:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {done.stdout}\n{done.stderr}")

    def init(self) -> None:
        """initdb (once)."""
        if self._initialised:
            return
        if self._as_postgres:
            shutil.chown(self.directory, "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._initialised = True

    def start(self) -> None:
        """Start (initdb first if needed) and wait until it accepts connections."""
        self.init()
        # fsync off is safe here: `pg_ctl stop -m immediate` kills the server, not the OS, so
        # written WAL survives. synchronous_commit must stay on: with it off, a commit answered
        # just before the immediate stop may never reach the WAL, and the test would lose links
        # that linkhop rightly reported as created.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        """pg_ctl stop (``immediate``: no clean shutdown, like a crash of the server)."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        """Whether the postmaster runs."""
        return (self.data / "postmaster.pid").exists()

    def cleanup(self) -> None:
        """Stop if running and delete the cluster (for fixtures)."""
        if self._initialised and self.running():
            with contextlib.suppress(RuntimeError):
                self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRedis:
    """A redis-server of its own on a free port, with a password and an AOF."""

    def __init__(self, directory: Path, *, password: str = "r3dis-pw") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.password = password
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The linkhop Redis URL."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start and wait for PONG."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--requirepass",
                self.password,
                "--save",
                "",
                "--appendonly",
                "yes",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        assert eventually(self._pings, timeout=20), "redis-server did not start"

    def _pings(self) -> bool:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), "-a", self.password, "--no-auth-warning", "ping"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() == "PONG"

    def cleanup(self) -> None:
        """Kill if running (for fixtures)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
