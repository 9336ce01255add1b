"""Turning redirect runs into medians, ratios to nginx and target verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.results import Report, Row
from bench.stats import median
from bench.wrk import WrkResult

if TYPE_CHECKING:
    from bench.redirect_variants import Variant

TARGET_RATIO = 0.35
TARGET_P99_MS = 3.0
_HIT = 'linkhop_cache_events_total{result="hit"}'
_MISS = 'linkhop_cache_events_total{result="miss"}'
_REDIS_HIT = 'linkhop_cache_events_total{result="redis_hit"}'
# Redis tier lookups that went on to the database (miss), or skipped Redis (error, bypass).
_REDIS_TO_DB = tuple(
    f'linkhop_cache_events_total{{result="redis_{r}"}}' for r in ("miss", "error", "bypass")
)
_REDIS_NEGATIVE = 'linkhop_cache_events_total{result="redis_negative_hit"}'
# Handed to the queue: the spool, or the Redis publisher's buffer (then XADDed every 5 ms).
_PUBLISHED = "linkhop_clicks_published_total"


@dataclass(frozen=True)
class Sample:
    """One measured run of one variant."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_req: float
    rss_mib: float
    wrk_cpu_pct: float
    socket_errors: int
    status_errors: int
    hit_ratio: float | None
    clicks_per_req: float | None
    redis_share: float | None = None  # Redis tier lookups answered by Redis
    db_loads_per_req: float | None = None  # Redis tier lookups that read the database
    streamed_per_req: float | None = None  # events found in the Redis stream per request
    redis_cpu_us_req: float | None = None  # the Redis server's CPU per request (it is shared)

    @classmethod
    def of(
        cls,
        result: WrkResult,
        *,
        server_cpu_s: float,
        rss: int,
        before: Mapping[str, float],
        after: Mapping[str, float],
        streamed: int | None = None,
        redis_cpu_s: float | None = None,
    ) -> Sample:
        """Combine wrk's numbers with the server's CPU, RSS and metric deltas (and, for a
        server with Redis, the events that reached its stream and Redis's own CPU)."""
        requests = max(result.requests, 1)

        def delta(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        lookups = delta(_HIT) + delta(_MISS)
        # LRU misses of one key in flight at once share one load (CachedLoader), so the tier's
        # own counts, not the LRU's misses, tell who answered.
        to_db = sum(delta(name) for name in _REDIS_TO_DB)
        tier = delta(_REDIS_HIT) + delta(_REDIS_NEGATIVE) + to_db
        return cls(
            rps=result.rps,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            cpu_us_req=server_cpu_s * 1e6 / requests,
            rss_mib=rss / 1024 / 1024,
            wrk_cpu_pct=100 * result.cpu_s / result.duration_s if result.duration_s else 0.0,
            socket_errors=result.socket_errors,
            status_errors=result.status_errors,
            hit_ratio=delta(_HIT) / lookups if lookups else None,
            # The /metrics scrape itself is not a click, so this is exact for GET redirects.
            clicks_per_req=delta(_PUBLISHED) / requests if after else None,
            redis_share=delta(_REDIS_HIT) / tier if tier else None,
            db_loads_per_req=to_db / requests if tier else None,
            streamed_per_req=None if streamed is None else streamed / requests,
            redis_cpu_us_req=None if redis_cpu_s is None else redis_cpu_s * 1e6 / requests,
        )

    def brief(self) -> str:
        """One progress line."""
        return (
            f"{self.rps:9.0f} req/s  p50 {self.p50_ms:6.2f} ms  p99 {self.p99_ms:6.2f} ms  "
            f"{self.cpu_us_req:6.1f} µs/req  wrk {self.wrk_cpu_pct:3.0f}%"
        )


def _med(samples: Sequence[Sample], field: str) -> float:
    return median([float(getattr(s, field)) for s in samples])


def _optional_med(samples: Sequence[Sample], field: str) -> float | None:
    values = [getattr(s, field) for s in samples if getattr(s, field) is not None]
    return round(median(values), 3) if values else None


def summarize(
    report: Report,
    *,
    variants: Sequence[Variant],
    samples: Mapping[tuple[str, str], Sequence[Sample]],
) -> None:
    """Add one row per (variant, configuration) with medians, ratios and verdicts."""
    for config in ("pinned", "unpinned"):
        reference = samples.get(("nginx", config), [])
        nginx_rps = _med(reference, "rps") if reference else 0.0
        nginx_cpu = _med(reference, "cpu_us_req") if reference else 0.0
        for variant in variants:
            got = samples.get((variant.name, config))
            if not got:
                continue
            rps, p99 = _med(got, "rps"), _med(got, "p99_ms")
            ratio = round(rps / nginx_rps, 3) if nginx_rps and variant.server != "nginx" else None
            row = Row(
                name=f"{variant.name} · {config}",
                note=variant.description,
                metrics={
                    "rps": round(rps),
                    "x_nginx": ratio,
                    "p50_ms": round(_med(got, "p50_ms"), 2),
                    "p99_ms": round(p99, 2),
                    "cpu_us_req": round(_med(got, "cpu_us_req"), 1),
                    # Capacity of one dedicated core relative to nginx: robust to how busy the
                    # shared machine is, which moves rps far more than CPU per request.
                    "cpu_x_nginx": round(nginx_cpu / _med(got, "cpu_us_req"), 3)
                    if nginx_cpu and variant.server != "nginx"
                    else None,
                    "rss_mib": round(max(s.rss_mib for s in got), 1),
                    "wrk_cpu_pct": round(_med(got, "wrk_cpu_pct")),
                    "socket_errors": sum(s.socket_errors for s in got),
                    "non_3xx": sum(s.status_errors for s in got),
                    "cache_hit_ratio": _optional_med(got, "hit_ratio"),
                    "clicks_per_req": _optional_med(got, "clicks_per_req"),
                    "redis_share": _optional_med(got, "redis_share"),
                    "db_loads_per_req": _optional_med(got, "db_loads_per_req"),
                    "streamed_per_req": _optional_med(got, "streamed_per_req"),
                    "redis_cpu_us_req": _optional_med(got, "redis_cpu_us_req"),
                },
                detail={
                    "rounds_rps": [round(s.rps) for s in got],
                    "rounds_p99_ms": [round(s.p99_ms, 2) for s in got],
                    "rounds_x_nginx": [
                        round(s.rps / r.rps, 3) for s, r in zip(got, reference, strict=False)
                    ]
                    if variant.server != "nginx"
                    else [],
                },
            )
            if variant.target and config == "pinned":
                row.target = variant.target
                row.met = None if ratio is None else ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS
            row.note += _redis_note(row.metrics)
            if variant.expect <= frozenset({301, 302, 303, 307, 308}) and row.metrics["non_3xx"]:
                row.note += f" — {row.metrics['non_3xx']} answers were not 2xx/3xx"
            report.add(row)


def _redis_note(metrics: Mapping[str, object]) -> str:
    """What a server with Redis did there: who answered its misses, where its clicks went."""
    parts = []
    share = metrics.get("redis_share")
    if isinstance(share, float):
        parts.append(f"Redis answered {share:.1%} of the Redis tier's lookups (/metrics)")
    db_loads = metrics.get("db_loads_per_req")
    if isinstance(db_loads, float):
        parts.append(f"{db_loads:.3f} database loads per request")
    streamed = metrics.get("streamed_per_req")
    if isinstance(streamed, float):
        parts.append(f"{streamed:.2f} clicks in the Redis stream per request")
    redis_cpu = metrics.get("redis_cpu_us_req")
    if isinstance(redis_cpu, float):
        parts.append(f"Redis server CPU {redis_cpu:.1f} µs/req (not in server CPU; shared Redis)")
    return "".join(f"; {p}" for p in parts)
