"""Links through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio


async def test_create_returns_201_with_short_url(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://example.com/x"}, headers=ada.auth
    )
    assert r.status_code == 201
    body = r.json()
    assert {"id", "key", "domain", "short_url", "url", "created_at"} <= body.keys()
    assert body["domain"] == "lh.test"
    assert body["short_url"] == f"http://lh.test/{body['key']}"
    assert len(body["key"]) == 7
    assert body["redirect_status"] == 302 and body["forward_query"] is True


async def test_every_option_round_trips(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(
        ada,
        url="https://example.com/p",
        key="promo",
        title="Promo",
        comments="internal",
        tags=["Spring", "sale"],
        expires_at="2099-01-01T00:00:00Z",
        expired_url="https://example.com/over",
        max_clicks=10,
        password="s3cret-pass",
        redirect_status=301,
        forward_query=False,
        external_id="crm-42",
        utm_source="news",
        utm_medium="email",
        utm_campaign="spring",
    )
    got = (await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)).json()
    assert got["title"] == "Promo" and got["comments"] == "internal"
    assert [t["name"] for t in got["tags"]] == ["sale", "Spring"]  # by name, ignoring case
    assert got["expires_at"].startswith("2099-01-01T00:00:00")
    assert got["max_clicks"] == 10 and got["password_protected"] is True
    assert "password" not in got and "password_hash" not in got
    assert got["redirect_status"] == 301 and got["forward_query"] is False
    assert got["external_id"] == "crm-42" and got["utm_campaign"] == "spring"


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("javascript:alert(1)", "javascript"),
        ("data:text/html,<b>x</b>", "data"),
        ("file:///etc/passwd", "file"),
        ("http://", "host"),
        ("https://example.com/" + "a" * 9000, "8192"),
        ("https://lh.test/loop", "loop"),
    ],
)
async def test_bad_destinations_are_refused_with_reason(
    harness: Harness, url: str, fragment: str
) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post("/api/v1/links", json={"url": url}, headers=ada.auth)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["field"] == "url"
    assert fragment in problem["detail"].lower()
    listed = (await harness.client.get("/api/v1/links", headers=ada.auth)).json()
    assert listed["data"] == []  # nothing half-written


@pytest.mark.parametrize(
    "key", ["a/b", "bad\x01key", "k" * 300, "api", "Docs", "trailing+", "with space"]
)
async def test_bad_keys_are_refused(harness: Harness, key: str) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://example.com", "key": key}, headers=ada.auth
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "key"


async def test_duplicate_custom_key_is_409_and_case_insensitive(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/1", key="Launch")
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://example.com/2", "key": "launch"}, headers=ada.auth
    )
    assert r.status_code == 409
    assert r.json()["code"] == "key_taken"


async def test_concurrent_creates_of_one_key_give_one_winner(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    responses = await asyncio.gather(
        *(
            harness.client.post(
                "/api/v1/links",
                json={"url": f"https://example.com/{i}", "key": "race"},
                headers=ada.auth,
            )
            for i in range(8)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and codes.count(409) == 7


async def test_many_random_keys_are_unique(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    links = await asyncio.gather(
        *(harness.create_link(ada, url=f"https://e.com/{i}") for i in range(40))
    )
    assert len({link["key"] for link in links}) == 40


async def test_malformed_json_and_unknown_fields(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post(
        "/api/v1/links",
        content=b"{not json",
        headers={**ada.auth, "content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://e.com", "colour": 1}, headers=ada.auth
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "colour"
    r = await harness.client.post(
        "/api/v1/links", json={"url": "https://e.com", "redirect_status": 303}, headers=ada.auth
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "redirect_status"


async def test_oversized_body_is_413(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    big = b'{"url": "https://e.com/", "comments": "' + b"x" * 2_000_000 + b'"}'
    r = await harness.client.post(
        "/api/v1/links", content=big, headers={**ada.auth, "content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"


async def test_update_archive_delete(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a", key="edit-me")
    r = await harness.client.patch(
        f"/api/v1/links/{link['id']}",
        headers=ada.auth,
        json={"url": "https://example.com/b", "title": "B"},
    )
    assert r.status_code == 200 and r.json()["url"] == "https://example.com/b"
    hop = await harness.client.get("/edit-me")
    assert hop.headers["location"] == "https://example.com/b"  # cache invalidated at once
    r = await harness.client.patch(
        f"/api/v1/links/{link['id']}", headers=ada.auth, json={"archived": True}
    )
    assert r.json()["archived"] is True
    assert (await harness.client.get("/edit-me")).status_code == 410
    live = (await harness.client.get("/api/v1/links", headers=ada.auth)).json()["data"]
    archived = (await harness.client.get("/api/v1/links?archived=true", headers=ada.auth)).json()[
        "data"
    ]
    assert live == [] and [x["id"] for x in archived] == [link["id"]]
    r = await harness.client.delete(f"/api/v1/links/{link['id']}", headers=ada.auth)
    assert r.status_code == 204
    assert (
        await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)
    ).status_code == 404
    assert (await harness.client.get("/edit-me")).status_code == 404


async def test_change_key_moves_the_redirect(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a", key="old")
    assert (await harness.client.get("/old")).status_code == 302
    await harness.client.patch(f"/api/v1/links/{link['id']}", json={"key": "new"}, headers=ada.auth)
    assert (await harness.client.get("/old")).status_code == 404
    assert (await harness.client.get("/new")).status_code == 302


async def test_list_search_filters_sort_and_cursor(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for i in range(7):
        await harness.create_link(
            ada,
            url=f"https://shop.example/{i}",
            key=f"item{i}",
            tags=["shop"] if i % 2 else [],
            title=f"Item {i}",
        )
    await harness.create_link(ada, url="https://blog.example/post", key="post")
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/v1/links?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await harness.client.get(url, headers=ada.auth)).json()
        seen += [x["key"] for x in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["post", *(f"item{i}" for i in range(6, -1, -1))]
    found = (await harness.client.get("/api/v1/links?q=BLOG", headers=ada.auth)).json()["data"]
    assert [x["key"] for x in found] == ["post"]
    tagged = (await harness.client.get("/api/v1/links?tag=shop", headers=ada.auth)).json()["data"]
    assert sorted(x["key"] for x in tagged) == ["item1", "item3", "item5"]
    by_key = (await harness.client.get("/api/v1/links?sort=key&limit=2", headers=ada.auth)).json()
    assert [x["key"] for x in by_key["data"]] == ["item0", "item1"]
    bad = await harness.client.get("/api/v1/links?cursor=garbage", headers=ada.auth)
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_upsert_finds_existing_by_url(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    first = await harness.client.put(
        "/api/v1/links/upsert", json={"url": "https://e.com/u"}, headers=ada.auth
    )
    again = await harness.client.put(
        "/api/v1/links/upsert", json={"url": "https://e.com/u"}, headers=ada.auth
    )
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]


async def test_link_info_by_key(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://e.com/", key="Info")
    r = await harness.client.get("/api/v1/links/info?key=info", headers=ada.auth)
    assert r.status_code == 200 and r.json()["id"] == link["id"]


async def test_tags_crud(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post(
        "/api/v1/tags", json={"name": "News", "color": "blue"}, headers=ada.auth
    )
    assert r.status_code == 201
    tag = r.json()
    dup = await harness.client.post("/api/v1/tags", json={"name": "news"}, headers=ada.auth)
    assert dup.status_code == 409
    bad = await harness.client.post(
        "/api/v1/tags", json={"name": "x", "color": "plaid"}, headers=ada.auth
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "color"
    r = await harness.client.patch(
        f"/api/v1/tags/{tag['id']}", json={"name": "Press"}, headers=ada.auth
    )
    assert r.json()["name"] == "Press"
    assert (
        await harness.client.delete(f"/api/v1/tags/{tag['id']}", headers=ada.auth)
    ).status_code == 204
    assert (await harness.client.get("/api/v1/tags", headers=ada.auth)).json() == []


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-clicks", "clicks", "key", "-key"])
async def test_cursor_pages_walk_every_sort_without_gaps(harness: Harness, sort: str) -> None:
    ada = await harness.account("ada@example.com")
    # Equal clicks (all 0) and equal created_at (one bulk request): ties are broken by id.
    items = [{"url": f"https://e.com/{i}", "key": f"k{i:02d}"} for i in range(23)]
    r = await harness.client.post("/api/v1/links/bulk", json={"links": items}, headers=ada.auth)
    assert r.json()["created"] == 23
    everything = await harness.client.get(f"/api/v1/links?limit=100&sort={sort}", headers=ada.auth)
    expected = [x["id"] for x in everything.json()["data"]]
    assert len(expected) == 23
    seen: list[str] = []
    cursor = ""
    while True:
        page = await harness.client.get(
            "/api/v1/links", params={"limit": 4, "sort": sort, "cursor": cursor}, headers=ada.auth
        )
        assert page.status_code == 200, page.text
        seen += [x["id"] for x in page.json()["data"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


async def test_a_refused_expired_url_names_its_own_field(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    body = {"url": "https://e.com/", "expired_url": "javascript:alert(1)"}
    r = await harness.client.post("/api/v1/links", json=body, headers=ada.auth)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "expired_url"
    created = await harness.client.post(
        "/api/v1/links", json={"url": "https://e.com/"}, headers=ada.auth
    )
    r = await harness.client.patch(
        f"/api/v1/links/{created.json()['id']}",
        json={"expired_url": "ftp://e.com/"},
        headers=ada.auth,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expired_url"
    bulk = await harness.client.post("/api/v1/links/bulk", json={"links": [body]}, headers=ada.auth)
    assert "expired_url" in bulk.text
