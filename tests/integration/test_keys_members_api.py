"""API keys and org members through the REST API: who may see, mint, revoke and re-role whom."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

DISPLAY = re.compile(r"^lnk_(live|test)_[0-9A-Za-z]{8}…$")


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem+json response; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


async def create_key(h: Harness, account: Account, **body: Any) -> dict[str, Any]:
    """POST /api-keys (asserting 201)."""
    r = await h.client.post("/api/v1/api-keys", json={"name": "k", **body}, headers=account.auth)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def key_ids(h: Harness, account: Account) -> set[str]:
    """The ids of the keys ``account`` can list."""
    r = await h.client.get("/api/v1/api-keys", headers=account.auth)
    assert r.status_code == 200, r.text
    return {k["id"] for k in r.json()}


async def own_key_id(h: Harness, account: Account) -> str:
    """The id of the key ``account`` authenticates with."""
    return str((await h.client.get("/api/v1/me", headers=account.auth)).json()["api_key_id"])


async def works(h: Harness, key: str) -> bool:
    """Whether ``key`` still authenticates (a 403 for a missing scope still counts)."""
    r = await h.client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code in (200, 401, 403), r.text
    return r.status_code != 401


async def test_key_is_shown_once(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    created = await create_key(
        harness,
        ada,
        name="  CI   deploy ",
        scopes=["links:write", "links:read", "links:read"],
        expires_in_days=30,
    )
    key = created["key"]
    assert DISPLAY.match(created["display"]) and created["display"] == key[:17] + "…"
    assert created["name"] == "CI deploy" and created["scopes"] == ["links:read", "links:write"]
    expires = datetime.fromisoformat(created["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)
    assert await works(harness, key)

    listed = await harness.client.get("/api/v1/api-keys", headers=ada.auth)
    one = await harness.client.get(f"/api/v1/api-keys/{created['id']}", headers=ada.auth)
    for r in (listed, one):
        assert r.status_code == 200
        assert key not in r.text and key[17:] not in r.text and "secret" not in r.text
    assert all("key" not in item for item in listed.json()) and "key" not in one.json()
    # works() used the key (a 403: it lacks org:read), which counts as a use.
    assert one.json()["last_used_at"] is not None
    unchanged = {k: v for k, v in one.json().items() if k != "last_used_at"}
    assert unchanged == {k: v for k, v in created.items() if k not in ("key", "last_used_at")}
    # The harness mints its keys in the test environment.
    harness_key = next(k for k in listed.json() if k["id"] != created["id"])
    assert harness_key["display"] == ada.key[:17] + "…" and ada.key.startswith("lnk_test_")


async def test_bad_key_requests_are_422_naming_the_problem(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for body, field, fragment in (
        ({"scopes": ["links:read", "links:destroy"]}, "scopes", "links:destroy"),
        ({"scopes": []}, "scopes", ""),
        ({"scopes": ["links:read"], "expires_in_days": 0}, "expires_in_days", ""),
        ({"name": " ", "scopes": ["links:read"]}, "name", ""),
    ):
        r = await harness.client.post(
            "/api/v1/api-keys", json={"name": "k", **body}, headers=ada.auth
        )
        problem = assert_problem(r, 422)
        assert field in {e["field"] for e in problem["errors"]}, problem
        assert fragment in problem["detail"]
    assert len(await key_ids(harness, ada)) == 1  # only the harness's own key


async def test_last_used_at_appears_after_use(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    created = await create_key(harness, ada, scopes=["links:read"])
    assert created["last_used_at"] is None
    r = await harness.client.get(
        "/api/v1/links", headers={"Authorization": f"Bearer {created['key']}"}
    )
    assert r.status_code == 200
    got = (await harness.client.get(f"/api/v1/api-keys/{created['id']}", headers=ada.auth)).json()
    used = datetime.fromisoformat(got["last_used_at"])
    assert abs(used - datetime.now(UTC)) < timedelta(minutes=5)
    listed = (await harness.client.get("/api/v1/api-keys", headers=ada.auth)).json()
    assert (
        next(k for k in listed if k["id"] == created["id"])["last_used_at"] == got["last_used_at"]
    )


async def test_members_see_their_own_keys_admins_see_all(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    adam = await harness.account("adam@example.com", role="admin")
    mia = await harness.account("mia@example.com", role="member")
    extra = await create_key(harness, mia, scopes=["links:read"])
    ada_key, adam_key, mia_key = [await own_key_id(harness, a) for a in (ada, adam, mia)]

    assert await key_ids(harness, mia) == {mia_key, extra["id"]}
    assert await key_ids(harness, adam) == {ada_key, adam_key, mia_key, extra["id"]}
    assert await key_ids(harness, ada) == await key_ids(harness, adam)
    for method in ("GET", "DELETE"):
        r = await harness.client.request(method, f"/api/v1/api-keys/{ada_key}", headers=mia.auth)
        assert_problem(r, 404, "not_found")
    assert await works(harness, ada.key)

    r = await harness.client.delete(f"/api/v1/api-keys/{extra['id']}", headers=mia.auth)
    assert r.status_code == 200 and r.json()["revoked_at"] is not None  # their own: fine
    r = await harness.client.delete(f"/api/v1/api-keys/{mia_key}", headers=adam.auth)
    assert r.status_code == 200
    assert not await works(harness, mia.key) and not await works(harness, extra["key"])


async def test_revoke_is_idempotent(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    created = await create_key(harness, ada, scopes=["links:read"])
    first = await harness.client.delete(f"/api/v1/api-keys/{created['id']}", headers=ada.auth)
    again = await harness.client.delete(f"/api/v1/api-keys/{created['id']}", headers=ada.auth)
    assert first.status_code == again.status_code == 200
    assert first.json()["revoked_at"] is not None
    assert again.json()["revoked_at"] == first.json()["revoked_at"]
    assert not await works(harness, created["key"])
    assert await works(harness, ada.key)
    listed = (await harness.client.get("/api/v1/api-keys", headers=ada.auth)).json()
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] is not None


async def role_of(h: Harness, account: Account, user_id: str) -> str:
    """A member's role as ``account`` sees it."""
    r = await h.client.get(f"/api/v1/org/members/{user_id}", headers=account.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["role"])


async def set_role(h: Harness, account: Account, user_id: str, role: str) -> httpx.Response:
    """PATCH a member's role as ``account``."""
    return await h.client.patch(
        f"/api/v1/org/members/{user_id}", json={"role": role}, headers=account.auth
    )


async def test_list_members(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    mia = await harness.account("mia@example.com", role="member")
    for viewer in (ada, mia):
        r = await harness.client.get("/api/v1/org/members", headers=viewer.auth)
        assert r.status_code == 200
        assert [(m["email"], m["role"]) for m in r.json()] == [
            ("ada@example.com", "owner"),
            ("mia@example.com", "member"),
        ]
        assert all("password" not in str(m) for m in r.json())


async def test_role_changes_follow_the_rules(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    adam = await harness.account("adam@example.com", role="admin")
    mia = await harness.account("mia@example.com", role="member")

    assert (await set_role(harness, adam, mia.user_id, "viewer")).status_code == 200
    # Admins manage members, but ownership is the owners' to give and take.
    assert_problem(await set_role(harness, adam, mia.user_id, "owner"), 403, "forbidden")
    assert_problem(await set_role(harness, adam, adam.user_id, "owner"), 403, "forbidden")
    assert_problem(await set_role(harness, adam, ada.user_id, "admin"), 403, "forbidden")
    # Viewers and members cannot change roles at all.
    assert_problem(await set_role(harness, mia, mia.user_id, "admin"), 403, "forbidden")
    assert_problem(await set_role(harness, mia, adam.user_id, "viewer"), 403, "forbidden")
    # The last owner stays an owner.
    assert_problem(await set_role(harness, ada, ada.user_id, "admin"), 409, "conflict")
    bad = assert_problem(await set_role(harness, ada, mia.user_id, "superuser"), 422)
    assert bad["errors"][0]["field"] == "role"

    assert (await set_role(harness, ada, adam.user_id, "owner")).status_code == 200
    assert (await set_role(harness, adam, ada.user_id, "member")).status_code == 200
    assert_problem(await set_role(harness, adam, adam.user_id, "admin"), 409, "conflict")
    roles = {u.user_id: await role_of(harness, adam, u.user_id) for u in (ada, adam, mia)}
    assert roles == {ada.user_id: "member", adam.user_id: "owner", mia.user_id: "viewer"}


async def test_remove_member(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    adam = await harness.account("adam@example.com", role="admin")
    mia = await harness.account("mia@example.com", role="member")

    assert_problem(
        await harness.client.delete(f"/api/v1/org/members/{adam.user_id}", headers=mia.auth),
        403,
        "forbidden",
    )
    for who in (adam, ada):  # an admin cannot remove the owner; the last owner cannot leave
        r = await harness.client.delete(f"/api/v1/org/members/{ada.user_id}", headers=who.auth)
        assert_problem(r, 403 if who is adam else 409)
    r = await harness.client.delete(f"/api/v1/org/members/{mia.user_id}", headers=adam.auth)
    assert r.status_code == 204
    listed = (await harness.client.get("/api/v1/org/members", headers=ada.auth)).json()
    assert {m["user_id"] for m in listed} == {ada.user_id, adam.user_id}
    # The removed member's keys stop working at once.
    r = await harness.client.get("/api/v1/links", headers=mia.auth)
    assert "left the organisation" in assert_problem(r, 401, "unauthenticated")["detail"]
    r = await harness.client.delete(f"/api/v1/org/members/{mia.user_id}", headers=adam.auth)
    assert_problem(r, 404, "not_found")
