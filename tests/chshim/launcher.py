"""Start the shim as a subprocess for a test and stop it afterwards."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_READY = "chshim listening on "


@dataclass(frozen=True)
class Shim:
    """A running shim: its base URL doubles as the clickhouse-connect DSN."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def running_shim(path: Path, *, port: int = 0, timeout: float = 60.0) -> Iterator[Shim]:
    """Serve the chDB store at ``path`` from a subprocess (a free port by default)."""
    command = [sys.executable, "-m", "tests.chshim.server", "--port", str(port)]
    command += ["--path", str(path)]
    # cwd = repo root so `-m tests.chshim.server` imports; stderr stays with the caller (pytest).
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline().decode() if ready else ""
        if not line.startswith(_READY):
            raise RuntimeError(f"chshim did not start (exit code {process.poll()}): {line!r}")
        yield Shim(url=line.removeprefix(_READY).strip(), process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
