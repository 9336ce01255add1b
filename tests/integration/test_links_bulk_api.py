"""``POST /api/v1/links/bulk`` on SQLite and PostgreSQL: each item judged on its own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from linkhop.audit.models import AuditEvent
from linkhop.db.engine import unit_of_work
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

BULK = "/api/v1/links/bulk"


async def bulk(h: Harness, who: Account, links: list[Any], **options: Any) -> httpx.Response:
    """POST a bulk request."""
    return await h.client.post(BULK, json={"links": links, **options}, headers=who.auth)


async def keys_of(h: Harness, who: Account) -> set[str]:
    """The keys of every link ``who`` can list."""
    r = await h.client.get("/api/v1/links?limit=100", headers=who.auth)
    assert r.status_code == 200, r.text
    return {x["key"] for x in r.json()["data"]}


async def created_events(h: Harness) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    """(target id, actor id, data) of every link.created event."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        rows = await session.execute(
            select(AuditEvent.target_id, AuditEvent.actor_id, AuditEvent.data)
            .where(AuditEvent.action == "link.created")
            .order_by(AuditEvent.id)
        )
        return [(t, a, d) for t, a, d in rows.all()]


def problem_of(result: dict[str, Any]) -> dict[str, Any]:
    """The error of a refused item (asserting it was refused)."""
    assert result["ok"] is False and result.get("link") is None, result
    error: dict[str, Any] = result["error"]
    return error


async def test_creates_every_link_in_order(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await bulk(
        harness,
        ada,
        [
            {"url": "https://example.com/a"},
            {"url": "https://example.com/b", "key": "Spring", "tags": ["Sale", "sale", "news"]},
            {"url": "https://example.com/c", "title": "C", "utm_source": "mail"},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 3 and body["failed"] == 0
    assert [x["index"] for x in body["results"]] == [0, 1, 2]
    assert all(x["ok"] and x["error"] is None for x in body["results"])
    a, b, c = (x["link"] for x in body["results"])
    assert len(a["key"]) == 7 and a["short_url"] == f"http://lh.test/{a['key']}"
    assert b["key"] == "Spring" and [t["name"] for t in b["tags"]] == ["news", "Sale"]
    assert c["title"] == "C" and c["utm_source"] == "mail" and c["tags"] == []
    got = (await harness.client.get(f"/api/v1/links/{b['id']}", headers=ada.auth)).json()
    assert got == b  # the response is the link as stored
    assert await keys_of(harness, ada) == {a["key"], "Spring", c["key"]}
    hop = await harness.client.get("/spring")  # case-insensitive default domain
    assert hop.status_code == 302 and hop.headers["location"] == "https://example.com/b"


async def test_invalid_items_are_reported_and_the_others_created(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    items: list[Any] = [
        {"url": "https://example.com/ok-1"},
        {"url": "javascript:alert(1)"},
        {"url": "https://example.com/x", "colour": "red"},
        {"url": "https://example.com/x", "key": "api"},
        "not an object",
        {"url": "https://example.com/x", "redirect_status": 303, "max_clicks": 0},
        {"url": "https://example.com/x", "tags": ["\x01bell"]},
        {"url": "https://example.com/ok-2", "key": "fine"},
    ]
    r = await bulk(harness, ada, items)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] == 2 and body["failed"] == 6
    results = body["results"]
    assert [x["index"] for x in results] == list(range(8))
    assert results[0]["ok"] and results[7]["ok"] and results[7]["link"]["key"] == "fine"
    scheme = problem_of(results[1])
    assert scheme["status"] == 422 and scheme["field"] == "url"
    assert scheme["code"] == "url_scheme_not_allowed" and "javascript" in scheme["detail"]
    assert scheme["type"] == "urn:linkhop:problem:url_scheme_not_allowed"
    unknown = problem_of(results[2])
    assert unknown["code"] == "validation_failed" and unknown["errors"][0]["field"] == "colour"
    assert problem_of(results[3])["code"] == "key_reserved"
    assert problem_of(results[4])["code"] == "validation_failed"
    two = problem_of(results[5])
    assert {e["field"] for e in two["errors"]} == {"redirect_status", "max_clicks"}
    assert problem_of(results[6])["field"] == "tags"
    assert len(await keys_of(harness, ada)) == 2
    # One audit event per created link, none for the refused ones.
    events = await created_events(harness)
    assert sorted(t for t, _, _ in events) == sorted(results[i]["link"]["id"] for i in (0, 7))


async def test_duplicate_keys_in_the_batch_and_in_the_database(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/old", key="taken", external_id="crm-1")
    r = await bulk(
        harness,
        ada,
        [
            {"url": "https://example.com/1", "key": "Promo"},
            {"url": "https://example.com/2", "key": "promo"},
            {"url": "https://example.com/3", "key": "TAKEN"},
            {"url": "https://example.com/4", "external_id": "crm-1"},
            {"url": "https://example.com/5", "external_id": "crm-2"},
            {"url": "https://example.com/6", "external_id": "crm-2"},
            {"url": "https://example.com/7"},
        ],
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["ok"] for x in results] == [True, False, False, False, True, False, True]
    again = problem_of(results[1])
    assert again["status"] == 409 and again["code"] == "key_taken" and "item 0" in again["detail"]
    taken = problem_of(results[2])
    assert taken["status"] == 409 and taken["code"] == "key_taken" and taken["field"] == "key"
    assert "already taken on lh.test" in taken["detail"]
    assert problem_of(results[3])["field"] == "external_id"
    assert "item 4" in problem_of(results[5])["detail"]
    assert await keys_of(harness, ada) == {
        "taken",
        "Promo",
        results[4]["link"]["key"],
        results[6]["link"]["key"],
    }


async def test_many_random_keys_are_unique(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await bulk(harness, ada, [{"url": f"https://example.com/{i}"} for i in range(300)])
    assert r.status_code == 200 and r.json()["created"] == 300
    keys = [x["link"]["key"] for x in r.json()["results"]]
    assert len(set(keys)) == 300


async def test_too_many_or_no_links_is_a_422_problem(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await bulk(harness, ada, [{"url": f"https://example.com/{i}"} for i in range(1001)])
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "too_many_links" and "1000" in r.json()["detail"]
    r = await bulk(harness, ada, [])
    assert r.status_code == 422 and r.json()["code"] == "bulk_empty"
    r = await harness.client.post(BULK, json=[{"url": "https://e.com"}], headers=ada.auth)
    assert r.status_code == 422  # the body is an object with `links`, not a bare list
    assert await keys_of(harness, ada) == set()
    assert await created_events(harness) == []


async def test_all_or_nothing(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/old", key="taken")
    good = {"url": "https://example.com/good"}
    r = await bulk(harness, ada, [good, {"url": "ftp://x"}, good], all_or_nothing=True)
    assert r.status_code == 422 and r.json()["code"] == "bulk_rejected"
    assert r.json()["errors"] == [
        {"field": "links.1.url", "message": r.json()["errors"][0]["message"]}
    ]
    # A conflict found by the database itself rolls back the rows already inserted.
    r = await bulk(
        harness, ada, [good, {"url": "https://e.com", "key": "taken"}], all_or_nothing=True
    )
    assert r.status_code == 409 and r.json()["code"] == "bulk_rejected"
    assert r.json()["errors"][0]["field"] == "links.1.key"
    # Refusals found before and by the database are all named.
    mixed = [{"url": "ftp://x"}, {"url": "https://e.com", "key": "taken"}, good]
    r = await bulk(harness, ada, mixed, all_or_nothing=True)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["links.0.url", "links.1.key"]
    assert await keys_of(harness, ada) == {"taken"}
    assert len(await created_events(harness)) == 1  # only the link made before
    r = await bulk(harness, ada, [good, good], all_or_nothing=True)
    assert r.status_code == 200 and r.json()["created"] == 2


async def test_needs_links_write(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    # A viewer cannot mint a key: make a member's key, then demote the member.
    vic = await harness.account("vic@example.com", role="member")
    demoted = await harness.client.patch(
        f"/api/v1/org/members/{vic.user_id}", json={"role": "viewer"}, headers=ada.auth
    )
    assert demoted.status_code == 200, demoted.text
    reader = await harness.account("rea@example.com", role="member", scopes="links:read")
    for who in (vic, reader):
        r = await bulk(harness, who, [{"url": "https://example.com/x"}])
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
        assert "links:write" in r.json()["detail"]
    assert await keys_of(harness, reader) == set()


async def test_orgs_are_isolated(harness: Harness) -> None:
    ada = await harness.account("ada@example.com", org="Acme")
    bob = await harness.account("bob@beta.example", org="Beta")
    await harness.create_link(bob, url="https://beta-secret.example/", key="launch", tags=["b"])
    r = await bulk(
        harness,
        ada,
        [
            {"url": "https://acme.example/1", "key": "LAUNCH"},
            {"url": "https://acme.example/2", "tags": ["b"]},
        ],
    )
    assert r.status_code == 200, r.text
    taken, made = r.json()["results"]
    assert problem_of(taken)["code"] == "key_taken" and "beta-secret" not in r.text
    ada_tag = made["link"]["tags"][0]
    bob_tags = (await harness.client.get("/api/v1/tags", headers=bob.auth)).json()
    assert ada_tag["id"] not in {t["id"] for t in bob_tags}  # a new tag of org A
    assert await keys_of(harness, bob) == {"launch"}
    assert await keys_of(harness, ada) == {made["link"]["key"]}
    got = await harness.client.get(f"/api/v1/links/{made['link']['id']}", headers=bob.auth)
    assert got.status_code == 404


async def test_audit_event_per_link_with_a_shared_batch(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    key_id = (await harness.client.get("/api/v1/me", headers=ada.auth)).json()["api_key_id"]
    r = await bulk(harness, ada, [{"url": f"https://example.com/{i}"} for i in range(5)])
    links = {x["link"]["id"]: x["link"] for x in r.json()["results"]}
    events = await created_events(harness)
    assert sorted(t for t, _, _ in events) == sorted(links)
    assert {actor for _, actor, _ in events} == {key_id}
    assert len({data["batch"] for _, _, data in events}) == 1
    for target, _, data in events:
        assert target is not None
        assert data["key"] == links[target]["key"] and data["url"] == links[target]["url"]


async def test_passwords_are_hashed_once_per_distinct_value(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    items = [{"url": f"https://example.com/{i}", "password": "open sesame"} for i in range(3)]
    r = await bulk(harness, ada, [*items, {"url": "https://example.com/p", "key": "locked"}])
    assert r.status_code == 200 and r.json()["created"] == 4
    flags = [x["link"]["password_protected"] for x in r.json()["results"]]
    assert flags == [True, True, True, False]
    key = r.json()["results"][0]["link"]["key"]
    assert (await harness.client.get(f"/{key}")).status_code == 401  # the password page
