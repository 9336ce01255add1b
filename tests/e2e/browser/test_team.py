"""Team in a real browser: invite someone, who accepts in their own browser and appears."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, first_run, sign_in
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

MEMBER_EMAIL = "grace@example.com"
MEMBER_PASSWORD = "member password 1"


def test_invite_a_member_who_accepts_in_another_browser(
    served: Server, page: Page, new_page: Callable[..., Page], console: Console
) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/shared", key="shared")
    page.get_by_test_id("nav-team").click()
    page.wait_for_url(f"{served.base}/app/team")
    expect(page.get_by_test_id("member-row")).to_have_count(1)

    page.locator("#email").fill(MEMBER_EMAIL)
    page.locator("#role").select_option("member")
    page.locator("#send-invite").click()
    invite = page.get_by_test_id("invite-link")
    expect(invite).to_be_visible()
    expect(page.get_by_test_id("copy-invite-link")).to_be_visible()
    url = invite.inner_text().strip()
    assert url.startswith(f"{served.base}/app/invite/"), url
    expect(page.locator(f"[data-testid=invite-row][data-email='{MEMBER_EMAIL}']")).to_have_count(1)

    # The invitee, in a browser of their own, creates an account and joins.
    guest = new_page()
    guest.goto(url)
    expect(guest.get_by_test_id("invite-org")).to_have_text("Acme")
    expect(guest.get_by_test_id("invite-email")).to_have_text(MEMBER_EMAIL)
    guest.locator("#name").fill("Grace Hopper")
    guest.locator("#password").fill(MEMBER_PASSWORD)
    guest.locator("#password_confirm").fill("something else 1")
    guest.locator("#accept-invite").click()
    expect(guest.get_by_test_id("error-password_confirm")).to_be_visible()
    guest.locator("#password").fill(MEMBER_PASSWORD)
    guest.locator("#password_confirm").fill(MEMBER_PASSWORD)
    guest.locator("#accept-invite").click()
    guest.wait_for_url(f"{served.base}/app/links")
    expect(guest.get_by_test_id("user-email")).to_have_text(MEMBER_EMAIL)
    expect(guest.get_by_test_id("user-role")).to_have_text("member")
    expect(guest.locator("[data-testid=link-row][data-key=shared]")).to_have_count(1)
    expect(guest.get_by_test_id("new-link")).to_be_visible()

    # The owner sees the new member, and the invitation is used up.
    page.reload()
    member = page.locator(f"[data-testid=member-row][data-email='{MEMBER_EMAIL}']")
    expect(member).to_have_attribute("data-role", "member")
    expect(member).to_contain_text("Grace Hopper")
    expect(page.get_by_test_id("invite-row")).to_have_count(0)
    stranger = new_page()
    response = stranger.goto(url)
    assert response is not None and response.status >= 400
    expect(stranger.locator("#accept-invite")).to_have_count(0)

    # The owner makes them a viewer: their next page has no edit controls.
    member.get_by_test_id("member-role-select").select_option("viewer")
    member.get_by_test_id("save-role").click()
    expect(page.get_by_test_id("flash")).to_be_visible()
    expect(member).to_have_attribute("data-role", "viewer")
    guest.reload()
    expect(guest.get_by_test_id("user-role")).to_have_text("viewer")
    expect(guest.get_by_test_id("new-link")).to_have_count(0)

    # Signing in later works with the password chosen on the invitation page.
    later = new_page()
    sign_in(later, served.base, MEMBER_EMAIL, MEMBER_PASSWORD)
    console.assert_clean()
