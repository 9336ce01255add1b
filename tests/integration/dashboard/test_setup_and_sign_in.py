"""First-run setup, sign-in, sign-out and sessions through the dashboard's forms."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from linkhop.auth.models import User
from linkhop.dashboard.service import announce_setup, setup_token
from linkhop.db.engine import unit_of_work
from linkhop.orgs.models import Membership, Org
from tests.integration.dashboard.web import (
    PASSWORD,
    audit_actions,
    browser,
    field_errors,
    sign_in,
    text_of,
)
from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio

OWNER = {
    "name": "Ada",
    "email": "ada@example.com",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
    "org": "Acme",
}


async def _counts(h: Harness) -> tuple[int, int, int]:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        counts = [
            int((await session.execute(select(func.count()).select_from(t))).scalar_one())
            for t in (User, Org, Membership)
        ]
        return counts[0], counts[1], counts[2]


async def test_setup_runs_once_and_signs_the_owner_in(harness: Harness) -> None:
    b = browser(harness)
    start = await b.get("/app/")
    assert start.status_code == 303 and start.headers["location"] == "/app/setup"
    # A remote browser needs the token from the server log; without it nothing is offered.
    refused = await b.get("/app/setup")
    assert refused.status_code == 403 and "server log" in refused.text
    token = setup_token(harness.runtime.secret_key)
    form = await b.get(f"/app/setup?token={token}")
    assert form.status_code == 200 and 'id="setup-form"' in form.text
    assert (await b.post("/app/setup", {**OWNER, "token": "wrong"})).status_code == 403
    assert await _counts(harness) == (0, 0, 0)

    done = await b.post("/app/setup", {**OWNER, "token": token})
    assert done.status_code == 303 and done.headers["location"] == "/app/links"
    page = await b.get("/app/links")
    assert page.status_code == 200
    assert text_of(page.text, "org-name") == "Acme"
    assert text_of(page.text, "user-role") == "owner"
    assert await _counts(harness) == (1, 1, 1)
    assert {"user.created", "org.created", "session.created"} <= set(await audit_actions(harness))

    # Set up: the form is gone, and a replayed or second submission changes nothing.
    again = browser(harness)
    assert (await again.get(f"/app/setup?token={token}")).headers["location"] == "/app/login"
    await again.get("/app/login")
    second = await again.post(
        "/app/setup", {**OWNER, "email": "mallory@example.com", "org": "Evil", "token": token}
    )
    assert second.status_code == 409
    assert "already set up" in second.text
    assert await _counts(harness) == (1, 1, 1)


async def test_setup_from_the_servers_own_machine_needs_no_token(harness: Harness) -> None:
    local = browser(harness, ip="127.0.0.1")
    assert (await local.get("/app/setup")).status_code == 200
    assert (await local.post("/app/setup", OWNER)).status_code == 303
    # Behind a proxy every request comes from loopback: X-Forwarded-For asks for the token.
    assert (
        await local.client.get("/app/setup", headers={"X-Forwarded-For": "198.51.100.1"})
    ).status_code != 200


async def test_setup_errors_are_shown_next_to_their_fields(harness: Harness) -> None:
    b = browser(harness, ip="127.0.0.1")
    await b.get("/app/setup")
    r = await b.post(
        "/app/setup",
        {**OWNER, "email": "not-an-email", "password": "short", "password_confirm": "other"},
    )
    assert r.status_code == 422
    errors = field_errors(r.text)
    assert errors["password_confirm"] == "The two passwords do not match."
    r = await b.post("/app/setup", {**OWNER, "password": "short", "password_confirm": "short"})
    assert field_errors(r.text) == {"password": "Password must be at least 10 characters"}
    assert PASSWORD not in r.text and "short" not in re.findall(r'value="([^"]*)"', r.text)
    r = await b.post("/app/setup", {**OWNER, "email": "not-an-email"})
    assert "email" in field_errors(r.text)
    assert 'value="not-an-email"' in r.text  # what was typed is kept (not the password)
    assert await _counts(harness) == (0, 0, 0)


async def test_wrong_password_is_refused_with_a_clear_message(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = browser(harness)
    await b.get("/app/login")
    r = await b.post("/app/login", {"email": "ada@example.com", "password": "wrong password"})
    assert r.status_code == 401
    assert text_of(r.text, "login-error") == "Wrong email or password."
    assert "linkhop_session" not in r.cookies
    unknown = await b.post("/app/login", {"email": "nobody@example.com", "password": PASSWORD})
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.text
    assert "session.created" not in await audit_actions(harness)


async def test_sign_in_sets_a_safe_session_cookie(harness: Harness) -> None:
    await harness.account("ada@example.com")
    for scheme, secure in (("http", False), ("https", True)):
        b = browser(harness, scheme=scheme)
        await b.get("/app/login")
        r = await b.post("/app/login", {"email": "ada@example.com", "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/app/links"
        cookie = next(
            v for k, v in r.headers.multi_items() if k == "set-cookie" and "linkhop_session=" in v
        ).lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert ("secure" in cookie.split("; ")) is secure, cookie
    assert (await audit_actions(harness)).count("session.created") == 2


async def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(
    harness: Harness,
) -> None:
    await harness.account("ada@example.com")
    b = browser(harness)
    bounced = await b.get("/app/links?q=spring")
    assert bounced.status_code == 303
    assert bounced.headers["location"] == "/app/login?next=%2Fapp%2Flinks%3Fq%3Dspring"
    for target, lands in (
        ("/app/links?q=spring", "/app/links?q=spring"),
        ("//evil.example/app/", "/app/links"),
        ("https://evil.example/", "/app/links"),
        ("/app/\\evil.example", "/app/links"),
    ):
        await b.get("/app/login")
        r = await b.post(
            "/app/login", {"email": "ada@example.com", "password": PASSWORD, "next": target}
        )
        assert r.headers["location"] == lands, target


async def test_failed_sign_ins_are_rate_limited_like_the_api(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = browser(harness)
    await b.get("/app/login")
    for _ in range(10):
        r = await b.post("/app/login", {"email": "ada@example.com", "password": "wrong password"})
        assert r.status_code == 401
    locked = await b.post("/app/login", {"email": "ada@example.com", "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text and int(locked.headers["retry-after"]) > 0
    assert "linkhop_session" not in locked.cookies
    # The window is the API's: its login is locked for this email too.
    api = await harness.client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert api.status_code == 429


async def test_sign_out_ends_the_session_on_the_server(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    stolen = b.client.cookies["linkhop_session"]
    r = await b.post("/app/logout")
    assert r.status_code == 303 and r.headers["location"] == "/app/login"
    assert "You are signed out." in (await b.get("/app/login")).text
    # The old cookie no longer works anywhere (server-side revocation, not just deletion).
    replay = browser(harness)
    replay.client.cookies.set("linkhop_session", stolen)
    again = await replay.get("/app/links")
    assert again.status_code == 303 and again.headers["location"].startswith("/app/login")
    assert "session.revoked" in await audit_actions(harness)


async def test_a_form_sent_after_the_session_ended_saves_nothing(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    other = browser(harness)
    other.client.cookies.set("linkhop_session", b.client.cookies["linkhop_session"])
    await other.get("/app/links")
    await other.post("/app/logout")
    r = await b.post("/app/links/new", {"url": "https://example.com/late"})
    assert r.status_code == 303 and r.headers["location"] == "/app/login"
    page = await b.get("/app/login")
    assert "Nothing was saved." in page.text
    listed = await harness.client.get(
        "/api/v1/links", headers=(await harness.account("bo@example.com", org="Acme")).auth
    )
    assert listed.json()["data"] == []


async def test_login_form_without_its_cookie_is_refused(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = browser(harness)
    page = await b.get("/app/login")
    b.client.cookies.clear()
    r = await b.client.post(
        "/app/login",
        data={"csrf_token": b.csrf, "email": "ada@example.com", "password": PASSWORD},
    )
    assert r.status_code == 403 and "cookie" in r.text
    assert page.status_code == 200


async def test_the_setup_url_is_logged_until_someone_set_up(harness: Harness) -> None:
    url = await announce_setup(harness.runtime, "http://127.0.0.1:8080/")
    assert url == f"http://127.0.0.1:8080/app/setup?token={setup_token(harness.runtime.secret_key)}"
    remote = browser(harness)
    assert (await remote.get(url.removeprefix("http://127.0.0.1:8080"))).status_code == 200
    await harness.account("ada@example.com")
    assert await announce_setup(harness.runtime, "http://127.0.0.1:8080") is None
