"""API keys in a real browser: create one (shown once), use it, revoke it."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, first_run
from tests.e2e.server import Server

pytestmark = pytest.mark.slow


def test_create_use_and_revoke_an_api_key(served: Server, page: Page, console: Console) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/k", key="k")
    page.get_by_test_id("nav-keys").click()
    page.wait_for_url(f"{served.base}/app/keys")
    expect(page.get_by_test_id("no-keys")).to_be_visible()

    page.locator("#name").fill("Reporting script")
    page.locator("#scope-links-read").set_checked(True)
    page.locator("#scope-links-write").set_checked(False)
    page.locator("#expires").select_option("30")
    page.locator("#create-key").click()
    shown = page.get_by_test_id("new-api-key")
    expect(shown).to_be_visible()
    expect(page.get_by_test_id("copy-api-key")).to_be_visible()
    expect(page.get_by_test_id("shown-once")).to_be_visible()
    key = shown.inner_text().strip()
    assert key.startswith("lnk_"), key
    row = page.locator("[data-testid=key-row][data-name='Reporting script']")
    expect(row).to_contain_text("links:read")
    expect(row).not_to_contain_text("links:write")
    expect(row.get_by_test_id("key-last-used")).to_have_text("Never")

    # The key works against the API, within its scopes.
    auth = {"Authorization": f"Bearer {key}"}
    listed = httpx.get(f"{served.base}/api/v1/links", headers=auth, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [item["key"] for item in listed.json()["data"]] == ["k"]
    write = httpx.post(
        f"{served.base}/api/v1/links",
        headers=auth,
        json={"url": "https://example.com/"},
        timeout=10,
    )
    assert write.status_code == 403, write.text

    # Shown once: a reload lists the key by its prefix only, now with a last-used time.
    page.goto(f"{served.base}/app/keys")
    expect(page.get_by_test_id("new-api-key")).to_have_count(0)
    assert key not in page.content()
    expect(row.get_by_test_id("key-last-used")).not_to_have_text("Never")

    # Revoked (after a confirmation page), it stops working at once.
    row.get_by_test_id("revoke-key").click()
    page.wait_for_url(f"{served.base}/app/keys/*/revoke")
    page.locator("#confirm-revoke").click()
    page.wait_for_url(f"{served.base}/app/keys")
    expect(row.get_by_test_id("key-revoked")).to_be_visible()
    expect(row.get_by_test_id("revoke-key")).to_have_count(0)
    refused = httpx.get(f"{served.base}/api/v1/links", headers=auth, timeout=10)
    assert refused.status_code == 401, refused.text
    console.assert_clean()
