"""Someone in two organisations switches between them from the header; pages act in the
chosen one, and an organisation they do not belong to cannot be chosen."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import (
    OWNER_EMAIL,
    Console,
    create_link,
    csrf_token,
    first_run,
    sign_in,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

GRACE = ("grace@example.com", "grace's password 1")
PHONE = {"width": 390, "height": 844}


def link_keys(page: Page) -> set[str]:
    """The keys in the links table."""
    rows = page.locator("[data-testid=link-row]")
    return {str(rows.nth(i).get_attribute("data-key")) for i in range(rows.count())}


def test_switch_between_two_organisations(
    served: Server, page: Page, new_page: Callable[..., Page], console: Console
) -> None:
    first_run(page, served)  # Ada, owner of Acme
    create_link(page, served.base, "https://example.com/acme", key="acme-only")
    expect(page.get_by_test_id("org-switcher")).to_have_count(0)  # one org: no switcher
    # Grace owns Beta, and a third organisation exists that Ada is not in.
    served.cli("users", "create", "--email", GRACE[0], "--password", GRACE[1], "--org", "Beta")
    made = served.cli(
        "users", "create", "--email", "x@example.com", "--password", GRACE[1], "--org", "Gamma"
    )
    found = re.search(r"created org (\S+)", made)
    assert found, made
    gamma_id = found.group(1)

    grace = new_page()
    sign_in(grace, served.base, *GRACE)
    create_link(grace, served.base, "https://example.com/beta", key="beta-only")
    grace.goto(f"{served.base}/app/team")
    grace.locator("#email").fill(OWNER_EMAIL)
    grace.locator("#send-invite").click()
    invite = grace.get_by_test_id("invite-link").inner_text().strip()

    # Ada (signed in) joins Beta from the link and works in it straight away.
    page.goto(invite)
    page.locator("#accept-invite").click()
    page.wait_for_url(f"{served.base}/app/links")
    expect(page.get_by_test_id("org-name")).to_have_text("Beta")
    assert link_keys(page) == {"beta-only"}

    # The switcher lists both; choosing Acme shows Acme's links, and the other pages follow.
    switcher = page.get_by_test_id("org-switcher")
    expect(switcher).to_be_visible()
    switcher.locator("summary").click()
    expect(page.get_by_test_id("org-current")).to_have_text(re.compile("Beta"))
    options = page.get_by_test_id("switch-org")
    expect(options).to_have_count(1)
    options.click()
    page.wait_for_url(f"{served.base}/app/links")
    expect(page.get_by_test_id("flash")).to_contain_text("You are now working in Acme")
    expect(page.get_by_test_id("org-name")).to_have_text("Acme")
    assert link_keys(page) == {"acme-only"}
    page.goto(f"{served.base}/app/analytics")
    expect(page.get_by_test_id("org-name")).to_have_text("Acme")
    export = page.get_by_test_id("export-csv").get_attribute("href")
    assert export and export.startswith("/app/analytics/export?")
    response = page.request.get(f"{served.base}{export}")
    assert response.status == 200, response.text()
    # From the analytics page, switching back lands on Beta's analytics.
    switcher.locator("summary").click()
    page.get_by_test_id("switch-org").click()
    page.wait_for_url(f"{served.base}/app/analytics*")
    expect(page.get_by_test_id("org-name")).to_have_text("Beta")
    page.goto(f"{served.base}/app/links")
    assert link_keys(page) == {"beta-only"}

    # A forged org id is refused (404 page) and changes nothing.
    token = csrf_token(page)
    refused = page.request.post(
        f"{served.base}/app/orgs/{gamma_id}/switch", form={"csrf_token": token}
    )
    assert refused.status == 404
    page.goto(f"{served.base}/app/links")
    expect(page.get_by_test_id("org-name")).to_have_text("Beta")
    # So is a forged org cookie (not signed by the server for this session): the first org.
    page.context.add_cookies(
        [{"name": "linkhop_org", "value": f"{gamma_id}.forged", "url": f"{served.base}/app"}]
    )
    page.goto(f"{served.base}/app/links")
    expect(page.get_by_test_id("org-name")).to_have_text("Acme")
    assert link_keys(page) == {"acme-only"}
    # Without the session's CSRF token nothing switches.
    assert (
        page.request.post(
            f"{served.base}/app/orgs/{gamma_id}/switch", form={"csrf_token": "nope"}
        ).status
        == 403
    )

    # On a phone the switcher's menu stays on the screen.
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(phone, served.base, OWNER_EMAIL, "correct horse battery")
    phone.get_by_test_id("org-switcher").locator("summary").tap()
    menu = phone.locator(".org-menu")
    expect(menu).to_be_visible()
    assert menu.evaluate("m => m.getBoundingClientRect().right <= window.innerWidth")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    console.assert_clean()
