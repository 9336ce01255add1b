"""The worker's per-link counters (``SqlCounterSink``) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.integration.harness import Harness

from linkhop.apps.worker import SqlCounterSink
from linkhop.ingest.service import LinkCount

pytestmark = pytest.mark.asyncio
T0 = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)


async def _link(harness: Harness, auth: dict[str, str], link_id: str) -> dict[str, object]:
    response = await harness.client.get(f"/api/v1/links/{link_id}", headers=auth)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


async def test_batches_add_up_once_per_token_and_keep_the_latest_click(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    a = await harness.create_link(ada, url="https://example.com/a", key="a")
    b = await harness.create_link(ada, url="https://example.com/b", key="b")
    idle = await harness.create_link(ada, url="https://example.com/c", key="c")
    sink = SqlCounterSink(harness.runtime)

    await sink.apply(token="t1", counts={a["id"]: LinkCount(3, T0), b["id"]: LinkCount(1, T0)})
    await sink.apply(token="t1", counts={a["id"]: LinkCount(3, T0)})  # a replay: no-op
    # An older batch arriving late adds its clicks but must not move last_clicked_at back.
    await sink.apply(
        token="t2",
        counts={
            a["id"]: LinkCount(2, T0 - timedelta(hours=1)),
            b["id"]: LinkCount(4, T0 + timedelta(seconds=5)),
        },
    )

    got_a, got_b, got_idle = [await _link(harness, ada.auth, x["id"]) for x in (a, b, idle)]
    assert got_a["clicks"] == 5
    assert got_b["clicks"] == 5
    assert got_idle["clicks"] == 0 and got_idle["last_clicked_at"] is None
    assert datetime.fromisoformat(str(got_a["last_clicked_at"])) == T0
    assert datetime.fromisoformat(str(got_b["last_clicked_at"])) == T0 + timedelta(seconds=5)


async def test_click_limited_links_are_invalidated_in_the_redirect_cache(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    limited = await harness.create_link(ada, url="https://example.com/l", key="lim", max_clicks=2)
    assert (await harness.client.get("/lim")).status_code == 302  # cached with 0 clicks
    await SqlCounterSink(harness.runtime).apply(
        token="t-limit", counts={limited["id"]: LinkCount(2, T0)}
    )
    # The sink's invalidation reached the LRU: the next request sees the limit reached.
    assert (await harness.client.get("/lim")).status_code == 410
