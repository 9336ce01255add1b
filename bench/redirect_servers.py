"""Starting, checking and warming the servers the redirect benchmark compares."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench import procs, seed, wrk
from bench.redirect_variants import HEADERS, Variant

WARM_LIMIT_S = 120.0
_MISS = 'linkhop_cache_events_total{result="miss"}'


def check(server: procs.Child, variant: Variant, links: Sequence[seed.SeededLink]) -> None:
    """Refuse to benchmark a server that does not give the expected answers."""
    for link in links[:3]:
        status = httpx.get(f"{server.base}/{link.key}", headers=HEADERS).status_code
        if status not in variant.expect:
            raise RuntimeError(f"{variant.name}: /{link.key} answered {status}")


def warm(
    server: procs.Child,
    *,
    script: Path,
    requests_file: Path,
    count: int,
    log: Path,
    step_s: float = 2.0,
) -> float:
    """Request every key once, in order, then until the cache stops missing; returns seconds.

    Random picks from 10 k keys leave many cold for a long time, and a miss costs ~100x a hit,
    so a short random warm-up would measure the miss path instead of the hit path.
    """
    started = time.monotonic()
    position = 0
    while time.monotonic() - started < WARM_LIMIT_S:
        before = procs.scrape(server.base).get(_MISS, 0.0)
        result = wrk.run(
            server.base,
            script=script,
            requests_file=requests_file,
            duration_s=step_s,
            connections=8,
            cpus=procs.PINNED_CLIENT if procs.can_pin() else None,
            seed=position % count,
            log=log,
        )
        position += result.requests
        misses = procs.scrape(server.base).get(_MISS, 0.0) - before
        if position >= count and misses <= 0.01 * max(result.requests, 1):
            break
    return time.monotonic() - started


def bare_server(workdir: Path, *, port: int, links: Sequence[seed.SeededLink]) -> procs.Child:
    keys = workdir / "bare-keys.tsv"
    keys.write_text("".join(f"{x.key}\t{x.url}\n" for x in links))
    script = Path(__file__).with_name("bare_asgi.py")
    return procs.Child(
        argv=[sys.executable, str(script), str(port), str(keys)],
        port=port,
        log_path=workdir / "logs" / f"bare-{port}.log",
    )


def drop_sealed_segments(spool: Path) -> None:
    # No worker runs here: sealed click segments would only pile up on disk between runs.
    for path in spool.glob("*.seg"):
        path.unlink(missing_ok=True)
