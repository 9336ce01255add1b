"""Redirect benchmark: linkhop's redirect path against nginx, interleaved in one session.

Per round, every configuration runs once in turn (nginx, linkhop variants, nginx, …) so slow
drift from neighbouring load hits both sides alike; figures are medians over the rounds and
every linkhop figure is also given as a ratio to the nginx median of the same configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import nginx, procs, profile, redirect_diag, redirect_servers, redis_bench, seed, wrk
from bench.console import say
from bench.redirect_summary import Sample, summarize
from bench.redirect_variants import (
    DOMAIN,
    HEADERS,
    NOT_YET,
    REDIS_SERVERS,
    SERVER_ENV,
    STREAMS,
    UNPINNED_VARIANTS,
    VARIANTS,
    WARMABLE,
    Variant,
)
from bench.results import Report


@dataclass(frozen=True)
class Params:
    """How big and how long."""

    keys: int = 10_000
    duration_s: float = 10.0
    warmup_s: float = 2.0
    rounds: int = 3
    connections: int = 64
    special_links: int = 20
    variants: tuple[str, ...] = tuple(VARIANTS)
    unpinned: bool = True
    diag_ops: int = 20_000  # in-process operations per diagnostic row (0: none)

    @classmethod
    def quick(cls) -> Params:
        """Shorter runs, same rounds and data."""
        return cls(duration_s=5.0, warmup_s=1.0)

    @classmethod
    def smoke(cls) -> Params:
        """Seconds, tiny data: only proves the harness works."""
        return cls(
            keys=30,
            duration_s=1.0,
            warmup_s=0.0,
            rounds=1,
            connections=4,
            special_links=2,
            variants=("nginx", "hit", "password", "hit-redis", "miss-redis", "hit-granian"),
            unpinned=False,
            diag_ops=200,
        )


def _seed(data_dir: Path, params: Params) -> dict[str, list[seed.SeededLink]]:
    settings = seed.bench_settings(data_dir, port=0, domain=DOMAIN)

    async def go() -> dict[str, list[seed.SeededLink]]:
        account = await seed.create_account(settings)
        plain = await seed.bulk_links(settings, account=account, count=params.keys)
        specials = params.special_links
        password = await seed.create_links(
            settings, account=account, specs=seed.password_links(specials)
        )
        expired = await seed.create_links(
            settings, account=account, specs=seed.expired_links(specials, now=datetime.now(UTC))
        )
        return {"plain": plain, "password": password, "expired": expired}

    return asyncio.run(go())


def _measure(
    server: procs.Child,
    *,
    variant: Variant,
    requests_file: Path,
    script: Path,
    params: Params,
    pinned: bool,
    seed_no: int,
    log: Path,
    profiled: bool = False,
) -> Sample:
    def load(seconds: float, seed_value: int) -> wrk.WrkResult:
        return wrk.run(
            server.base,
            script=script,
            requests_file=requests_file,
            duration_s=seconds,
            connections=params.connections,
            cpus=procs.PINNED_CLIENT if pinned else None,
            seed=seed_value,
            log=log,
        )

    if params.warmup_s > 0:
        load(params.warmup_s, seed_no + 7)
    is_linkhop = variant.server not in ("nginx", "bare")
    redis = variant.server in REDIS_SERVERS
    if redis:  # the stream then holds this run's clicks only (and never grows across runs)
        redis_bench.clear(STREAMS, cache=False)
    before_metrics = procs.scrape(server.base) if is_linkhop else {}
    before_cpu = server.cpu()
    before_redis = redis_bench.cpu_seconds() if redis else None
    with (
        profile.spy(server.pid, f"redirect-{variant.name}", params.duration_s)
        if profiled
        else (contextlib.nullcontext())
    ):
        result = load(params.duration_s, seed_no)
    cpu = server.cpu() - before_cpu
    after_redis = redis_bench.cpu_seconds() if redis else None
    after_metrics = procs.scrape(server.base) if is_linkhop else {}
    streamed = None
    if redis:
        time.sleep(0.1)  # the publisher XADDs what it buffered every 5 ms
        streamed = redis_bench.stream_events(STREAMS)
        redis_bench.clear(STREAMS, cache=False)
    return Sample.of(
        result,
        server_cpu_s=cpu,
        rss=server.rss(),
        before=before_metrics,
        after=after_metrics,
        streamed=streamed,
        redis_cpu_s=after_redis - before_redis
        if after_redis is not None and before_redis is not None
        else None,
    )


def run(params: Params, workdir: Path, *, quick: bool = False) -> Report:
    """Seed, start nginx and the linkhop servers, measure every variant round by round."""
    report = Report(
        bench="redirect",
        quick=quick,
        params=dataclasses.asdict(params),
        columns=[
            ("rps", "req/s"),
            ("x_nginx", "× nginx rps"),
            ("cpu_x_nginx", "× nginx CPU/req"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("cpu_us_req", "server CPU µs/req"),
            ("rss_mib", "server RSS MiB"),
            ("wrk_cpu_pct", "wrk CPU %"),
            ("us_per_op", "CPU µs/op in-process"),
        ],
    )
    for name, reason, target in NOT_YET:
        report.skip(name, reason, target=target)
    variants = [VARIANTS[v] for v in params.variants]
    redis_down = redis_bench.unavailable() if REDIS_SERVERS & {v.server for v in variants} else None
    if redis_down:
        for v in variants:
            if v.server in REDIS_SERVERS:
                report.skip(f"{v.name} · pinned", f"needs Redis: {redis_down}", target=v.target)
        variants = [v for v in variants if v.server not in REDIS_SERVERS]
    if not nginx.available():
        variants = [v for v in variants if v.server != "nginx"]
        report.notes.append("nginx is not installed (bench/setup.sh): no ratios")
    data_dir, logs = workdir / "data", workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    say(f"redirect: seeding {params.keys} links (+{params.special_links} password/expired)")
    links = _seed(data_dir, params)
    script = wrk.write_script(workdir / "redirect.lua", headers=HEADERS)
    warm_script = wrk.write_script(workdir / "warm.lua", headers=HEADERS, sequential=True)
    files = {
        name: wrk.write_requests(workdir / f"{name}.txt", [("GET", f"/{x.key}", "") for x in got])
        for name, got in links.items()
    }
    pinned_ok = procs.can_pin()
    if not pinned_ok:
        report.notes.append("fewer than 2 cores or no taskset: the 'pinned' runs are unpinned")
    servers: dict[str, procs.Child] = {}
    samples: dict[tuple[str, str], list[Sample]] = {}
    uses_redis = bool(REDIS_SERVERS & {v.server for v in variants})
    if uses_redis:  # a cold Redis cache and an empty stream, whatever an earlier run left
        redis_bench.clear(STREAMS)
    try:
        for name in dict.fromkeys(v.server for v in variants):
            port = procs.free_port()
            if name == "nginx":
                child = nginx.nginx_server(workdir / "nginx", port=port, links=links["plain"])
            elif name == "bare":
                child = redirect_servers.bare_server(workdir, port=port, links=links["plain"])
            else:
                env = {"LINKHOP_DEFAULT_DOMAIN": DOMAIN, **SERVER_ENV[name]}
                if name in REDIS_SERVERS:
                    env.update(STREAMS.env())
                child = procs.linkhop(
                    "redirect", data_dir=data_dir, port=port, log_dir=logs, env=env
                )
            say(f"redirect: starting {name} on port {port}")
            servers[name] = child.start(cpus=procs.PINNED_SERVER if pinned_ok else None)
        for v in variants:
            redirect_servers.check(servers[v.server], v, links[v.keys])
            # Special keys are few and warm on their first request; the 10 k plain keys are not.
            if v.server in WARMABLE and v.keys == "plain":
                took = redirect_servers.warm(
                    servers[v.server],
                    script=warm_script,
                    requests_file=files[v.keys],
                    count=len(links[v.keys]),
                    log=logs / "wrk.log",
                    step_s=2.0 if params.warmup_s >= 1 else 1.0,
                    miss_metric=WARMABLE[v.server],
                )
                say(f"redirect: warmed {v.name} cache in {took:.0f} s")
                if v.server in REDIS_SERVERS:
                    redis_bench.clear(STREAMS, cache=False)
        configs = ["pinned"] + (["unpinned"] if params.unpinned and pinned_ok else [])
        for round_no in range(params.rounds):
            for config in configs:
                cpus = procs.PINNED_SERVER if config == "pinned" and pinned_ok else procs.ALL_CPUS
                for child in servers.values():
                    procs.set_affinity(child.pid, cpus)
                todo = (
                    variants
                    if config == "pinned"
                    else [v for v in variants if v.name in UNPINNED_VARIANTS]
                )
                for v in todo:
                    sample = _measure(
                        servers[v.server],
                        variant=v,
                        requests_file=files[v.keys],
                        script=script,
                        params=params,
                        pinned=config == "pinned" and pinned_ok,
                        seed_no=round_no * 100 + len(samples),
                        log=logs / "wrk.log",
                        # One profile per linkhop variant: the last pinned round.
                        profiled=round_no == params.rounds - 1
                        and config == "pinned"
                        and v.server != "nginx",
                    )
                    samples.setdefault((v.name, config), []).append(sample)
                    say(f"redirect: round {round_no + 1} {config:8} {v.name:11} {sample.brief()}")
                    redirect_servers.drop_sealed_segments(data_dir / "spool")
    finally:
        for child in servers.values():
            child.stop()
        if uses_redis:  # after the servers' last flush: nothing of ours stays in Redis
            redis_bench.clear(STREAMS)
    summarize(report, variants=variants, samples=samples)
    if params.diag_ops:
        say("redirect: in-process diagnostics")
        settings = seed.bench_settings(data_dir, port=0, domain=DOMAIN).model_copy(
            update={"cache_ttl_seconds": 3600.0}
        )
        redirect_diag.diagnose(report, settings, links["plain"], n=params.diag_ops)
    return report
