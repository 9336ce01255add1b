"""Child processes the benchmarks drive: start on a free port, pin, read CPU and RSS, stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")
PINNED_SERVER = frozenset({0})
PINNED_CLIENT = frozenset({1})
ALL_CPUS = frozenset(range(os.cpu_count() or 1))


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def can_pin() -> bool:
    """Pinning server and client to separate cores needs two of them."""
    return len(ALL_CPUS) >= 2 and shutil.which("taskset") is not None


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (nginx master + worker, uvicorn + threads' children)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                text = Path(f"/proc/{current}/task/{task}/children").read_text()
                todo.extend(int(c) for c in text.split())
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            # The command name may contain spaces: fields are counted after its closing paren.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of the processes, summed."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def set_affinity(pid: int, cpus: frozenset[int]) -> None:
    """Move every thread of ``pid`` and its descendants to ``cpus``."""
    for member in tree(pid):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{member}/task"):
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task), cpus)


def taskset(cpus: frozenset[int] | None) -> list[str]:
    """A ``taskset -c …`` command prefix, or nothing when not pinning."""
    if cpus is None or not can_pin():
        return []
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus))]


def linkhop_env(data_dir: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a linkhop child: only the bench's own LINKHOP_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKHOP_")}
    env.update(
        {
            "LINKHOP_DATA_DIR": str(data_dir),
            "LINKHOP_PORT": str(port),
            "LINKHOP_DEFAULT_DOMAIN": f"127.0.0.1:{port}",
            "LINKHOP_LOG_LEVEL": "warning",
            **(extra or {}),
        }
    )
    return env


@dataclass
class Child:
    """One server process (linkhop or nginx) the harness started."""

    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    ready_path: str = "/readyz"
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The process id (the server must be started)."""
        assert self.process is not None
        return self.process.pid

    def start(self, *, timeout: float = 90.0, cpus: frozenset[int] | None = None) -> Child:
        """Launch (pinned to ``cpus`` if given) and wait until ``ready_path`` answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*taskset(cpus), *self.argv], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.argv[0]} exited with {self.process.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + self.ready_path, timeout=2).status_code < 500:
                    return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"{' '.join(self.argv)} did not become ready in {timeout:.0f} s")

    def cpu(self) -> float:
        """CPU seconds used so far by the process tree."""
        return cpu_seconds(tree(self.pid))

    def rss(self) -> int:
        """Resident bytes of the process tree now."""
        return rss_bytes(tree(self.pid))

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM, wait for the graceful shutdown, SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def linkhop(
    command: str, *, data_dir: Path, port: int, log_dir: Path, env: dict[str, str] | None = None
) -> Child:
    """A ``linkhop <command>`` child (not yet started) with its own data folder and port."""
    return Child(
        argv=[sys.executable, "-m", "linkhop.cli", command],
        port=port,
        log_path=log_dir / f"linkhop-{command}-{port}.log",
        env=linkhop_env(data_dir, port, env),
    )


def scrape(base: str) -> dict[str, float]:
    """Prometheus samples from ``/metrics`` as {'name{labels}': value}."""
    samples: dict[str, float] = {}
    text = httpx.get(base + "/metrics", timeout=10).text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                samples[name] = float(value)
    return samples
