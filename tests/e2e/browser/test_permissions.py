"""A viewer sees links read-only and cannot change them, even by posting a form directly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, csrf_token, first_run, sign_in
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

VIEWER_EMAIL = "vera@example.com"
VIEWER_PASSWORD = "viewer password 1"


def test_a_viewer_cannot_see_edit_controls_or_post_edits(
    served: Server, page: Page, new_page: Callable[..., Page], console: Console
) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/original", key="promo")
    row = page.locator("[data-testid=link-row][data-key=promo]")
    link_id = row.get_attribute("data-link-id")
    assert link_id
    served.cli(
        "users", "create", "--email", VIEWER_EMAIL, "--password", VIEWER_PASSWORD,
        "--org", "Acme", "--role", "viewer",
    )  # fmt: skip

    viewer = new_page()
    sign_in(viewer, served.base, VIEWER_EMAIL, VIEWER_PASSWORD)
    expect(viewer.get_by_test_id("user-role")).to_have_text("viewer")
    viewer_row = viewer.locator("[data-testid=link-row][data-key=promo]")
    expect(viewer_row).to_have_count(1)
    for hook in ("new-link", "edit-link", "archive-link", "delete-link"):
        expect(viewer.get_by_test_id(hook)).to_have_count(0)
    viewer_row.get_by_test_id("view-link").click()
    viewer.wait_for_url(f"{served.base}/app/links/{link_id}")
    expect(viewer.get_by_test_id("read-only")).to_be_visible()
    expect(viewer.get_by_test_id("link-details")).to_contain_text("https://example.com/original")
    expect(viewer.locator("main form")).to_have_count(0)
    expect(viewer.locator("#save-link")).to_have_count(0)

    # Posting the forms anyway, with a valid CSRF token of the viewer's session: 403 pages.
    token = csrf_token(viewer)
    edit: dict[str, str | float | bool] = {
        "csrf_token": token,
        "url": "https://evil.example/",
        "key": "promo",
        "tz": "UTC",
    }
    attempts: dict[str, dict[str, str | float | bool]] = {
        f"/app/links/{link_id}": edit,
        f"/app/links/{link_id}/archive": {"csrf_token": token, "archived": "1"},
        f"/app/links/{link_id}/delete": {"csrf_token": token},
        "/app/links/new": {"csrf_token": token, "url": "https://evil.example/", "key": "evil"},
    }
    for path, form in attempts.items():
        response = viewer.request.post(f"{served.base}{path}", form=form, max_redirects=0)
        assert response.status == 403, (path, response.status)
        assert 'data-testid="error-page"' in response.text()

    # Nothing changed: the owner still sees one live link with its destination.
    page.goto(f"{served.base}/app/links?status=all")
    expect(page.get_by_test_id("link-row")).to_have_count(1)
    expect(row).to_contain_text("https://example.com/original")
    expect(row.locator(".badge", has_text="Archived")).to_have_count(0)

    # The same post from the owner is accepted, so the 403 was the viewer's role; a tampered
    # token is refused for anyone.
    owner_token = csrf_token(page)
    tampered = page.request.post(
        f"{served.base}/app/links/{link_id}",
        form={**edit, "csrf_token": owner_token[:-2] + "xx", "url": "https://example.com/new"},
        max_redirects=0,
    )
    assert tampered.status == 403
    accepted = page.request.post(
        f"{served.base}/app/links/{link_id}",
        form={**edit, "csrf_token": owner_token, "url": "https://example.com/new"},
        max_redirects=0,
    )
    assert accepted.status == 303
    page.goto(f"{served.base}/app/links")
    expect(row).to_contain_text("https://example.com/new")
    console.assert_clean()
