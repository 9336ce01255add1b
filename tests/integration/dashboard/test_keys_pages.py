"""The API keys page: create with scopes and expiry (shown once), list, revoke."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from sqlalchemy import func, select

from linkhop.api_keys.models import ApiKey
from linkhop.db.engine import unit_of_work
from tests.integration.dashboard.web import (
    Browser,
    add_member,
    audit_actions,
    audit_count,
    field_errors,
    sign_in,
    text_of,
)
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

NEW_KEY = re.compile(r'id="new-api-key"[^>]*>([^<]+)<')


async def _owner(h: Harness) -> tuple[Account, Browser]:
    ada = await h.account("ada@example.com")
    return ada, await sign_in(h, ada.email)


async def _create(
    b: Browser, data: dict[str, str | list[str]], *, csrf: str | None = None
) -> httpx.Response:
    """POST the create form (``scopes`` may be several ticked boxes)."""
    body = {"csrf_token": b.csrf if csrf is None else csrf, "tz": "UTC", **data}
    return await b.client.post("/app/keys", data=body)


async def _key_count(h: Harness) -> int:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return int((await session.execute(select(func.count()).select_from(ApiKey))).scalar_one())


async def _row(h: Harness, name: str) -> ApiKey:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return (await session.execute(select(ApiKey).where(ApiKey.name == name))).scalar_one()


async def test_keys_page_offers_only_the_scopes_a_role_holds(harness: Harness) -> None:
    ada, owner = await _owner(harness)
    page = await owner.get("/app/keys")
    assert page.status_code == 200 and 'data-testid="nav-keys" aria-current="page"' in page.text
    assert 'id="create-key-form"' in page.text
    for scope in ("links:write", "members:write", "audit:read", "org:write"):
        assert f'value="{scope}"' in page.text, scope
    # The harness's key for ada is listed (by its prefix, never the key).
    assert 'data-testid="key-row"' in page.text and ada.key not in page.text
    assert (await _row(harness, "test")).display in page.text
    for label in ("name", "expires", "expires_on", "scope-links-read"):
        assert f'<label for="{label}"' in page.text, label

    await add_member(harness, "mia@example.com", org_id=ada.org_id, role="member")
    mia = await sign_in(harness, "mia@example.com")
    page = await mia.get("/app/keys")
    assert 'value="links:write"' in page.text and 'value="keys:write"' in page.text
    for scope in ("members:write", "domains:write", "org:write", "audit:read"):
        assert f'value="{scope}"' not in page.text, scope
    assert (await _row(harness, "test")).display not in page.text  # only their own keys
    assert text_of(page.text, "no-keys") == "No API keys yet."


async def test_create_a_key_shown_once_that_works_until_revoked(harness: Harness) -> None:
    _, b = await _owner(harness)
    await b.get("/app/keys")
    r = await _create(
        b, {"name": "CRM sync", "scopes": ["links:read", "analytics:read"], "expires": "30"}
    )
    assert r.status_code == 201, r.text
    found = NEW_KEY.search(r.text)
    assert found
    key = unescape(found.group(1)).strip()
    assert key.startswith("lnk_live_")
    assert f'data-copy="{key}"' in r.text and 'data-testid="copy-api-key"' in r.text
    row = await _row(harness, "CRM sync")
    assert row.scopes == ["links:read", "analytics:read"]
    assert row.expires_at is not None
    assert abs(row.expires_at - (row.created_at + timedelta(days=30))) < timedelta(seconds=1)
    assert "api_key.created" in await audit_actions(harness)

    api = {"Authorization": f"Bearer {key}"}
    assert (await harness.client.get("/api/v1/links", headers=api)).status_code == 200
    # Its scopes hold: no writing links with a read-only key.
    denied = await harness.client.post(
        "/api/v1/links", json={"url": "https://x.example"}, headers=api
    )
    assert denied.status_code == 403

    again = await b.get("/app/keys")
    assert key not in again.text and 'id="new-api-key"' not in again.text
    assert row.display in again.text
    used = re.search(
        rf'data-key-id="{row.id}".*?data-testid="key-last-used">([^<]*)<', again.text, re.S
    )
    assert used and used.group(1).strip() != "Never"  # the API call above was recorded

    confirm = await b.get(f"/app/keys/{row.id}/revoke")
    assert confirm.status_code == 200 and 'id="confirm-revoke"' in confirm.text
    assert (await harness.client.get("/api/v1/links", headers=api)).status_code == 200
    done = await b.post(f"/app/keys/{row.id}/revoke")
    assert done.status_code == 303
    after = await b.get("/app/keys")
    assert "Revoked “CRM sync”" in (text_of(after.text, "flash") or "")
    assert 'data-testid="key-revoked"' in after.text
    assert "api_key.revoked" in await audit_actions(harness)
    refused = await harness.client.get("/api/v1/links", headers=api)
    assert refused.status_code == 401 and "revoked" in refused.text


async def test_expiry_choices(harness: Harness) -> None:
    _, b = await _owner(harness)
    await b.get("/app/keys")
    on = (datetime.now(UTC) + timedelta(days=10)).date()
    for name, expires, expires_on, days in (
        ("forever", "never", "", None),
        ("a year", "365", "", 365),
        ("dated", "date", on.isoformat(), 10),
    ):
        r = await _create(
            b,
            {"name": name, "scopes": ["links:read"], "expires": expires, "expires_on": expires_on},
        )
        assert r.status_code == 201, (name, field_errors(r.text))
        row = await _row(harness, name)
        if days is None:
            assert row.expires_at is None
        else:
            assert row.expires_at is not None
            assert abs(row.expires_at - (row.created_at + timedelta(days=days))) < timedelta(
                seconds=1
            )


async def test_bad_input_is_shown_inline_and_creates_nothing(harness: Harness) -> None:
    _, b = await _owner(harness)
    await b.get("/app/keys")
    before = await _key_count(harness)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    for data, field, words in (
        ({"name": "", "scopes": ["links:read"], "expires": "never"}, "name", "Give the key a name"),
        ({"name": "x", "expires": "never"}, "scopes", "at least one scope"),
        (
            {"name": "x", "scopes": ["links:read"], "expires": "date", "expires_on": yesterday},
            "expires_on",
            "after today",
        ),
        (
            {"name": "x", "scopes": ["links:read"], "expires": "date", "expires_on": "soon"},
            "expires_on",
            "Enter a date",
        ),
        ({"name": "x", "scopes": ["links:read"], "expires": "99999"}, "expires", "expiry must be"),
        ({"name": "x", "scopes": ["links:fly"], "expires": "never"}, "scopes", "unknown scope"),
    ):
        r = await _create(b, data)
        assert r.status_code == 422, data
        errors = field_errors(r.text)
        assert words.lower() in errors.get(field, "").lower(), (data, errors)
        assert text_of(r.text, "form-error") and 'id="new-api-key"' not in r.text
    r = await _create(b, {"name": "kept", "expires": "never"})
    assert 'value="kept"' in r.text  # the form keeps what was typed
    assert await _key_count(harness) == before


async def test_scopes_beyond_the_role_and_viewers_are_refused(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    await add_member(harness, "mia@example.com", org_id=ada.org_id, role="member")
    await add_member(harness, "vic@example.com", org_id=ada.org_id, role="viewer")
    mia = await sign_in(harness, "mia@example.com")
    vic = await sign_in(harness, "vic@example.com")
    await mia.get("/app/keys")
    before, audits = await _key_count(harness), await audit_count(harness)
    r = await _create(mia, {"name": "sneaky", "scopes": ["members:write"], "expires": "never"})
    assert r.status_code == 403 and "members:write" in (text_of(r.text, "error-message") or "")
    # A member cannot see (or revoke) the owner's key.
    owner_key = (await _row(harness, "test")).id
    assert (await mia.get(f"/app/keys/{owner_key}/revoke")).status_code == 404
    assert (await mia.post(f"/app/keys/{owner_key}/revoke")).status_code == 404

    page = await vic.get("/app/keys")
    assert page.status_code == 200 and text_of(page.text, "read-only")
    assert 'id="create-key-form"' not in page.text and 'data-testid="revoke-key"' not in page.text
    r = await _create(vic, {"name": "viewer key", "scopes": ["links:read"], "expires": "never"})
    assert r.status_code == 403 and "keys:write" in (text_of(r.text, "error-message") or "")
    assert (await vic.post(f"/app/keys/{owner_key}/revoke")).status_code == 403
    assert await _key_count(harness) == before and await audit_count(harness) == audits
    assert (await harness.client.get("/api/v1/links", headers=ada.auth)).status_code == 200


async def test_another_orgs_key_is_404_and_keeps_working(harness: Harness) -> None:
    _, a = await _owner(harness)
    bob = await harness.account("bob@beta.example", org="Beta")
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        key_id = (
            await session.execute(select(ApiKey.id).where(ApiKey.org_id == bob.org_id))
        ).scalar_one()
    await a.get("/app/keys")
    assert (await a.get(f"/app/keys/{key_id}/revoke")).status_code == 404
    r = await a.post(f"/app/keys/{key_id}/revoke")
    assert r.status_code == 404 and text_of(r.text, "error-page") is not None
    assert (await harness.client.get("/api/v1/links", headers=bob.auth)).status_code == 200
    assert "beta.example" not in (await a.get("/app/keys")).text


async def test_a_tampered_csrf_token_creates_and_revokes_nothing(harness: Harness) -> None:
    ada, b = await _owner(harness)
    await b.get("/app/keys")
    before = await _key_count(harness)
    flipped = b.csrf[:-1] + ("0" if b.csrf[-1] != "0" else "1")
    r = await _create(b, {"name": "x", "scopes": ["links:read"], "expires": "never"}, csrf=flipped)
    assert r.status_code == 403 and "nothing was changed" in r.text
    key_id = (await _row(harness, "test")).id
    assert (await b.post(f"/app/keys/{key_id}/revoke", csrf="")).status_code == 403
    assert await _key_count(harness) == before
    assert (await harness.client.get("/api/v1/links", headers=ada.auth)).status_code == 200
