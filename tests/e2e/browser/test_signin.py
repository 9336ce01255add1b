"""First run, sign-in and sign-out in a real browser."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Console,
    first_run,
    setup_url,
    sign_in,
    sign_out,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.slow


def test_first_run_sign_in_and_sign_out(served: Server, page: Page, console: Console) -> None:
    # A fresh server sends /app to the setup form; the log names the URL (with its token).
    assert setup_url(served).startswith(f"{served.base}/app/setup?token=")
    page.goto(f"{served.base}/app")
    page.wait_for_url(f"{served.base}/app/setup")
    expect(page.locator("h1")).to_have_text("Welcome to linkhop")

    first_run(page, served)
    expect(page.get_by_test_id("flash")).to_contain_text("Welcome to linkhop")
    expect(page.get_by_test_id("org-name")).to_have_text("Acme")
    expect(page.get_by_test_id("user-role")).to_have_text("owner")

    # The form is gone for good once a user exists.
    page.goto(setup_url(served))
    page.wait_for_url(f"{served.base}/app/login")
    expect(page.get_by_test_id("flash")).to_contain_text("already set up")

    # Signed out: the session cookie no longer opens pages (sign-in asks again).
    page.goto(f"{served.base}/app/links")
    cookie = next(c for c in page.context.cookies() if c["name"] == "linkhop_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    sign_out(page, served.base)
    after = httpx.get(
        f"{served.base}/app/links",
        cookies={"linkhop_session": cookie["value"]},
        follow_redirects=False,
    )
    assert after.status_code in (302, 303) and "/app/login" in after.headers["location"]

    # A wrong password gets a message and no session.
    page.locator("#email").fill(OWNER_EMAIL)
    page.locator("#password").fill("not the password")
    page.locator("#sign-in").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong email or password.")
    assert page.url.startswith(f"{served.base}/app/login")
    assert not any(c["name"] == "linkhop_session" for c in page.context.cookies())

    # The right one signs in, and a page asked for while signed out comes back afterwards.
    page.goto(f"{served.base}/app/links/new")
    page.wait_for_url(f"{served.base}/app/login*")
    page.locator("#email").fill(OWNER_EMAIL)
    page.locator("#password").fill(OWNER_PASSWORD)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{served.base}/app/links/new")
    sign_out(page, served.base)
    sign_in(page, served.base, OWNER_EMAIL, OWNER_PASSWORD)
    expect(page.get_by_test_id("user-email")).to_have_text(OWNER_EMAIL)
    console.assert_clean()
