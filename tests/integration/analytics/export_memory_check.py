"""Show that GET /analytics/export streams in constant memory: 1 M vs 10 M rows, real server.

Run from the repository root (not collected by pytest: no ``test_`` prefix)::

    .venv/bin/python -m tests.integration.analytics.export_memory_check \
        [--rows 10000000] [--small 1000000] [--formats csv,jsonl,parquet] [--store DIR]

It migrates a fresh data folder, creates a user, an org and an API key with the ``linkhop`` CLI,
loads ``--rows`` clicks for that org into the folder's chDB store with ``INSERT … SELECT … FROM
numbers()`` (in a child process: chDB allows one process per store, and the load's own memory
must not count). Then, for each format and each size, it starts a fresh ``linkhop serve``, warms
it up with a count over the whole table, resets its peak RSS, streams the export over HTTP and
reads the server's peak RSS (``VmHWM`` in ``/proc/<pid>/status``) and its RSS every 0.25 s.
The small export is the first ``--small`` rows of the same store (a ``start``/``end`` filter),
so both runs read the same table. ``--store DIR`` keeps the loaded folder for the next run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from tests.e2e.server import Server

from linkhop.clickhouse.tables import CLICK_COLUMNS

BASE = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=3)  # 10 M clicks span ~347 days: twelve monthly partitions
BATCH = 1_000_000
EMAIL = "export-check@example.com"

# Realistic widths and cardinalities; every row is a human click of the checked org.
FILL_SQL = f"""
INSERT INTO linkhop.clicks ({", ".join(CLICK_COLUMNS)})
SELECT
    generateUUIDv4(number) AS click_id,
    fromUnixTimestamp64Milli(toInt64({{base_ms:Int64}} + number * {{step_ms:Int64}}), 'UTC') AS ts,
    {{org_id:String}} AS org_id,
    concat('link_', toString(number % 1000)) AS link_id,
    'go.example' AS domain,
    concat('k', toString(number % 1000)) AS key,
    concat('https://example.com/products/', toString(number % 5000), '?utm_source=news') AS url,
    ['link', 'qr', 'link', 'api'][number % 4 + 1] AS trigger,
    '203.0.113.0' AS ip,
    ['US', 'DE', 'FR', 'IN', 'BR'][number % 5 + 1] AS country,
    ['California', 'Bavaria', 'Île-de-France', 'Maharashtra', 'São Paulo'][number % 5 + 1],
    ['San Francisco', 'Munich', 'Paris', 'Pune', 'São Paulo'][number % 5 + 1] AS city,
    ['NA', 'EU', 'EU', 'AS', 'SA'][number % 5 + 1] AS continent,
    ['desktop', 'mobile', 'tablet'][number % 3 + 1] AS device,
    ['Chrome', 'Safari', 'Firefox', 'Edge'][number % 4 + 1] AS browser,
    '126.0' AS browser_version,
    ['Windows', 'iOS', 'Android', 'Mac OS X', 'Linux'][number % 5 + 1] AS os,
    '17.5' AS os_version,
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15' AS ua,
    0 AS bot,
    '' AS bot_reason,
    if(number % 3 = 0, '', concat('https://news.example/story/', toString(number % 777))),
    if(number % 3 = 0, '', 'news.example') AS referrer_domain,
    'news' AS utm_source,
    'email' AS utm_medium,
    concat('spring-', toString(number % 7)) AS utm_campaign,
    '' AS utm_term,
    '' AS utm_content,
    cityHash64(number % 200000) AS visitor_id
FROM numbers({{offset:UInt64}}, {{count:UInt64}})
"""


def fill(data_dir: Path, org_id: str, rows: int) -> None:
    """Load ``rows`` clicks for ``org_id`` into the folder's chDB store (child process)."""
    from linkhop.clickhouse.client import ClickHouse, chdb_dsn

    started = time.monotonic()
    with ClickHouse.connect(chdb_dsn(data_dir / "clickhouse")) as ch:
        for offset in range(0, rows, BATCH):
            count = min(BATCH, rows - offset)
            params = {
                "base_ms": int(BASE.timestamp() * 1000),
                "step_ms": int(STEP.total_seconds() * 1000),
                "org_id": org_id,
                "offset": offset,
                "count": count,
            }
            ch.command(FILL_SQL, params)
            print(f"  loaded {offset + count:>11,} rows", flush=True)
    print(f"  load took {time.monotonic() - started:.0f} s", flush=True)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def _count_rows(fmt: str, path: Path) -> int:
    if fmt == "parquet":
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        rows: int = pq.read_metadata(path).num_rows
        return rows
    lines = 0
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            lines += block.count(b"\n")
    return lines - 1 if fmt == "csv" else lines


def measure(server: Server, key: str, fmt: str, rows: int, scratch: Path) -> dict[str, object]:
    """Start a fresh server, export the first ``rows`` clicks, report memory and throughput."""
    server.start(timeout=120)
    assert server.process is not None
    pid = server.process.pid
    auth = {"Authorization": f"Bearer {key}"}
    try:
        # Warm up: the engine has opened the store and answered a query over the whole table.
        warm = httpx.get(f"{server.base}/api/v1/analytics", headers=auth, timeout=300)
        warm.raise_for_status()
        # Reset the peak (Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM to the current RSS),
        # so the peak read afterwards belongs to the export alone, not to start-up or warm-up.
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        baseline = _memory(pid)
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                samples.append(_memory(pid)["VmRSS"])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        params = {
            "format": fmt,
            "start": BASE.isoformat(),
            "end": (BASE + STEP * rows).isoformat(),
        }
        out = scratch / f"export.{fmt}"
        started = time.monotonic()
        with (
            httpx.stream(
                "GET",
                f"{server.base}/api/v1/analytics/export",
                params=params,
                headers=auth,
                timeout=600,
            ) as response,
            out.open("wb") as sink,
        ):
            response.raise_for_status()
            for chunk in response.iter_raw(1 << 20):
                sink.write(chunk)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        peak = _memory(pid)
        exported = _count_rows(fmt, out)
        size = out.stat().st_size
        out.unlink()
    finally:
        server.stop()
    assert exported == rows, (fmt, exported, rows)
    return {
        "format": fmt,
        "rows": rows,
        "mib": round(size / 2**20),
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "rss_before_mib": baseline["VmRSS"],
        "rss_max_sampled_mib": max(samples, default=baseline["VmRSS"]),
        "peak_vmhwm_mib": peak["VmHWM"],
    }


def prepare(store: Path, rows: int) -> tuple[Server, str]:
    """A migrated data folder with ``rows`` clicks for a new org, and that org's API key."""
    data_dir = store / "data"
    server = Server(data_dir=data_dir, extra_env={"LINKHOP_LOG_LEVEL": "warning"})
    marker = store / "key"
    if marker.exists():
        print(f"reusing the loaded store in {store}", flush=True)
        return server, marker.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    server.cli("migrate")
    created = server.cli(
        "users", "create", "--email", EMAIL, "--password", "export-check-pw", "--org", "Exports"
    )
    org_id = created.split("created org ")[1].split()[0]
    key = server.cli(
        "keys", "create", "--email", EMAIL, "--org", "Exports", "--scopes", "analytics:read"
    ).splitlines()[-1]
    print(f"loading {rows:,} clicks for {org_id} …", flush=True)
    module = "tests.integration.analytics.export_memory_check"
    subprocess.run(
        [sys.executable, "-m", module, "fill", str(data_dir), org_id, str(rows)], check=True
    )
    marker.write_text(key)
    return server, key


def main() -> None:
    """Parse arguments; ``fill`` is the child-process step, anything else runs the check."""
    if len(sys.argv) > 1 and sys.argv[1] == "fill":
        fill(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--formats", default="csv,jsonl,parquet")
    parser.add_argument("--store", type=Path, help="keep (or reuse) the loaded store here")
    args = parser.parse_args()
    store = args.store or Path(tempfile.mkdtemp(prefix="linkhop-export-check-"))
    server, key = prepare(store, args.rows)
    results = []
    for fmt in args.formats.split(","):
        for rows in (args.small, args.rows):
            result = measure(server, key, fmt, rows, store)
            print(json.dumps(result), flush=True)
            results.append(result)
    print("\nformat   rows         MiB   s      rows/s    RSS before  peak during export")
    for r in results:
        print(
            f"{r['format']:<8} {r['rows']:>11,} {r['mib']:>6} {r['seconds']:>6} "
            f"{r['rows_per_s']:>9,} {r['rss_before_mib']:>8} MiB {r['peak_vmhwm_mib']:>8} MiB"
        )


if __name__ == "__main__":
    main()
