"""Start and stop a real ``linkhop`` process on a free port, and run its CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LINKHOP = [sys.executable, "-m", "linkhop.cli"]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``linkhop serve`` subprocess with its own data folder."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    command: str = "serve"

    @property
    def base(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the server and the CLI."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINKHOP_")}
        env.update(
            {
                "LINKHOP_DATA_DIR": str(self.data_dir),
                "LINKHOP_PORT": str(self.port),
                "LINKHOP_DEFAULT_DOMAIN": f"127.0.0.1:{self.port}",
                "LINKHOP_INGEST_INTERVAL_SECONDS": "0.2",
                **self.extra_env,
            }
        )
        return env

    def start(self, *, timeout: float = 60.0) -> None:
        """Launch and wait until /readyz answers 200."""
        log = (self.data_dir.parent / f"{self.command}-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [*LINKHOP, self.command], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"linkhop {self.command} exited: {self.process.returncode}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"linkhop {self.command} did not become ready")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait for the graceful shutdown; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=60)
        return self.process.returncode

    def cli(self, *args: str) -> str:
        """Run a ``linkhop`` admin command against this server's data; returns stdout."""
        done = subprocess.run(
            [*LINKHOP, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"linkhop {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start_detached(self, log: Path) -> None:
        """Launch without waiting for an HTTP port (the worker has only its ops port)."""
        self.process = subprocess.Popen(
            [*LINKHOP, self.command], env=self.env, stdout=log.open("ab"), stderr=subprocess.STDOUT
        )

    def create_account(self, scopes: str) -> dict[str, str]:
        """A user in org Acme and an API key with ``scopes``; returns the auth header."""
        self.cli(
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
            self.cli(
                "keys", "create", "--email", "ada@example.com", "--org", "Acme", "--scopes", scopes
            )
            .strip()
            .splitlines()[-1]
        )
        assert key.startswith("lnk_live_"), key
        return {"Authorization": f"Bearer {key}"}
