"""The account page: change the password, list sessions, sign out the other sessions."""

from __future__ import annotations

import re

import pytest

from linkhop.auth import service as auth_service
from linkhop.db.engine import unit_of_work
from linkhop.errors import Unauthenticated
from tests.integration.dashboard.web import (
    PASSWORD,
    audit_actions,
    audit_count,
    browser,
    field_errors,
    sign_in,
    text_of,
)
from tests.integration.harness import Harness

pytestmark = pytest.mark.asyncio

NEW = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


async def _password_ok(h: Harness, email: str, password: str) -> bool:
    async with unit_of_work(h.runtime.sessionmaker) as session:
        try:
            await auth_service.authenticate(session, email=email, password=password)
        except Unauthenticated:
            return False
        return True


def _session_rows(html: str) -> list[str]:
    return re.findall(r'data-testid="session-row" data-session-id="([^"]+)"', html)


async def test_account_page_shows_profile_and_sessions(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    b.client.headers["User-Agent"] = FIREFOX
    page = await b.get("/app/account")
    assert page.status_code == 200
    assert 'data-testid="nav-account" aria-current="page"' in page.text
    assert text_of(page.text, "account-email") == "ada@example.com"
    for name in ("current_password", "new_password", "new_password_confirm"):
        assert f'<label for="{name}"' in page.text, name
    assert len(_session_rows(page.text)) == 1 and 'data-testid="this-session"' in page.text
    assert text_of(page.text, "no-other-sessions") == "You are not signed in anywhere else."
    assert 'id="sign-out-others"' not in page.text

    other = browser(harness)
    other.client.headers["User-Agent"] = FIREFOX
    await other.get("/app/login")
    await other.post("/app/login", {"email": "ada@example.com", "password": PASSWORD})
    page = await b.get("/app/account")
    assert len(_session_rows(page.text)) == 2
    assert "Firefox 128 on Linux" in page.text
    assert 'id="sign-out-others"' in page.text and "(1)" in page.text


async def test_change_password_signs_out_other_sessions(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    other = await sign_in(harness, "ada@example.com")
    await b.get("/app/account")
    before = await audit_count(harness)
    for form, field, words in (
        (
            {
                "current_password": "wrong password!",
                "new_password": NEW,
                "new_password_confirm": NEW,
            },
            "current_password",
            "current password is wrong",
        ),
        (
            {"current_password": PASSWORD, "new_password": NEW, "new_password_confirm": NEW + "x"},
            "new_password_confirm",
            "do not match",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": "short",
                "new_password_confirm": "short",
            },
            "new_password",
            "at least 10 characters",
        ),
        (
            {
                "current_password": PASSWORD,
                "new_password": PASSWORD,
                "new_password_confirm": PASSWORD,
            },
            "new_password",
            "must differ",
        ),
        (
            {"current_password": "", "new_password": NEW, "new_password_confirm": NEW},
            "current_password",
            "Enter your current password",
        ),
    ):
        r = await b.post("/app/account/password", form)
        assert r.status_code == 422, form
        assert words in field_errors(r.text).get(field, ""), (form, field_errors(r.text))
        assert text_of(r.text, "form-error")
        assert PASSWORD not in r.text and NEW not in r.text  # never echoed back
    assert await _password_ok(harness, "ada@example.com", PASSWORD)
    assert await audit_count(harness) == before
    assert (await other.get("/app/links")).status_code == 200

    done = await b.post(
        "/app/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_confirm": NEW},
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/account"
    page = await b.get("/app/account")
    flash = text_of(page.text, "flash") or ""
    assert "Your password was changed" in flash and "1 other session was signed out" in flash
    assert len(_session_rows(page.text)) == 1
    assert "user.password_changed" in await audit_actions(harness)
    assert await _password_ok(harness, "ada@example.com", NEW)
    assert not await _password_ok(harness, "ada@example.com", PASSWORD)
    gone = await other.get("/app/links")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/app/login")
    assert (await b.get("/app/links")).status_code == 200  # this browser stays signed in
    assert (await sign_in(harness, "ada@example.com", password=NEW)) is not None


async def test_sign_out_all_other_sessions(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    others = [await sign_in(harness, "ada@example.com") for _ in range(2)]
    page = await b.get("/app/account")
    assert len(_session_rows(page.text)) == 3
    r = await b.post("/app/account/sessions/sign-out-others")
    assert r.status_code == 303
    page = await b.get("/app/account")
    assert "Signed out 2 other sessions" in (text_of(page.text, "flash") or "")
    assert len(_session_rows(page.text)) == 1
    assert "session.revoked_others" in await audit_actions(harness)
    for other in others:
        assert (await other.get("/app/links")).status_code == 303
    assert (await b.get("/app/links")).status_code == 200


async def test_a_tampered_csrf_token_changes_nothing(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    other = await sign_in(harness, "ada@example.com")
    await b.get("/app/account")
    flipped = b.csrf[:-1] + ("0" if b.csrf[-1] != "0" else "1")
    form = {"current_password": PASSWORD, "new_password": NEW, "new_password_confirm": NEW}
    for path, data in (
        ("/app/account/password", form),
        ("/app/account/sessions/sign-out-others", {}),
    ):
        for token in ("", flipped, other.csrf):
            r = await b.post(path, data, csrf=token)
            assert r.status_code == 403 and "nothing was changed" in r.text, (path, token)
    assert await _password_ok(harness, "ada@example.com", PASSWORD)
    assert (await other.get("/app/links")).status_code == 200


async def test_wrong_current_passwords_lock_the_form(harness: Harness) -> None:
    await harness.account("ada@example.com")
    b = await sign_in(harness, "ada@example.com")
    await b.get("/app/account")
    wrong = {"current_password": "not it at all", "new_password": NEW, "new_password_confirm": NEW}
    statuses = [(await b.post("/app/account/password", wrong)).status_code for _ in range(10)]
    assert statuses == [422] * 10
    locked = await b.post(
        "/app/account/password",
        {"current_password": PASSWORD, "new_password": NEW, "new_password_confirm": NEW},
    )
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "too many wrong passwords" in (text_of(locked.text, "form-error") or "").lower()
    assert await _password_ok(harness, "ada@example.com", PASSWORD)
