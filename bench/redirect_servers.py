"""Starting, checking and warming the servers the redirect benchmark compares.

Also the HTTP-server comparison behind docs/decisions/0014-redirect-server.md: the bare ASGI
app and ``linkhop redirect``'s app, each on uvicorn (uvloop + httptools) and on granian, side
by side in interleaved rounds on one pinned core:

    python -m bench.redirect_servers compare [--rounds 5] [--duration 10] [--keys 10000]

Rows: ``linkhop/granian-embed`` is ``linkhop redirect`` with ``LINKHOP_REDIRECT_SERVER=granian``
(granian's embedded server in linkhop's own event loop). ``linkhop/granian`` and
``linkhop/granian-rust`` run the same app under granian's usual process model (a supervisor and
one worker process; asyncio or Rust tasks), started by
``python -m bench.redirect_servers serve-granian mp|mp-rust``: a benchmark harness, not a
product command.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import procs, seed, wrk
from bench.console import say
from bench.redirect_variants import DOMAIN, HEADERS, Variant
from bench.stats import median

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
    miss_metric: str = _MISS,
) -> float:
    """Request every key once, in order, then until the cache stops missing; returns seconds.

    Random picks from 10 k keys leave many cold for a long time, and a miss costs ~100x a hit,
    so a short random warm-up would measure the miss path instead of the hit path.
    ``miss_metric``: the /metrics sample counting the misses to wait out (the LRU's, or the
    Redis tier's for a server whose LRU holds one entry).
    """
    started = time.monotonic()
    position = 0
    while time.monotonic() - started < WARM_LIMIT_S:
        before = procs.scrape(server.base).get(miss_metric, 0.0)
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
        misses = procs.scrape(server.base).get(miss_metric, 0.0) - before
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


# --- granian vs uvicorn --------------------------------------------------------------------
GRANIAN_MODES = ("mp", "mp-rust")
_HIT_ENV = {"LINKHOP_DEFAULT_DOMAIN": DOMAIN, "LINKHOP_CACHE_TTL_SECONDS": "3600"}


class _StartsOnLifespan:
    """linkhop's redirect app for granian's worker process: start-up runs in the lifespan
    (in that process's event loop), shutdown closes the process (flushes clicks)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.process: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        from linkhop.apps import servers  # noqa: PLC0415
        from linkhop.settings import Settings  # noqa: PLC0415

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.process = await servers._start(
                    Settings(), api=False, redirect=True, worker=False
                )
                self.app = servers.build_app(self.process, api=False, redirect=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.process.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def granian_redirect_app() -> Any:
    """Factory granian's worker calls (``bench.redirect_servers:granian_redirect_app``)."""
    from linkhop.logging import configure_logging  # noqa: PLC0415

    configure_logging(level="warning")
    return _StartsOnLifespan()


def serve_granian(mode: str) -> None:
    """Run linkhop's redirect app on granian until SIGTERM (settings from LINKHOP_*)."""
    from granian.constants import HTTPModes, Interfaces, Loops, TaskImpl  # noqa: PLC0415

    from linkhop.settings import Settings  # noqa: PLC0415

    settings = Settings()
    from granian import Granian  # noqa: PLC0415

    Granian(
        "bench.redirect_servers:granian_redirect_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        task_impl=TaskImpl.rust if mode == "mp-rust" else TaskImpl.asyncio,
        http=HTTPModes.http1,
        websockets=False,
        log_access=False,
        log_level="warning",  # type: ignore[arg-type]  # granian maps the string to its enum
    ).serve()


def _granian_child(data_dir: Path, *, port: int, log_dir: Path, mode: str) -> procs.Child:
    return procs.Child(
        argv=[sys.executable, "-m", "bench.redirect_servers", "serve-granian", mode],
        port=port,
        log_path=log_dir / f"granian-{mode}-{port}.log",
        env=procs.linkhop_env(data_dir, port, _HIT_ENV),
    )


def _bare_child(workdir: Path, *, port: int, keys: Path, server: str) -> procs.Child:
    return procs.Child(
        argv=[sys.executable, "-m", "bench.bare_asgi", str(port), str(keys), server],
        port=port,
        log_path=workdir / "logs" / f"bare-{server}-{port}.log",
    )


def compare(
    workdir: Path,
    *,
    keys: int,
    rounds: int,
    duration_s: float,
    connections: int,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    """Interleaved rounds over every (app, server) pair; medians and ratios to uvicorn."""
    data_dir, logs = workdir / "data", workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    settings = seed.bench_settings(data_dir, port=0, domain=DOMAIN)

    async def seed_links() -> list[seed.SeededLink]:
        account = await seed.create_account(settings)
        return await seed.bulk_links(settings, account=account, count=keys)

    say(f"servers: seeding {keys} links")
    links = asyncio.run(seed_links())
    keys_file = workdir / "bare-keys.tsv"
    keys_file.write_text("".join(f"{x.key}\t{x.url}\n" for x in links))
    script = wrk.write_script(workdir / "redirect.lua", headers=HEADERS)
    warm_script = wrk.write_script(workdir / "warm.lua", headers=HEADERS, sequential=True)
    requests_file = wrk.write_requests(
        workdir / "plain.txt", [("GET", f"/{x.key}", "") for x in links]
    )
    children: dict[str, procs.Child] = {}
    for server in ("uvicorn", "granian", "granian-rust", "granian-embed"):
        children[f"bare/{server}"] = _bare_child(
            workdir, port=procs.free_port(), keys=keys_file, server=server
        )
    port = procs.free_port()
    children["linkhop/uvicorn"] = procs.linkhop(
        "redirect", data_dir=data_dir, port=port, log_dir=logs, env=_HIT_ENV
    )
    for mode, name in (("mp", "granian"), ("mp-rust", "granian-rust")):
        children[f"linkhop/{name}"] = _granian_child(
            data_dir, port=procs.free_port(), log_dir=logs, mode=mode
        )
    # What `LINKHOP_REDIRECT_SERVER=granian` runs: granian's embedded server in linkhop's loop.
    children["linkhop/granian-embed"] = procs.linkhop(
        "redirect",
        data_dir=data_dir,
        port=procs.free_port(),
        log_dir=logs,
        env={**_HIT_ENV, "LINKHOP_REDIRECT_SERVER": "granian"},
    )
    if only:  # a subset; each app keeps its uvicorn row, the base of its ratios
        apps = {name.split("/")[0] for name in only}
        keep = {*only, *(f"{app}/uvicorn" for app in apps)}
        children = {k: v for k, v in children.items() if k in keep}
    pinned = procs.can_pin()
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in children}
    try:
        for name, child in children.items():
            say(f"servers: starting {name} on port {child.port}")
            child.start(cpus=procs.PINNED_SERVER if pinned else None)
            status = httpx.get(f"{child.base}/{links[0].key}", headers=HEADERS).status_code
            if status != 302:
                raise RuntimeError(f"{name}: /{links[0].key} answered {status}")
            if name.startswith("linkhop/"):
                took = warm(
                    child,
                    script=warm_script,
                    requests_file=requests_file,
                    count=len(links),
                    log=logs / "wrk.log",
                )
                say(f"servers: warmed {name} in {took:.0f} s")
        for round_no in range(rounds):
            order = list(children) if round_no % 2 == 0 else list(reversed(children))
            for name in order:
                child = children[name]
                load = functools.partial(
                    wrk.run,
                    child.base,
                    script=script,
                    requests_file=requests_file,
                    connections=connections,
                    cpus=procs.PINNED_CLIENT if pinned else None,
                    log=logs / "wrk.log",
                )
                load(duration_s=1.0, seed=round_no + 50)  # warm connections
                cpu_before = child.cpu()
                result = load(duration_s=duration_s, seed=round_no)
                cpu = child.cpu() - cpu_before
                sample = {
                    "rps": result.rps,
                    "p50_ms": result.p50_ms,
                    "p99_ms": result.p99_ms,
                    "cpu_us_req": cpu * 1e6 / max(result.requests, 1),
                    "errors": float(result.socket_errors + result.status_errors),
                }
                samples[name].append(sample)
                say(
                    f"servers: round {round_no + 1} {name:22} {sample['rps']:8.0f} rps "
                    f"{sample['cpu_us_req']:6.1f} µs/req p99 {sample['p99_ms']:.2f} ms"
                )
    finally:
        for child in children.values():
            child.stop()
    return _summarize(samples, pinned=pinned, rounds=rounds, duration_s=duration_s)


def _summarize(
    samples: dict[str, list[dict[str, float]]], *, pinned: bool, rounds: int, duration_s: float
) -> dict[str, Any]:
    rows: dict[str, dict[str, float]] = {}
    for name, runs in samples.items():
        rows[name] = {k: median([r[k] for r in runs]) for k in runs[0]}
        # Ratio per round to the same app on uvicorn in the same round, then the median.
        base = samples[f"{name.split('/')[0]}/uvicorn"]
        rows[name]["rps_x_uvicorn"] = median(
            [r["rps"] / b["rps"] for r, b in zip(runs, base, strict=True) if b["rps"]]
        )
        rows[name]["cpu_x_uvicorn"] = median(
            [
                r["cpu_us_req"] / b["cpu_us_req"]
                for r, b in zip(runs, base, strict=True)
                if b["cpu_us_req"]
            ]
        )
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "pinned": pinned,
        "rounds": rounds,
        "duration_s": duration_s,
        "load_avg": os.getloadavg(),
        "rows": rows,
    }


def _print_table(summary: dict[str, Any]) -> None:
    print(
        "| app / server | req/s | × uvicorn rps | CPU µs/req | × uvicorn CPU | p50 ms | p99 ms |"
        "\n|---|---|---|---|---|---|---|"
    )
    for name, row in summary["rows"].items():
        print(
            f"| {name} | {row['rps']:.0f} | {row['rps_x_uvicorn']:.2f} | "
            f"{row['cpu_us_req']:.1f} | {row['cpu_x_uvicorn']:.2f} | {row['p50_ms']:.2f} | "
            f"{row['p99_ms']:.2f} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    """``compare`` (the ADR's numbers) or ``serve-granian MODE`` (a child of ``compare``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.redirect_servers")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("compare", help="uvicorn vs granian, bare app and linkhop redirect")
    run.add_argument("--rounds", type=int, default=5)
    run.add_argument("--duration", type=float, default=10.0)
    run.add_argument("--keys", type=int, default=10_000)
    run.add_argument("--connections", type=int, default=64)
    run.add_argument("--out", type=Path, default=None, help="also write the summary as JSON")
    run.add_argument(
        "--only", default="", help="comma-separated rows, e.g. linkhop/granian-embed,bare/granian"
    )
    serve = sub.add_parser("serve-granian")
    serve.add_argument("mode", choices=GRANIAN_MODES)
    args = parser.parse_args(argv)
    if args.command == "serve-granian":
        serve_granian(args.mode)
        return
    with tempfile.TemporaryDirectory(prefix="linkhop-servers-") as tmp:
        summary = compare(
            Path(tmp),
            keys=args.keys,
            rounds=args.rounds,
            duration_s=args.duration,
            connections=args.connections,
            only=[x for x in args.only.split(",") if x],
        )
    _print_table(summary)
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
