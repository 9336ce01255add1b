"""The links pages: create with every option, edit, archive, delete, inline errors, list."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from linkhop.audit.models import AuditEvent
from linkhop.db.engine import unit_of_work
from tests.integration.dashboard.web import (
    Browser,
    audit_actions,
    audit_count,
    field_errors,
    sign_in,
    text_of,
)
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
EVERY_OPTION = {
    "url": "https://example.com/spring?ref=mail",
    "domain": "lh.test",
    "key": "spring-sale",
    "title": "Spring sale",
    "comments": "for the newsletter",
    "tags": "Spring, newsletter",
    "utm_source": "newsletter",
    "utm_medium": "email",
    "utm_campaign": "spring sale",
    "utm_term": "shoes",
    "utm_content": "banner",
    "redirect_status": "301",
    "max_clicks": "500",
    "expires_at": "2031-03-01T18:30",
    "tz": "Europe/Berlin",
    "expired_url": "https://example.com/over",
    "password": "open sesame",
    "external_id": "crm-42",
    "forward_query": "off",  # an unticked box: only its hidden field is sent
}


async def _owner(h: Harness) -> tuple[Account, Browser]:
    ada = await h.account("ada@example.com")
    return ada, await sign_in(h, ada.email)


async def _api_link(h: Harness, account: Account, link_id: str) -> dict[str, Any]:
    r = await h.client.get(f"/api/v1/links/{link_id}", headers=account.auth)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def _api_links(h: Harness, account: Account, **params: str) -> list[dict[str, Any]]:
    r = await h.client.get("/api/v1/links", params=params, headers=account.auth)
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def _row_ids(html: str) -> list[str]:
    return re.findall(r'data-testid="link-row" data-link-id="([^"]+)"', html)


async def test_create_a_link_with_every_option(harness: Harness) -> None:
    ada, b = await _owner(harness)
    form = await b.get("/app/links/new")
    assert form.status_code == 200
    for name in EVERY_OPTION:
        if name != "tz":
            assert f'<label for="{name}"' in form.text, f"{name} has no label"
    r = await b.post("/app/links/new", EVERY_OPTION)
    assert r.status_code == 303 and r.headers["location"] == "/app/links"
    page = await b.get("/app/links")
    assert text_of(page.text, "flash") == "Created http://lh.test/spring-sale"

    [link] = await _api_links(harness, ada)
    assert link["key"] == "spring-sale" and link["domain"] == "lh.test"
    assert link["url"] == "https://example.com/spring?ref=mail"
    assert link["title"] == "Spring sale" and link["comments"] == "for the newsletter"
    assert sorted(t["name"] for t in link["tags"]) == ["Spring", "newsletter"]
    assert link["utm_campaign"] == "spring sale" and link["utm_content"] == "banner"
    assert link["redirect_status"] == 301 and link["forward_query"] is False
    assert link["max_clicks"] == 500 and link["password_protected"] is True
    assert link["expires_at"].startswith("2031-03-01T17:30:00")  # 18:30 in Berlin is 17:30 UTC
    assert link["expired_url"] == "https://example.com/over"
    assert link["external_id"] == "crm-42"
    assert "link.created" in await audit_actions(harness)
    # The page shows it with its short link and a copy button.
    assert _row_ids(page.text) == [link["id"]]
    assert 'data-copy="http://lh.test/spring-sale"' in page.text


async def test_create_with_nothing_but_a_url_uses_the_defaults(harness: Harness) -> None:
    ada, b = await _owner(harness)
    await b.get("/app/links/new")
    r = await b.post(
        "/app/links/new",
        {"url": "https://example.com/", "domain": "lh.test", "forward_query": "on", "tz": "UTC"},
    )
    assert r.status_code == 303, r.text
    [link] = await _api_links(harness, ada)
    assert len(link["key"]) == 7 and link["redirect_status"] == 302
    assert link["forward_query"] is True and link["tags"] == []
    assert link["expires_at"] is None and link["password_protected"] is False


async def test_invalid_input_is_shown_inline_with_the_apis_message(harness: Harness) -> None:
    ada, b = await _owner(harness)
    await harness.create_link(ada, url="https://example.com/", key="taken")
    before = await audit_count(harness)
    await b.get("/app/links/new")
    cases = [
        ({"url": "javascript:alert(1)"}, "url", {"url": "javascript:alert(1)"}),
        ({"url": "https://example.com/", "key": "TAKEN"}, "key", {"url": "https://x.example/"}),
        ({"url": "https://example.com/", "max_clicks": "0"}, "max_clicks", None),
        ({"url": "https://example.com/", "max_clicks": "many"}, "max_clicks", None),
        ({"url": "https://example.com/", "key": "a/b"}, "key", None),
        ({"url": "https://example.com/", "expires_at": "soon"}, "expires_at", None),
        ({"url": "https://example.com/", "redirect_status": "303"}, "redirect_status", None),
    ]
    for data, field, _ in cases:
        r = await b.post("/app/links/new", data)
        assert r.status_code == 422, (data, r.text)
        errors = field_errors(r.text)
        assert field in errors, (data, errors)
        assert 'aria-invalid="true"' in r.text
        assert text_of(r.text, "form-error")
        for name, value in data.items():  # what was typed is shown again
            assert f'value="{value}"' in r.text or name in {"redirect_status"}
    # The messages are the API's own (sentence-cased).
    api = await harness.client.post(
        "/api/v1/links", json={"url": "https://example.com/", "key": "TAKEN"}, headers=ada.auth
    )
    r = await b.post("/app/links/new", {"url": "https://example.com/", "key": "TAKEN"})
    detail = api.json()["detail"]
    assert field_errors(r.text)["key"] == detail[0].upper() + detail[1:]
    assert [link["key"] for link in await _api_links(harness, ada)] == ["taken"]
    assert await audit_count(harness) == before  # refused: nothing written, not even tags
    r = await b.post(
        "/app/links/new", {"url": "https://example.com/", "key": "TAKEN", "tags": "fresh"}
    )
    tags = await harness.client.get("/api/v1/tags", headers=ada.auth)
    assert [t["name"] for t in tags.json()] == []


async def test_edit_changes_only_what_was_changed(harness: Harness) -> None:
    ada, b = await _owner(harness)
    link = await harness.create_link(
        ada, url="https://example.com/a", key="old", password="open sesame", tags=["x"]
    )
    form = await b.get(f"/app/links/{link['id']}")
    assert form.status_code == 200 and 'id="link-form"' in form.text
    assert 'value="https://example.com/a"' in form.text and 'value="old"' in form.text
    assert "open sesame" not in form.text and "remove_password" in form.text
    values = dict(
        re.findall(
            r'<input id="(\w+)" name="\w+" type="(?:text|url|number)"\s+value="([^"]*)"', form.text
        )
    )
    values.update(tz="UTC", redirect_status="302", forward_query="on")

    unchanged = await b.post(f"/app/links/{link['id']}", values)
    assert unchanged.status_code == 303
    assert text_of((await b.get("/app/links")).text, "flash") == "Nothing changed."

    before = await audit_count(harness)
    await b.get(f"/app/links/{link['id']}")
    r = await b.post(
        f"/app/links/{link['id']}",
        {**values, "key": "new", "title": "Renamed", "tags": "x, y", "remove_password": "on"},
    )
    assert r.status_code == 303, r.text
    got = await _api_link(harness, ada, link["id"])
    assert got["key"] == "new" and got["title"] == "Renamed"
    assert got["password_protected"] is False
    assert sorted(t["name"] for t in got["tags"]) == ["x", "y"]
    assert got["url"] == "https://example.com/a" and got["redirect_status"] == 302
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        event = (
            await session.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
        ).scalar_one()
    assert event.action == "link.updated" and await audit_count(harness) == before + 1
    assert set(event.data) == {"key", "title", "tags", "password"}
    # The old short key is free now, the new one redirects.
    assert (await harness.client.get("/new")).status_code == 302
    assert (await harness.client.get("/old")).status_code == 404


async def test_edit_errors_keep_the_link_unchanged(harness: Harness) -> None:
    ada, b = await _owner(harness)
    await harness.create_link(ada, url="https://example.com/", key="taken")
    link = await harness.create_link(ada, url="https://example.com/a", key="mine")
    await b.get(f"/app/links/{link['id']}")
    r = await b.post(
        f"/app/links/{link['id']}",
        {"url": "https://example.com/b", "key": "taken", "title": "T", "tags": "new-tag"},
    )
    assert r.status_code == 422
    assert "already taken" in field_errors(r.text)["key"]
    assert 'value="https://example.com/b"' in r.text  # the typed values stay in the form
    got = await _api_link(harness, ada, link["id"])
    assert got["url"] == "https://example.com/a" and got["key"] == "mine" and got["title"] is None
    assert got["tags"] == []


async def test_archive_restore_and_delete(harness: Harness) -> None:
    ada, b = await _owner(harness)
    link = await harness.create_link(ada, url="https://example.com/a", key="promo")
    page = await b.get("/app/links")
    assert 'data-confirm="Archive http://lh.test/promo?' in page.text
    r = await b.post(f"/app/links/{link['id']}/archive", {"archived": "1"})
    assert r.status_code == 303
    assert (await _api_link(harness, ada, link["id"]))["archived"] is True
    live = await b.get("/app/links")
    assert _row_ids(live.text) == [] and "Archived http://lh.test/promo" in live.text
    archived = await b.get("/app/links?status=archived")
    assert _row_ids(archived.text) == [link["id"]]
    await b.post(f"/app/links/{link['id']}/archive", {"archived": "0"})
    assert (await _api_link(harness, ada, link["id"]))["archived"] is False

    confirm = await b.get(f"/app/links/{link['id']}/delete")
    assert confirm.status_code == 200 and 'id="confirm-delete"' in confirm.text
    assert (await _api_link(harness, ada, link["id"]))["key"] == "promo"  # asking changed nothing
    r = await b.post(f"/app/links/{link['id']}/delete")
    assert r.status_code == 303
    gone = await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)
    assert gone.status_code == 404
    assert (await harness.client.get("/promo")).status_code == 404
    assert {"link.updated", "link.deleted"} <= set(await audit_actions(harness))
    assert (await b.get(f"/app/links/{link['id']}")).status_code == 404


async def test_list_search_filters_sort_and_pages(harness: Harness) -> None:
    ada, b = await _owner(harness)
    ids = {}
    for i in range(55):
        link = await harness.create_link(
            ada, url=f"https://example.com/{i}", key=f"k{i:02d}", tags=["odd" if i % 2 else "even"]
        )
        ids[f"k{i:02d}"] = link["id"]
    page = await b.get("/app/links")
    first = _row_ids(page.text)
    assert len(first) == 50 and first[0] == ids["k54"]  # newest first
    nxt = re.search(r'rel="next" href="([^"]+)"', page.text)
    assert nxt is not None
    second = await b.get(nxt.group(1).replace("&amp;", "&"))
    assert _row_ids(second.text) == [ids[f"k{i:02d}"] for i in range(4, -1, -1)]
    assert 'rel="next"' not in second.text and 'data-testid="first-page"' in second.text

    by_key = await b.get("/app/links?sort=key")
    assert _row_ids(by_key.text)[:2] == [ids["k00"], ids["k01"]]
    search = await b.get("/app/links?q=k1")
    assert sorted(_row_ids(search.text)) == sorted(ids[f"k1{i}"] for i in range(10))
    tagged = await b.get("/app/links?tag=ODD&sort=key")
    assert _row_ids(tagged.text)[:2] == [ids["k01"], ids["k03"]]
    assert len(_row_ids(tagged.text)) == 27
    assert _row_ids((await b.get("/app/links?domain=other.example")).text) == []
    assert _row_ids((await b.get("/app/links?domain=lh.test&q=k54")).text) == [ids["k54"]]
    nothing = await b.get("/app/links?q=zzz")
    assert text_of(nothing.text, "empty-links") is not None and "No links match" in nothing.text
    bad = await b.get("/app/links?sort=-url")
    assert bad.status_code == 200 and "Unknown sort" in (text_of(bad.text, "list-error") or "")

    # htmx asks for the results only: the fragment, without the page around it.
    partial = await b.get(
        "/app/links?q=k5", headers={"HX-Request": "true", "HX-Target": "links-results"}
    )
    assert partial.text.lstrip().startswith('<div id="links-results"')
    assert "<html" not in partial.text and len(_row_ids(partial.text)) == 5


async def test_click_counts_show_in_the_list(harness: Harness) -> None:
    ada, b = await _owner(harness)
    link = await harness.create_link(ada, url="https://example.com/a", key="hop")
    for _ in range(3):
        assert (
            await harness.client.get("/hop", headers={"user-agent": BROWSER_UA})
        ).status_code == 302
    assert await harness.ingest() == 3
    page = await b.get("/app/links")
    row = page.text.split(f'data-link-id="{link["id"]}"')[1]
    assert text_of(row, "clicks") == "3"


async def test_a_key_that_starts_with_app_is_a_short_link(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await harness.create_link(ada, url="https://example.com/fruit", key="apple")
    r = await harness.client.get("/apple")
    assert r.status_code == 302 and r.headers["location"] == "https://example.com/fruit"


async def test_saving_the_form_keeps_an_expiry_set_to_the_second(harness: Harness) -> None:
    ada, b = await _owner(harness)
    link = await harness.create_link(
        ada, url="https://example.com/a", expires_at="2031-01-01T10:00:30Z"
    )
    form = await b.get(f"/app/links/{link['id']}")
    assert 'value="2031-01-01T10:00"' in form.text  # shown in the browser's zone (UTC here)
    r = await b.post(
        f"/app/links/{link['id']}",
        {"expires_at": "2031-01-01T10:00", "tz": "UTC", "title": "Renamed"},
    )
    assert r.status_code == 303
    got = await _api_link(harness, ada, link["id"])
    assert got["title"] == "Renamed" and got["expires_at"].startswith("2031-01-01T10:00:30")
