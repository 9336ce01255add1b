"""Optional py-spy profiles of the measured process (``--profile``), saved next to the results.

Each profile is py-spy's raw collapsed stacks plus a summary of the frames with the most
samples, inclusive and self, which is what the README quotes when a target is missed.
"""

from __future__ import annotations

import collections
import math
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.results import RESULTS_DIR

PROFILES = RESULTS_DIR / "profiles"
_enabled = False


def enable() -> None:
    """Turn profiling on for this process's benchmarks."""
    global _enabled  # noqa: PLW0603 — one switch set once from the command line
    _enabled = True


def _binary() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@contextmanager
def spy(pid: int, name: str, seconds: float = 3600.0) -> Iterator[None]:
    """Sample ``pid`` while the body runs, at most ``seconds`` (a no-op unless enabled)."""
    binary = _binary()
    if not _enabled or binary is None:
        yield
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    raw = PROFILES / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{name}.txt"
    argv = [binary, "record", "--pid", str(pid), "-d", str(math.ceil(seconds)), "-r", "200"]
    argv += ["-f", "raw", "-o", str(raw), "--nonblocking", "--threads"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        # py-spy writes its output when interrupted, as after Ctrl-C.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        if raw.exists():
            raw.with_name(raw.stem + "-top.txt").write_text(summarize(raw))


def summarize(raw: Path, top: int = 40) -> str:
    """The frames with the most samples: inclusive (anywhere on the stack) and self (on top)."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f]
        if frames:
            self_time[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"{raw.name}: {total} samples", "", "inclusive:"]
    out += [f"{100 * v / total:5.1f}%  {k}" for k, v in inclusive.most_common(top)]
    out += ["", "self:"]
    out += [f"{100 * v / total:5.1f}%  {k}" for k, v in self_time.most_common(top)]
    return "\n".join(out) + "\n"
