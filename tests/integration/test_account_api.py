"""Your own account through the REST API: change the password, list and end sessions, sign out
with a CSRF token. All of it needs a dashboard session, never an API key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from linkhop.audit.models import AuditEvent
from linkhop.auth.models import User, UserSession
from linkhop.db.engine import unit_of_work
from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio

PASSWORD = "correct horse battery"  # what harness.account gives every user
NEW_PASSWORD = "staple battery horse correct"
EMAIL = "ada@example.com"


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert a problem+json response; returns its detail."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    if code is not None:
        assert body["code"] == code, body
    detail: str = body["detail"]
    return detail


class Browser:
    """One signed-in session: its cookie header and CSRF token."""

    def __init__(self, cookie: str, csrf: str) -> None:
        self.cookie = {"Cookie": f"linkhop_session={cookie}"}
        self.csrf = csrf

    @property
    def writes(self) -> dict[str, str]:
        """Headers for a cookie write."""
        return {**self.cookie, "X-CSRF-Token": self.csrf}


async def sign_in(
    h: Harness, email: str = EMAIL, password: str = PASSWORD, agent: str = "test"
) -> Browser:
    """POST /auth/login (asserting 200)."""
    r = await h.client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        headers={"user-agent": agent},
    )
    assert r.status_code == 200, r.text
    h.client.cookies.clear()  # cookies travel only where a test sends them explicitly
    return Browser(r.cookies["linkhop_session"], r.json()["csrf_token"])


async def signed_in(h: Harness, browser: Browser) -> bool:
    """Whether the session still works."""
    r = await h.client.get("/api/v1/me", headers=browser.cookie)
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


async def can_sign_in(h: Harness, password: str) -> bool:
    """Whether ``password`` signs ada in now."""
    r = await h.client.post("/api/v1/auth/login", json={"email": EMAIL, "password": password})
    h.client.cookies.clear()
    return r.status_code == 200


async def password_hash(h: Harness) -> str | None:
    """Ada's stored password hash."""
    async with unit_of_work(h.runtime.sessionmaker) as session:
        return (
            await session.execute(select(User.password_hash).where(User.email == EMAIL))
        ).scalar_one()


async def change(h: Harness, browser: Browser, current: str, new: str) -> httpx.Response:
    """POST /auth/password from ``browser``."""
    return await h.client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=browser.writes,
    )


async def test_change_password_signs_out_other_sessions(harness: Harness) -> None:
    ada = await harness.account(EMAIL)
    here, laptop, phone = [await sign_in(harness, agent=a) for a in ("here", "laptop", "phone")]
    other = await harness.account("bob@example.com", org="Beta")
    bob = await sign_in(harness, "bob@example.com")
    stored = await password_hash(harness)

    # Refused attempts change nothing.
    for current, new, field, code in (
        ("wrong password!", NEW_PASSWORD, "current_password", "wrong_password"),
        (PASSWORD, "short", "new_password", "password_too_short"),
        (PASSWORD, PASSWORD, "new_password", "password_unchanged"),
    ):
        r = await change(harness, here, current, new)
        assert_problem(r, 422, code)
        assert r.json()["field"] == field
    r = await harness.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=here.cookie,
    )
    assert_problem(r, 403, "csrf_failed")
    r = await harness.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=ada.auth,
    )
    assert_problem(r, 403, "session_required")
    r = await harness.client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert_problem(r, 401, "unauthenticated")
    assert await password_hash(harness) == stored
    assert all([await signed_in(harness, b) for b in (here, laptop, phone)])

    r = await change(harness, here, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked_sessions": 2}
    assert await signed_in(harness, here)
    assert not await signed_in(harness, laptop) and not await signed_in(harness, phone)
    assert await signed_in(harness, bob)  # someone else's sessions are untouched
    assert not await can_sign_in(harness, PASSWORD)
    assert await can_sign_in(harness, NEW_PASSWORD)
    # API keys are automation credentials: a password change leaves them working.
    assert (await harness.client.get("/api/v1/me", headers=ada.auth)).status_code == 200
    assert (await harness.client.get("/api/v1/me", headers=other.auth)).status_code == 200

    async with unit_of_work(harness.runtime.sessionmaker) as session:
        events = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.data).where(
                    AuditEvent.action == "user.password_changed"
                )
            )
        ).all()
    assert [tuple(e) for e in events] == [
        ("user.password_changed", ada.user_id, {"revoked_sessions": 2})
    ]
    assert NEW_PASSWORD not in str(events) and PASSWORD not in str(events)


async def test_wrong_current_passwords_are_throttled(harness: Harness) -> None:
    await harness.account(EMAIL)
    here = await sign_in(harness)
    for _ in range(10):
        assert_problem(await change(harness, here, "guess guess guess", NEW_PASSWORD), 422)
    for current in ("guess guess guess", PASSWORD):  # locked: even the right password waits
        r = await change(harness, here, current, NEW_PASSWORD)
        assert_problem(r, 429, "rate_limited")
        assert 0 < int(r.headers["retry-after"]) <= 900
    assert await can_sign_in(harness, PASSWORD)


async def test_list_sessions_shows_only_your_live_ones(harness: Harness) -> None:
    ada = await harness.account(EMAIL)
    await harness.account("bob@example.com")
    here = await sign_in(harness, agent="Firefox on Linux")
    await sign_in(harness, agent="Safari on iPhone")
    ended = await sign_in(harness, agent="old")
    stale = await sign_in(harness, agent="stale")
    await sign_in(harness, "bob@example.com", agent="bob's")
    assert (
        await harness.client.post("/api/v1/auth/logout", headers=ended.writes)
    ).status_code == 204
    async with unit_of_work(harness.runtime.sessionmaker) as session:
        await session.execute(
            update(UserSession)
            .where(UserSession.user_agent == "stale")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert not await signed_in(harness, stale)

    r = await harness.client.get("/api/v1/auth/sessions", headers=here.cookie)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert sorted(s["user_agent"] for s in listed) == ["Firefox on Linux", "Safari on iPhone"]
    assert [s["user_agent"] for s in listed if s["current"]] == ["Firefox on Linux"]
    now = datetime.now(UTC)
    for s in listed:
        assert set(s) == {"id", "created_at", "last_seen_at", "expires_at", "user_agent", "current"}
        assert datetime.fromisoformat(s["expires_at"]) > now
        assert abs(datetime.fromisoformat(s["created_at"]) - now) < timedelta(minutes=5)
    cookie_value = here.cookie["Cookie"].split("=", 1)[1]
    assert cookie_value not in r.text and here.csrf not in r.text
    assert_problem(
        await harness.client.get("/api/v1/auth/sessions", headers=ada.auth), 403, "session_required"
    )
    assert_problem(await harness.client.get("/api/v1/auth/sessions"), 401, "unauthenticated")


async def test_revoke_other_sessions(harness: Harness) -> None:
    ada = await harness.account(EMAIL)
    here, laptop, phone = [await sign_in(harness, agent=a) for a in ("here", "laptop", "phone")]
    await harness.account("bob@example.com")
    bob = await sign_in(harness, "bob@example.com")
    url = "/api/v1/auth/sessions/revoke-others"

    assert_problem(await harness.client.post(url, headers=here.cookie), 403, "csrf_failed")
    bad = {**here.cookie, "X-CSRF-Token": laptop.csrf}
    assert_problem(await harness.client.post(url, headers=bad), 403, "csrf_failed")
    assert_problem(await harness.client.post(url, headers=ada.auth), 403, "session_required")
    assert all([await signed_in(harness, b) for b in (here, laptop, phone, bob)])

    r = await harness.client.post(url, headers=here.writes)
    assert r.status_code == 200, r.text
    assert r.json() == {"revoked": 2}
    assert await signed_in(harness, here) and await signed_in(harness, bob)
    assert not await signed_in(harness, laptop) and not await signed_in(harness, phone)
    listed = (await harness.client.get("/api/v1/auth/sessions", headers=here.cookie)).json()
    assert [(s["user_agent"], s["current"]) for s in listed] == [("here", True)]
    again = await harness.client.post(url, headers=here.writes)
    assert again.json() == {"revoked": 0}


async def test_logout_needs_the_csrf_token(harness: Harness) -> None:
    await harness.account(EMAIL)
    here, other = await sign_in(harness), await sign_in(harness)
    for headers in (here.cookie, {**here.cookie, "X-CSRF-Token": other.csrf}):
        r = await harness.client.post("/api/v1/auth/logout", headers=headers)
        assert "CSRF" in assert_problem(r, 403, "csrf_failed")
        assert "set-cookie" not in r.headers
    assert await signed_in(harness, here)

    r = await harness.client.post("/api/v1/auth/logout", headers=here.writes)
    assert r.status_code == 204
    assert "linkhop_session=" in r.headers["set-cookie"] and "max-age=0" in r.headers[
        "set-cookie"
    ].lower().replace('"', "")
    assert not await signed_in(harness, here)
    assert await signed_in(harness, other)
    # Signing out again, or with no session at all, just clears the cookie.
    for headers in (here.cookie, here.writes, {}):
        r = await harness.client.post("/api/v1/auth/logout", headers=headers)
        assert r.status_code == 204, r.text
