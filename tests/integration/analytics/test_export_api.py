"""GET /analytics/export through the app on SQLite and PostgreSQL: formats, filters, access."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]  # ships no type information
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from sqlalchemy import select
from tests.integration.harness import ALL_SCOPES, Account, Harness

from linkhop.analytics.export import COLUMNS
from linkhop.audit.models import AuditEvent
from linkhop.db.engine import unit_of_work

T0 = datetime(2025, 4, 20, tzinfo=UTC)
ACME_CLICKS = 3000
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
async def acme(harness: Harness, add_clicks: Any, make_click: Any) -> dict[str, Any]:
    """3000 human clicks over April-May 2025 and 5 bots for Acme; 50 clicks for Beta."""
    ada = await harness.account("ada@example.com", org="Acme", scopes=f"{ALL_SCOPES},org:write")
    bea = await harness.account("bea@example.com", org="Beta")
    private = {"ip": "203.0.113.9", "ua": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
    humans = [
        make_click(
            T0 + timedelta(minutes=17 * i),  # spans 35 days: two partitions
            org_id=ada.org_id,
            country=("FR", "US", "DE")[i % 3],
            utm_source="newsletter" if i % 4 == 0 else "",
            url=f'https://example.com/p/{i}?a=1,b="2"',  # commas and quotes for CSV
            visitor_id=i % 700,
            **private,
        )
        for i in range(ACME_CLICKS)
    ]
    bots = [make_click(T0, org_id=ada.org_id, bot=1, bot_reason="ua_keyword") for _ in range(5)]
    beta = [make_click(T0, org_id=bea.org_id, country="FR") for _ in range(50)]
    add_clicks(humans + bots + beta)
    return {
        "ada": ada,
        "bea": bea,
        "humans": {str(c["click_id"]) for c in humans},
        "beta": {str(c["click_id"]) for c in beta},
    }


async def _export(h: Harness, who: Account, **params: str) -> Any:
    return await h.client.get("/api/v1/analytics/export", params=params, headers=who.auth)


def _parse(fmt: str, body: bytes) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode())))
    if fmt == "jsonl":
        return [json.loads(line) for line in body.splitlines()]
    return list(pq.read_table(io.BytesIO(body)).to_pylist())


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
async def test_each_format_round_trips(harness: Harness, acme: dict[str, Any], fmt: str) -> None:
    r = await _export(harness, acme["ada"], format=fmt)
    assert r.status_code == 200, r.text
    assert re.fullmatch(
        rf'attachment; filename="linkhop-clicks-\d{{4}}-\d\d-\d\d\.{fmt}"',
        r.headers["content-disposition"],
    )
    rows = _parse(fmt, r.content)
    assert len(rows) == ACME_CLICKS
    assert tuple(rows[0]) == COLUMNS  # no ip, no ua, no visitor_id, in the documented order
    assert {row["click_id"] for row in rows} == acme["humans"]  # no bots, nothing of Beta's
    sample = next(row for row in rows if row["url"].endswith('/p/7?a=1,b="2"'))
    assert sample["country"] == "US"
    assert sample["trigger"] == "link"
    if fmt == "parquet":
        assert sample["ts"] == T0 + timedelta(minutes=17 * 7)
        assert sample["bot"] is False
        schema = pq.read_schema(io.BytesIO(r.content))
        assert schema.field("ts").type == pa.timestamp("ms", tz="UTC")
    else:
        assert sample["ts"] == (T0 + timedelta(minutes=17 * 7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        assert all(ISO_UTC.fullmatch(row["ts"]) for row in rows)
        assert sample["bot"] in ("false", False)


async def test_media_types(harness: Harness, acme: dict[str, Any]) -> None:
    types = {"csv": "text/csv", "jsonl": "application/x-ndjson", "parquet": "application/vnd."}
    for fmt, media_type in types.items():
        r = await _export(harness, acme["ada"], format=fmt, country="DE")
        assert r.headers["content-type"].startswith(media_type), fmt


async def test_filters_select_what_the_counts_count(harness: Harness, acme: dict[str, Any]) -> None:
    ada = acme["ada"]
    for filters in (
        {"country": "fr"},
        {"utm_source": "newsletter", "country": "US"},
        {"start": "2025-05-01T00:00:00Z"},
        {"start": "2025-04-25T00:00:00", "end": "2025-04-26T00:00:00", "timezone": "Asia/Tokyo"},
        {"include_bots": "true"},
        {"domain": "go.example"},
        {"domain": "other.example"},
    ):
        exported = _parse("jsonl", (await _export(harness, ada, format="jsonl", **filters)).content)
        counted = await harness.client.get("/api/v1/analytics", params=filters, headers=ada.auth)
        assert len(exported) == counted.json()["clicks"], filters
    bots = _parse("csv", (await _export(harness, ada, include_bots="true")).content)
    assert sum(row["bot"] == "true" for row in bots) == 5
    assert {row["bot_reason"] for row in bots} == {"", "ua_keyword"}


async def test_each_org_exports_only_its_own_clicks(harness: Harness, acme: dict[str, Any]) -> None:
    beta = _parse("parquet", (await _export(harness, acme["bea"], format="parquet")).content)
    assert {row["click_id"] for row in beta} == acme["beta"]
    # Another org's link is invisible: 404, never its clicks.
    link = await harness.create_link(acme["bea"], url="https://example.com/", key="b")
    r = await _export(harness, acme["ada"], link_id=link["id"])
    assert r.status_code == 404


async def test_user_agents_need_the_flag_and_the_permission(
    harness: Harness, acme: dict[str, Any]
) -> None:
    rows = _parse(
        "jsonl", (await _export(harness, acme["ada"], format="jsonl", include_ua="true")).content
    )
    assert tuple(rows[0]) == (*COLUMNS, "ua")
    assert rows[0]["ua"].startswith("Mozilla/5.0 (X11")
    assert all("ip" not in row for row in rows)
    member = await harness.account(
        "max@example.com", org="Acme", role="member", scopes=f"{ALL_SCOPES},org:write"
    )
    denied = await _export(harness, member, include_ua="true")
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert "org:write" in denied.json()["detail"]
    assert (await _export(harness, member)).status_code == 200  # analytics:read is enough


async def test_export_needs_analytics_read(harness: Harness) -> None:
    reader = await harness.account("links@example.com", scopes="links:read")
    r = await _export(harness, reader)
    assert r.status_code == 403
    assert "analytics:read" in r.json()["detail"]


async def test_an_org_without_clicks_gets_empty_files(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    assert (await _export(harness, ada)).content == (
        ",".join(f'"{c}"' for c in COLUMNS) + "\n"
    ).encode()
    assert (await _export(harness, ada, format="jsonl")).content == b""
    empty = pq.read_table(io.BytesIO((await _export(harness, ada, format="parquet")).content))
    assert (empty.num_rows, tuple(empty.column_names)) == (0, COLUMNS)


async def test_bad_export_input_is_a_problem(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for params, field in (
        ({"format": "xlsx"}, "format"),
        ({"country": "France"}, "country"),
        ({"interval": "7d", "start": "2025-01-01T00:00:00Z"}, "interval"),
        ({"group_by": "countries"}, None),  # not an export parameter: ignored, like any other
    ):
        r = await _export(harness, ada, **params)
        if field is None:
            assert r.status_code == 200, r.text
            continue
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert field in r.text


async def test_csv_cells_cannot_become_spreadsheet_formulas(
    harness: Harness, add_clicks: Any, make_click: Any
) -> None:
    ada = await harness.account("ada@example.com")
    hostile = {
        "referrer": '=HYPERLINK("https://evil.example","x")',
        "utm_source": "+cmd|' /C calc'!A0",
        "utm_medium": "-2+3",
        "utm_campaign": "@SUM(A1:A9)",
        "utm_term": "\tTAB",
        "utm_content": "plain-value",  # a dash inside is harmless
        "city": "\r=1+1",
    }
    add_clicks([make_click(T0, org_id=ada.org_id, **hostile)])
    [row] = _parse("csv", (await _export(harness, ada, interval="all")).content)
    for column, value in hostile.items():
        expected = value if column == "utm_content" else f"'{value}"
        assert row[column] == expected, column
    # Programs read JSON lines and Parquet: they get the stored value unchanged.
    [raw] = _parse("jsonl", (await _export(harness, ada, format="jsonl", interval="all")).content)
    assert {c: raw[c] for c in hostile} == hostile


async def test_each_export_is_audited_with_its_filters(
    harness: Harness, acme: dict[str, Any]
) -> None:
    ada = acme["ada"]
    r = await _export(harness, ada, format="jsonl", country="FR", include_bots="true")
    assert r.status_code == 200
    refused = await _export(harness, ada, format="xlsx")  # refused: nothing exported, no event
    assert refused.status_code == 422
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        events = (
            await session.execute(
                select(
                    AuditEvent.actor_id, AuditEvent.org_id, AuditEvent.target_id, AuditEvent.data
                ).where(AuditEvent.action == "analytics.exported")
            )
        ).all()
    assert len(events) == 1
    actor_id, org_id, target_id, data = events[0]
    assert org_id == target_id == ada.org_id
    assert actor_id is not None
    assert data["format"] == "jsonl"
    assert data["country"] == "FR" and data["include_bots"] is True
