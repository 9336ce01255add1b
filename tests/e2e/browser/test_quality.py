"""Every page: labelled inputs, keyboard focus that shows, phone width, CSP, a clean console."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Console,
    create_link,
    first_run,
    sign_in,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}

# Each visible form control with no <label>, aria-label or aria-labelledby.
UNLABELLED = """() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter(e => e.type !== "hidden")
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")
    && !e.getAttribute("aria-labelledby"))
  .map(e => e.outerHTML.slice(0, 120))"""

# What has the focus now, and whether it shows (an outline or a ring drawn as a box-shadow).
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e);
  const shows = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0)
    || s.boxShadow !== "none";
  return {id: e.id, testid: e.dataset.testid || "", tag: e.tagName.toLowerCase(),
          text: (e.innerText || e.value || "").trim().slice(0, 40), shows: shows,
          visible: e.matches(":focus-visible")};
}"""
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def check_page(page: Page, url: str) -> None:
    """The page loads with our CSP, every input is labelled, and nothing scrolls sideways."""
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    csp = response.headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, csp
    assert "'unsafe-inline'" not in csp, csp
    assert page.evaluate(UNLABELLED) == [], url
    assert page.evaluate(NO_SIDEWAYS_SCROLL), url


def signed_in_pages(base: str, link_id: str) -> list[str]:
    """The dashboard's pages for a signed-in owner."""
    return [
        f"{base}/app/links",
        f"{base}/app/links/new",
        f"{base}/app/links/{link_id}",
        f"{base}/app/links/{link_id}/delete",
        f"{base}/app/links/{link_id}/analytics",
        f"{base}/app/links/{link_id}/qr",
        f"{base}/app/analytics",
        f"{base}/app/team",
        f"{base}/app/keys",
        f"{base}/app/account",
    ]


def test_pages_are_labelled_fit_a_phone_and_keep_the_csp(
    served: Server, page: Page, new_page: Callable[..., Page], console: Console
) -> None:
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    for viewer in (page, phone):
        check_page(viewer, f"{served.base}/app/setup")
    first_run(page, served)
    create_link(page, served.base, "https://example.com/a/very/long/path/" + "x" * 120, key="long")
    link_id = page.locator("[data-testid=link-row]").first.get_attribute("data-link-id")
    assert link_id
    check_page(phone, f"{served.base}/app/login")
    sign_in(phone, served.base, OWNER_EMAIL, OWNER_PASSWORD)
    for url in signed_in_pages(served.base, link_id):
        check_page(page, url)
        check_page(phone, url)
    phone.goto(f"{served.base}/app/links")
    expect(phone.locator("[data-testid=link-row]")).to_be_visible()

    # Long secrets shown once (an API key, an invitation link) fit the phone too, and so does
    # the invitation page an invitee opens on theirs.
    phone.goto(f"{served.base}/app/keys")
    phone.locator("#name").fill("Phone key")
    phone.locator("#create-key").click()
    expect(phone.get_by_test_id("new-api-key")).to_be_visible()
    assert phone.evaluate(NO_SIDEWAYS_SCROLL), phone.url
    phone.goto(f"{served.base}/app/team")
    phone.locator("#email").fill("someone.with.a.rather.long.address@example.com")
    phone.locator("#send-invite").click()
    invite = phone.get_by_test_id("invite-link")
    expect(invite).to_be_visible()
    assert phone.evaluate(NO_SIDEWAYS_SCROLL), phone.url
    invitee = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    check_page(invitee, invite.inner_text().strip())
    console.assert_clean()


def test_the_keyboard_reaches_the_main_controls_with_visible_focus(
    served: Server, page: Page, console: Console
) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/", key="kb")
    page.goto(f"{served.base}/app/links")
    seen: list[dict[str, object]] = []
    for _ in range(100):  # once round the page: focus leaves it after the last control
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or (seen and focused == seen[0]):
            break
        seen.append(focused)
    assert seen[0]["text"] == "Skip to content"
    invisible = [f for f in seen if not (f["shows"] and f["visible"])]
    assert invisible == []
    reached = {str(f["testid"] or f["id"]) for f in seen}
    for control in ("nav-links", "nav-analytics", "sign-out", "new-link", "q", "copy-link"):
        assert control in reached, (control, reached)
    assert "edit-link" in reached

    # Skip to content jumps past the navigation to the page's own controls.
    page.goto(f"{served.base}/app/links")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED)["id"] == "new-link"
    # Enter on "Create link" opens the form; Tab walks its fields in order.
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.base}/app/links/new")
    page.locator("#url").focus()
    order = []
    for _ in range(4):
        order.append(page.evaluate(FOCUSED)["id"])
        page.keyboard.press("Tab")
    assert order == ["url", "domain", "key", "title"]
    console.assert_clean()
