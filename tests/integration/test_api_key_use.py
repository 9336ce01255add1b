"""An API key's ``last_used_at`` and the in-process cache of verified keys."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from linkhop.api_keys import cache as key_cache
from linkhop.api_keys import format as key_format
from linkhop.api_keys.models import ApiKey
from linkhop.auth.models import User
from linkhop.db.engine import unit_of_work
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio


async def key_record(h: Harness, owner: Account, key_id: str) -> dict[str, Any]:
    """The API's record of a key."""
    r = await h.client.get(f"/api/v1/api-keys/{key_id}", headers=owner.auth)
    assert r.status_code == 200, r.text
    record: dict[str, Any] = r.json()
    return record


async def new_key(h: Harness, owner: Account, scopes: list[str]) -> dict[str, Any]:
    """A fresh key of ``owner`` (never used yet)."""
    r = await h.client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": scopes}, headers=owner.auth
    )
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    assert created["last_used_at"] is None
    return created


async def test_a_refused_request_still_records_the_use(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    reader = await new_key(harness, ada, ["links:read"])
    auth = {"Authorization": f"Bearer {reader['key']}"}
    # 403: the key lacks links:write; the request's transaction rolls back.
    r = await harness.client.post("/api/v1/links", json={"url": "https://e.com"}, headers=auth)
    assert r.status_code == 403
    used = (await key_record(harness, ada, reader["id"]))["last_used_at"]
    assert used is not None
    assert abs(datetime.fromisoformat(used) - datetime.now(UTC)) < timedelta(minutes=5)


async def test_an_invalid_body_still_records_the_use(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    writer = await new_key(harness, ada, ["links:write"])
    auth = {"Authorization": f"Bearer {writer['key']}"}
    r = await harness.client.post("/api/v1/links", json={"url": 5}, headers=auth)
    assert r.status_code == 422
    assert (await key_record(harness, ada, writer["id"]))["last_used_at"] is not None


async def test_use_is_written_at_most_once_a_minute(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    reader = await new_key(harness, ada, ["links:read"])
    auth = {"Authorization": f"Bearer {reader['key']}"}
    assert (await harness.client.get("/api/v1/links", headers=auth)).status_code == 200
    first = (await key_record(harness, ada, reader["id"]))["last_used_at"]
    for _ in range(3):
        assert (await harness.client.get("/api/v1/links", headers=auth)).status_code == 200
    assert (await key_record(harness, ada, reader["id"]))["last_used_at"] == first
    # Once the recorded use is more than a minute old, the next request writes it again.
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(
            update(ApiKey).where(ApiKey.id == reader["id"]).values(last_used_at=long_ago)
        )
    assert (await harness.client.get("/api/v1/links", headers=auth)).status_code == 200
    again = datetime.fromisoformat((await key_record(harness, ada, reader["id"]))["last_used_at"])
    assert again > long_ago + timedelta(minutes=4)


async def test_failed_authentication_is_not_a_use(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    reader = await new_key(harness, ada, ["links:read"])
    await harness.client.delete(f"/api/v1/api-keys/{reader['id']}", headers=ada.auth)
    auth = {"Authorization": f"Bearer {reader['key']}"}
    assert (await harness.client.get("/api/v1/links", headers=auth)).status_code == 401
    assert (await key_record(harness, ada, reader["id"]))["last_used_at"] is None


async def test_cached_keys_stop_at_once_when_access_changes(harness: Harness) -> None:
    """A key verified a moment ago is served from memory; any change to access drops it."""
    assert harness.runtime.settings.api_key_cache_seconds > 0
    ada = await harness.account("ada@example.com")
    mo = await harness.account("mo@example.com", role="member")
    assert (await harness.client.get("/api/v1/links", headers=mo.auth)).status_code == 200
    assert len(key_cache.KEYS) > 0  # mo's key is cached now
    # Deactivated straight in the database (as an admin command does), not through the API.
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(update(User).where(User.id == mo.user_id).values(is_active=False))
    r = await harness.client.get("/api/v1/links", headers=mo.auth)
    assert r.status_code == 401 and "deactivated" in r.json()["detail"]
    assert (await harness.client.get("/api/v1/links", headers=ada.auth)).status_code == 200


async def test_an_expired_cached_key_stops(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    reader = await new_key(harness, ada, ["links:read"])
    auth = {"Authorization": f"Bearer {reader['key']}"}
    assert (await harness.client.get("/api/v1/links", headers=auth)).status_code == 200
    # The cached entry carries the expiry it was loaded with; let that moment pass.
    digest = key_format.secret_hash(reader["key"])
    entry = key_cache.KEYS.get(digest, now=time.monotonic(), ttl=3600)
    assert entry is not None and entry.principal.api_key_id == reader["id"]
    past = datetime.now(UTC) - timedelta(seconds=1)
    key_cache.KEYS.put(digest, dataclasses.replace(entry, expires_at=past))
    r = await harness.client.get("/api/v1/links", headers=auth)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
