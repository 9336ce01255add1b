"""The redirect service's semantics, through the real apps and backends."""

from __future__ import annotations

import re

import pytest

from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


async def _clicks(h: Harness, account_auth: dict[str, str], **params: str) -> object:
    await h.ingest()
    r = await h.client.get("/api/v1/analytics", params=params, headers=account_auth)
    assert r.status_code == 200, r.text
    return r.json()


async def test_redirect_headers_and_query_forwarding(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/p?a=1&b=2", key="go")
    r = await harness.client.get("/go?b=9&c=3", headers={"user-agent": CHROME})
    assert r.status_code == 302
    assert r.headers["location"] == "https://example.com/p?a=1&b=9&c=3"  # incoming wins
    assert r.headers["x-robots-tag"] == "noindex"
    assert (await harness.client.get("/go/")).status_code == 302  # optional trailing slash
    assert (await harness.client.get("/GO")).status_code == 302  # case-insensitive domain


async def test_forward_query_off_and_utm_applied(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(
        ada,
        url="https://example.com/?x=1",
        key="utm",
        forward_query=False,
        utm_source="news",
        utm_campaign="fall",
    )
    r = await harness.client.get("/utm?x=2")
    assert r.headers["location"] == "https://example.com/?x=1&utm_source=news&utm_campaign=fall"


async def test_permanent_redirect_has_short_private_cache(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/", key="perm", redirect_status=308)
    r = await harness.client.get("/perm")
    assert r.status_code == 308
    assert r.headers["cache-control"] == "private, max-age=30"


async def test_not_found_inspect_and_head(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(
        ada, url="https://example.com/secret-path", key="peek", title="<script>x</script>"
    )
    missing = await harness.client.get("/nope")
    assert missing.status_code == 404 and "Link not found" in missing.text
    inspect = await harness.client.get("/peek+")
    assert inspect.status_code == 200
    assert "https://example.com/secret-path" in inspect.text
    assert "<script>x" not in inspect.text and "&lt;script&gt;" in inspect.text
    head = await harness.client.head("/peek")
    assert head.status_code == 302 and head.content == b""
    # the inspect page records no click; the HEAD request is stored as a bot
    assert await _clicks(harness, ada.auth) == {"clicks": 0, "visitors": 0}
    assert (await _clicks(harness, ada.auth, include_bots="true"))["clicks"] == 1


async def test_password_link_unlocks_and_counts_only_after(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/vip", key="vip", password="open sesame")
    first = await harness.client.get("/vip?ref=x", headers={"user-agent": CHROME})
    assert first.status_code == 401 and 'type="password"' in first.text
    assert (await harness.client.get("/vip+")).status_code == 401  # no inspect while locked
    wrong = await harness.client.post("/vip?ref=x", data={"password": "nope"})
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    assert await _clicks(harness, ada.auth, include_bots="true") == {"clicks": 0, "visitors": 0}
    ok = await harness.client.post("/vip?ref=x", data={"password": "open sesame"})
    assert ok.status_code == 303 and ok.headers["location"] == "/vip?ref=x"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    name, value = re.match(r"([^=]+)=([^;]+)", cookie).groups()  # type: ignore[union-attr]
    hop = await harness.client.get(
        "/vip?ref=x", headers={"user-agent": CHROME, "cookie": f"{name}={value}"}
    )
    assert hop.status_code == 302 and hop.headers["location"] == "https://example.com/vip?ref=x"
    assert (await _clicks(harness, ada.auth))["clicks"] == 1
    forged = await harness.client.get("/vip", headers={"cookie": f"{name}=1.forged"})
    assert forged.status_code == 401


async def test_expired_and_max_clicks(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(
        ada, url="https://example.com/", key="old", expires_at="2001-01-01T00:00:00Z"
    )
    await harness.create_link(
        ada,
        url="https://example.com/",
        key="old2",
        expires_at="2001-01-01T00:00:00Z",
        expired_url="https://example.com/sorry",
    )
    gone = await harness.client.get("/old")
    assert gone.status_code == 410 and "expired" in gone.text.lower()
    moved = await harness.client.get("/old2")
    assert moved.status_code == 302 and moved.headers["location"] == "https://example.com/sorry"
    link = await harness.create_link(ada, url="https://example.com/", key="twice", max_clicks=2)
    for _ in range(2):
        assert (
            await harness.client.get("/twice", headers={"user-agent": CHROME})
        ).status_code == 302
    await harness.ingest()
    harness.redirect_app.links.cache.clear()  # counters reach the redirect on the next load
    used_up = await harness.client.get("/twice")
    assert used_up.status_code == 410
    got = (await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)).json()
    assert got["clicks"] == 2


async def test_qr_trigger_is_recorded_and_stripped(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/menu", key="menu")
    r = await harness.client.get("/menu?qr=1", headers={"user-agent": CHROME})
    assert r.headers["location"] == "https://example.com/menu"
    await harness.ingest()
    rows = harness.store.ch.query(
        f"SELECT trigger, country, ip FROM {harness.store.database}.clicks"
    )
    assert rows == [("qr", "", "203.0.113.0")]  # anonymised to /24 by default


async def test_reserved_paths(harness: Harness) -> None:
    robots = await harness.client.get("/robots.txt")
    assert robots.status_code == 200 and robots.text.startswith("User-agent")
    assert (await harness.client.get("/healthz")).json() == {"status": "ok"}
    assert (await harness.client.get("/api/v1/openapi.json")).status_code == 200
    assert (await harness.client.get("/api/v1/nothing")).status_code == 404
    assert (await harness.client.delete("/somekey")).status_code == 405
