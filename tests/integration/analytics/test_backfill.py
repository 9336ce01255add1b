"""``linkhop analytics backfill``: historical clicks imported once, bad lines reported, not lost.

In-process tests run the importer against the real stores (SQLite and PostgreSQL for links and
counters, the suite's chDB for clicks); the last test runs the real command in subprocesses.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from linkhop.apps.admin import create_link, create_user
from linkhop.apps.analytics_admin import import_file, resolve_org
from linkhop.apps.analytics_store import AnalyticsStore
from linkhop.apps.bootstrap import build_runtime
from linkhop.clickhouse.client import ClickHouse
from linkhop.ingest.backfill import BackfillFormat, BackfillOptions, LineError
from linkhop.links.models import Link
from linkhop.runtime import Runtime
from linkhop.settings import Settings

DOMAIN = "lh.test"
GOOD_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def rows(link_id: str) -> list[dict[str, Any]]:
    """Line 2.. of the file (line 1 is the CSV header): 6 good clicks, 5 bad lines."""
    return [
        {"ts": "2024-03-01T10:00:00Z", "link_id": link_id, "ua": GOOD_UA, "ip": "198.51.100.7"},
        {"ts": "1709290800", "link_id": link_id, "ua": GOOD_UA, "referrer": "https://t.co/x"},
        {"ts": "2024-03-01 12:30:00", "domain": DOMAIN, "key": "promo", "ua": GOOD_UA},
        {"ts": "not a time", "link_id": link_id},  # bad: ts
        {"ts": "2024-03-02T09:00:00+02:00", "link_id": link_id, "ua": "curl/8.0"},  # a bot
        {"ts": "2024-03-02T10:00:00Z", "link_id": "link_nope"},  # bad: unknown link
        {"ts": "2024-03-02T11:00:00Z", "link_id": link_id, "trigger": "email"},  # bad: trigger
        {"ts": "1709370000000", "link_id": link_id},  # bad: milliseconds
        {"ts": "2024-03-03T08:00:00Z", "link_id": link_id, "org_id": "org_other"},  # bad: org
        {"ts": "2024-03-03T09:00:00Z", "link_id": link_id, "ua": GOOD_UA, "trigger": "qr"},
        {"ts": "2024-03-04T09:00:00Z", "domain": DOMAIN, "key": "promo", "ua": GOOD_UA},
    ]


BAD_LINES = {5: "ts", 7: "no link", 8: "trigger", 9: "milliseconds", 10: "--org"}
GOOD = 6  # lines 2, 3, 4, 6, 11, 12 (line 6 is a bot: stored, not counted on the link)


def write(path: Path, fmt: str, data: list[dict[str, Any]]) -> Path:
    if fmt == "jsonl":
        # JSON lines have no header: shift by a leading blank line so numbers match the CSV's.
        path.write_text("\n" + "".join(json.dumps(r) + "\n" for r in data))
        return path
    columns = ["ts", "org_id", "link_id", "domain", "key", "ua", "ip", "referrer", "trigger"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in data:
            writer.writerow(row)
    return path


@pytest.fixture
async def setup(
    db_url: str, chdb_store: ClickHouse, ch_database: str, tmp_path: Path
) -> tuple[Runtime, AnalyticsStore, str, str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        clickhouse_database=ch_database,
        default_domain=DOMAIN,
        secret_key="x" * 40,
        log_format="console",
    )
    await create_user(
        settings,
        email="owner@acme.example.com",
        password="correct horse 1",
        org="acme",
        role="owner",
        name=None,
    )
    await create_link(settings, url="https://example.com/a", key="promo", org="acme", title=None)
    runtime = build_runtime(settings)
    org_id = await resolve_org(runtime, "acme")
    async with runtime.sessionmaker() as session:
        link_id = (await session.execute(select(Link.id))).scalar_one()
    return runtime, AnalyticsStore(chdb_store, ch_database, 0), org_id, link_id


async def link_clicks(runtime: Runtime) -> int:
    async with runtime.sessionmaker() as session:
        return int((await session.execute(select(Link.clicks))).scalar_one())


def stored(store: AnalyticsStore) -> tuple[int, int, int]:
    db = store.database
    raw = store.ch.query(f"SELECT count(), countIf(bot = 0) FROM {db}.clicks")[0]
    daily = store.ch.query(f"SELECT sum(clicks) FROM {db}.clicks_daily")[0][0]
    return int(raw[0]), int(raw[1]), int(daily)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_import_reports_bad_lines_and_a_rerun_changes_nothing(
    setup: tuple[Runtime, AnalyticsStore, str, str], tmp_path: Path, fmt: BackfillFormat
) -> None:
    runtime, store, org_id, link_id = setup
    path = write(tmp_path / f"clicks.{fmt}", fmt, rows(link_id))
    options = BackfillOptions(fmt=fmt, org_id=org_id, chunk_size=4, source=path.name)
    errors: list[LineError] = []
    rejects = tmp_path / f"rejects.{fmt}"
    try:
        report = await import_file(
            runtime, store, path=str(path), options=options, rejects=rejects, on_error=errors.append
        )
        assert (report.lines, report.stored, report.rejected) == (11, GOOD, 5)
        assert (report.chunks, report.skipped_chunks, report.already) == (3, 0, 0)
        assert {e.line: e.reason for e in errors}.keys() == BAD_LINES.keys()
        for error in errors:
            assert BAD_LINES[error.line] in error.reason, error
        assert stored(store) == (GOOD, GOOD - 1, GOOD)
        assert await link_clicks(runtime) == GOOD - 1  # the bot is stored, not counted

        # Enriched like the worker: the UA parsed, the bot flagged, the referrer split.
        enriched = store.ch.query(
            f"SELECT device, bot_reason, referrer_domain, trigger, domain, key "
            f"FROM {store.database}.clicks ORDER BY ts"
        )
        assert enriched[0][:2] == ("desktop", "")
        assert ("t.co", "link", DOMAIN, "promo") in [r[2:] for r in enriched]
        assert any(r[1] for r in enriched)  # curl is a bot
        assert ("qr",) in [(r[3],) for r in enriched]

        # The rejects file holds the bad lines, ready to fix and import alone.
        rejected = rejects.read_text().splitlines()
        assert len(rejected) == (6 if fmt == "csv" else 5)  # + the CSV header

        # Run it again: every chunk is known, nothing is stored or counted twice.
        errors.clear()
        again = await import_file(runtime, store, path=str(path), options=options)
        assert (again.stored, again.already, again.skipped_chunks, again.rejected) == (
            0,
            GOOD,
            3,
            5,
        )
        assert stored(store) == (GOOD, GOOD - 1, GOOD)
        assert await link_clicks(runtime) == GOOD - 1
    finally:
        await runtime.engine.dispose()


async def test_the_dedup_token_alone_protects_a_replayed_chunk(
    setup: tuple[Runtime, AnalyticsStore, str, str], tmp_path: Path
) -> None:
    # A crash after the insert but before the ledger entry: the ledger has no record, and the
    # chunk is inserted again with the same token, which ClickHouse drops.
    runtime, store, org_id, link_id = setup
    path = write(tmp_path / "clicks.csv", "csv", rows(link_id))
    options = BackfillOptions(fmt="csv", org_id=org_id, chunk_size=100)
    try:
        await import_file(runtime, store, path=str(path), options=options)
        store.ch.command(f"TRUNCATE TABLE {store.database}.backfill_log")
        replay = await import_file(runtime, store, path=str(path), options=options)
        assert replay.stored == GOOD  # the importer believed it stored them…
        assert stored(store) == (GOOD, GOOD - 1, GOOD)  # …but ClickHouse kept one copy
        assert await link_clicks(runtime) == GOOD - 1  # and the counters saw the token
    finally:
        await runtime.engine.dispose()


async def test_stop_on_error_stops_before_the_chunk_with_the_bad_line(
    setup: tuple[Runtime, AnalyticsStore, str, str], tmp_path: Path
) -> None:
    runtime, store, org_id, link_id = setup
    path = write(tmp_path / "clicks.csv", "csv", rows(link_id))
    options = BackfillOptions(fmt="csv", org_id=org_id, chunk_size=3, stop_on_error=True)
    try:
        report = await import_file(runtime, store, path=str(path), options=options)
        assert report.stopped_at == 5
        assert report.stored == 3  # lines 2-4: the first chunk, before the bad line
        assert stored(store)[0] == 3
    finally:
        await runtime.engine.dispose()


async def test_rows_need_their_org_without_the_option(
    setup: tuple[Runtime, AnalyticsStore, str, str], tmp_path: Path
) -> None:
    runtime, store, org_id, link_id = setup
    data = [
        {"ts": "2024-03-01T10:00:00Z", "link_id": link_id, "org_id": org_id},
        {"ts": "2024-03-01T10:00:00Z", "link_id": link_id},
    ]
    path = write(tmp_path / "clicks.csv", "csv", data)
    errors: list[LineError] = []
    try:
        report = await import_file(
            runtime,
            store,
            path=str(path),
            options=BackfillOptions(fmt="csv"),
            on_error=errors.append,
        )
        assert report.stored == 1
        assert [(e.line, "org_id is required" in e.reason) for e in errors] == [(3, True)]
    finally:
        await runtime.engine.dispose()


def test_the_command_end_to_end(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LINKHOP_DATA_DIR": str(tmp_path / "data"),
        "LINKHOP_DEFAULT_DOMAIN": DOMAIN,
        "LINKHOP_LOG_FORMAT": "console",
    }
    env.pop("LINKHOP_DATABASE_URL", None)
    env.pop("LINKHOP_CLICKHOUSE_URL", None)

    def linkhop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "linkhop.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    made = linkhop(
        "users",
        "create",
        "--email",
        "o@acme.example.com",
        "--password",
        "correct horse 1",
        "--org",
        "acme",
    )
    assert made.returncode == 0, made.stderr
    assert linkhop("links", "create", "https://example.com/a", "--key", "promo").returncode == 0
    path = write(tmp_path / "clicks.csv", "csv", [r for r in rows("") if "domain" in r])
    first = linkhop("analytics", "backfill", str(path), "--org", "acme")
    assert first.returncode == 0, first.stderr
    assert "2 lines: 2 clicks imported, 0 already imported" in first.stdout
    second = linkhop("analytics", "backfill", str(path), "--org", "acme")
    assert "2 lines: 0 clicks imported, 2 already imported before (1 of 1 chunks skipped)" in (
        second.stdout
    )
    listed = linkhop("links", "list")
    assert listed.stdout.split("\t")[2] == "2", listed.stdout

    bad = write(tmp_path / "bad.jsonl", "jsonl", [{"ts": "x", "key": "promo", "domain": DOMAIN}])
    refused = linkhop("analytics", "backfill", str(bad), "--org", "acme")
    assert refused.returncode == 1
    assert "line 2: ts 'x' is neither epoch seconds nor an ISO 8601 time" in refused.stderr
