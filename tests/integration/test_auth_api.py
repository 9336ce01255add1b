"""Authentication and authorisation at the API edge: API keys, scopes, roles, sessions, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from linkhop.api_keys import format as key_format
from linkhop.api_keys.models import ApiKey
from linkhop.auth.models import User
from linkhop.db.engine import unit_of_work
from linkhop.principal import PERMISSIONS
from tests.integration.harness import Account, Harness

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery"  # what harness.account gives every user
CLIENT_IP = "203.0.113.7"  # the harness client's address
EMAILS = ("ada@example.com", "nobody@example.com")
LINK = {"url": "https://example.com/new"}


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert a problem+json response; returns its detail."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if code is not None:
        assert body["code"] == code
    detail: str = body["detail"]
    return detail


async def new_key(h: Harness, account: Account, *scopes: str, **extra: object) -> dict[str, str]:
    """Create a key through the API; returns its JSON (with ``key``)."""
    body = {"name": "k", "scopes": list(scopes), **extra}
    r = await h.client.post("/api/v1/api-keys", headers=account.auth, json=body)
    assert r.status_code == 201, r.text
    created: dict[str, str] = r.json()
    return created


def bearer(key: str) -> dict[str, str]:
    """Authorization header for a raw key."""
    return {"Authorization": f"Bearer {key}"}


async def test_no_credentials_is_401_with_bearer_challenge(harness: Harness) -> None:
    for method, path in (
        ("GET", "/api/v1/links"),
        ("POST", "/api/v1/links"),
        ("GET", "/api/v1/me"),
    ):
        r = await harness.client.request(method, path, json=LINK if method == "POST" else None)
        assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"] == "Bearer"


async def test_each_bad_key_gets_its_own_reason(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    revoked = await new_key(harness, ada, "links:read")
    expired = await new_key(harness, ada, "links:read", expires_in_days=1)
    for key in (revoked["key"], expired["key"]):  # control: both work at first
        assert (await harness.client.get("/api/v1/links", headers=bearer(key))).status_code == 200
    r = await harness.client.delete(f"/api/v1/api-keys/{revoked['id']}", headers=ada.auth)
    assert r.status_code == 200
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == expired["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )

    cases = {
        "missing": {},
        "malformed": bearer("lnk_test_tooshort"),
        "checksum": bearer(ada.key[:20] + ("A" if ada.key[20] != "A" else "B") + ada.key[21:]),
        "unknown": bearer(key_format.generate("test").full),
        "revoked": bearer(revoked["key"]),
        "expired": bearer(expired["key"]),
    }
    details = {}
    for name, headers in cases.items():
        r = await harness.client.get("/api/v1/links", headers=headers)
        details[name] = assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"] == "Bearer", name
    assert len(set(details.values())) == len(cases), details
    assert "revoked" in details["revoked"] and "expired" in details["expired"]
    assert "checksum" in details["checksum"] and "unknown" in details["unknown"]
    assert all(ada.key not in d for d in details.values())


async def test_key_in_the_url_is_refused(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    for param in ("api_key", "token"):
        r = await harness.client.get("/api/v1/links", params={param: ada.key})
        assert "Authorization header" in assert_problem(r, 401, "unauthenticated")
        # Refused even alongside a good header: the key has leaked into logs and history.
        r = await harness.client.get("/api/v1/links", params={param: ada.key}, headers=ada.auth)
        assert_problem(r, 401)


async def test_read_scope_cannot_write(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    link = await harness.create_link(ada, url="https://example.com/a", key="keep")
    reader = bearer((await new_key(harness, ada, "links:read"))["key"])
    assert (await harness.client.get("/api/v1/links", headers=reader)).status_code == 200
    got = await harness.client.get(f"/api/v1/links/{link['id']}", headers=reader)
    assert got.status_code == 200
    for method, path, body in (
        ("POST", "/api/v1/links", LINK),
        ("PUT", "/api/v1/links/upsert", LINK),
        ("PATCH", f"/api/v1/links/{link['id']}", {"url": "https://evil.example/"}),
        ("DELETE", f"/api/v1/links/{link['id']}", None),
    ):
        r = await harness.client.request(method, path, json=body, headers=reader)
        assert "links:write" in assert_problem(r, 403, "forbidden"), method
    after = await harness.client.get(f"/api/v1/links/{link['id']}", headers=ada.auth)
    assert after.json() == got.json()
    listed = (await harness.client.get("/api/v1/links", headers=ada.auth)).json()["data"]
    assert [x["id"] for x in listed] == [link["id"]]


async def test_viewer_key_cannot_write_whatever_its_scopes(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    # A viewer cannot hold keys:write, so harness.account cannot mint a viewer's key: make a
    # member's key, demote the member, then store every scope on the key. The role must still
    # win (scopes ∩ role).
    vic = await harness.account("vic@example.com", role="member")
    r = await harness.client.patch(
        f"/api/v1/org/members/{vic.user_id}", json={"role": "viewer"}, headers=ada.auth
    )
    assert r.status_code == 200, r.text
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(
            update(ApiKey).where(ApiKey.key_id == vic.key[9:17]).values(scopes=list(PERMISSIONS))
        )
    assert (await harness.client.get("/api/v1/links", headers=vic.auth)).status_code == 200
    assert_problem(await harness.client.post("/api/v1/links", json=LINK, headers=vic.auth), 403)
    assert_problem(
        await harness.client.post("/api/v1/tags", json={"name": "t"}, headers=vic.auth), 403
    )
    r = await harness.client.post(
        "/api/v1/api-keys", headers=vic.auth, json={"name": "mine", "scopes": ["links:write"]}
    )
    assert_problem(r, 403, "forbidden")
    r = await harness.client.patch(
        f"/api/v1/org/members/{vic.user_id}", json={"role": "owner"}, headers=vic.auth
    )
    assert_problem(r, 403, "forbidden")
    me = (await harness.client.get("/api/v1/me", headers=vic.auth)).json()
    assert me["role"] == "viewer" and "links:write" not in me["permissions"]


async def test_member_cannot_mint_a_key_beyond_their_role(harness: Harness) -> None:
    await harness.account("ada@example.com")
    mo = await harness.account("mo@example.com", role="member")
    r = await harness.client.post(
        "/api/v1/api-keys", headers=mo.auth, json={"name": "escalate", "scopes": ["members:write"]}
    )
    assert "members:write" in assert_problem(r, 403, "forbidden")
    r = await harness.client.get("/api/v1/api-keys", headers=mo.auth)
    assert [k["name"] for k in r.json()] == ["test"]  # nothing was created


async def test_demotion_takes_write_power_from_existing_keys_at_once(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    mo = await harness.account("mo@example.com", role="member")
    assert (
        await harness.client.post("/api/v1/links", json=LINK, headers=mo.auth)
    ).status_code == 201
    r = await harness.client.patch(
        f"/api/v1/org/members/{mo.user_id}", json={"role": "viewer"}, headers=ada.auth
    )
    assert r.status_code == 200
    assert_problem(await harness.client.post("/api/v1/links", json=LINK, headers=mo.auth), 403)
    assert (await harness.client.get("/api/v1/links", headers=mo.auth)).status_code == 200
    await harness.client.patch(
        f"/api/v1/org/members/{mo.user_id}", json={"role": "member"}, headers=ada.auth
    )
    assert (
        await harness.client.post("/api/v1/links", json=LINK, headers=mo.auth)
    ).status_code == 201


async def login(h: Harness, email: str) -> tuple[dict[str, str], str]:
    """Sign in; returns a Cookie header for the session and its CSRF token."""
    r = await h.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.cookies["linkhop_session"]
    h.client.cookies.clear()  # cookies travel only where a test sends them explicitly
    assert token not in r.text
    return {"Cookie": f"linkhop_session={token}"}, str(r.json()["csrf_token"])


async def test_login_failures_look_alike_and_are_throttled(harness: Harness) -> None:
    await harness.account("ada@example.com")
    wrong = await harness.client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": "nope"}
    )
    nobody = await harness.client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "nope"}
    )
    assert assert_problem(wrong, 401) == assert_problem(nobody, 401) == "wrong email or password"
    assert "set-cookie" not in wrong.headers
    for _ in range(8):  # ten failures in a row, counting the two above
        r = await harness.client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": "nope"}
        )
        assert_problem(r, 401)
    for password in ("nope", PASSWORD):  # locked: even the right password waits
        r = await harness.client.post(
            "/api/v1/auth/login", json={"email": "ada@example.com", "password": password}
        )
        assert_problem(r, 429, "rate_limited")
        assert 0 < int(r.headers["retry-after"]) <= 900


async def test_session_cookie_flow_with_csrf(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    r = await harness.client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert r.status_code == 200
    flags = [part.strip().lower() for part in r.headers["set-cookie"].split(";")]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    harness.client.cookies.clear()
    cookie, csrf = await login(harness, "ada@example.com")

    me = await harness.client.get("/api/v1/me", headers=cookie)
    assert me.status_code == 200, me.text
    assert me.json()["user_id"] == ada.user_id and me.json()["api_key_id"] is None
    assert me.json()["csrf_token"] == csrf

    link = await harness.create_link(ada, url="https://example.com/kept", key="kept")
    other_cookie, other_csrf = await login(harness, "ada@example.com")
    for token in (None, csrf[:-1] + ("0" if csrf[-1] != "0" else "1"), other_csrf, ""):
        headers = {**cookie, **({"X-CSRF-Token": token} if token is not None else {})}
        for method, path, body in (
            ("POST", "/api/v1/links", LINK),
            ("PATCH", f"/api/v1/links/{link['id']}", {"title": "changed"}),
            ("DELETE", f"/api/v1/links/{link['id']}", None),
        ):
            r = await harness.client.request(method, path, json=body, headers=headers)
            assert "CSRF" in assert_problem(r, 403, "csrf_failed"), (method, token)
    listed = (await harness.client.get("/api/v1/links", headers=cookie)).json()["data"]
    assert [(x["key"], x["title"]) for x in listed] == [("kept", None)]  # nothing written

    r = await harness.client.post(
        "/api/v1/links", json=LINK, headers={**cookie, "X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text
    r = await harness.client.post(
        "/api/v1/links",
        json={"url": "https://example.com/2"},
        headers={**other_cookie, "X-CSRF-Token": other_csrf},
    )
    assert r.status_code == 201, r.text

    out = await harness.client.post("/api/v1/auth/logout", headers={**cookie, "X-CSRF-Token": csrf})
    assert out.status_code == 204
    assert_problem(await harness.client.get("/api/v1/me", headers=cookie), 401, "unauthenticated")
    r = await harness.client.post(
        "/api/v1/links", json=LINK, headers={**cookie, "X-CSRF-Token": csrf}
    )
    assert_problem(r, 401)
    # Signing out one session leaves the other signed in.
    assert (await harness.client.get("/api/v1/me", headers=other_cookie)).status_code == 200


async def test_deactivated_user_is_locked_out_everywhere(harness: Harness) -> None:
    ada = await harness.account("ada@example.com")
    cookie, _ = await login(harness, "ada@example.com")
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(update(User).where(User.id == ada.user_id).values(is_active=False))
    assert_problem(await harness.client.get("/api/v1/me", headers=cookie), 401)
    assert_problem(await harness.client.get("/api/v1/me", headers=ada.auth), 401)
    r = await harness.client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert_problem(r, 401)
