"""Phone width (390 px): the navigation wraps with every entry visible, tables scroll inside
their cards or reflow, and the page itself never scrolls sideways. Live forms typed into fast
leave a clean console."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    Console,
    create_link,
    first_run,
    poll,
    sign_in,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
NAV_KEYS = ("links", "analytics", "team", "keys", "account")
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# Whether the element is inside the viewport's width and is what a tap at its centre hits.
TAPPABLE = """e => {
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || r.left < 0 || r.right > window.innerWidth) return false;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return hit !== null && (hit === e || e.contains(hit));
}"""
# Tables wider than the viewport that are not inside a container scrolling sideways (those
# would be cut off): their ids or test ids.
CLIPPED_TABLES = """() => Array.from(document.querySelectorAll("table")).filter(t => {
  if (t.getBoundingClientRect().right <= window.innerWidth + 0.5) return false;
  for (let e = t.parentElement; e; e = e.parentElement) {
    const x = getComputedStyle(e).overflowX;
    const fits = e.getBoundingClientRect().right <= window.innerWidth + 0.5;
    if ((x === "auto" || x === "scroll") && fits) return false;
  }
  return true;
}).map(t => t.id || t.dataset.testid || t.outerHTML.slice(0, 80))"""
BROWSER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def assert_fits(phone: Page, shots: Path, name: str) -> None:
    """No sideways scroll, every nav entry visible and tappable, no cut-off table."""
    assert phone.evaluate(NO_SIDEWAYS_SCROLL), phone.url
    for key in NAV_KEYS:
        entry = phone.get_by_test_id(f"nav-{key}")
        expect(entry).to_be_visible()
        assert entry.evaluate(TAPPABLE), (key, phone.url)
    expect(phone.locator("#sign-out")).to_be_visible()
    assert phone.locator("#sign-out").evaluate(TAPPABLE)
    assert phone.evaluate(CLIPPED_TABLES) == [], phone.url
    phone.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_links_and_analytics_fit_a_phone(
    served: Server,
    page: Page,
    new_page: Callable[..., Page],
    console: Console,
    tmp_path: Path,
) -> None:
    first_run(page, served)
    long_url = "https://example.com/a/very/long/path/" + "segment/" * 20 + "?q=" + "x" * 80
    short = create_link(page, served.base, long_url, key="a-rather-long-key-for-a-phone")
    create_link(page, served.base, "https://example.org/", key="second", tags="one, two")
    # A click with a long referrer, so the referrer tables have a long row.
    referrer = "https://www.example-referrer.com/" + "deep/" * 15 + "page.html?utm=" + "y" * 60
    headers = {"User-Agent": BROWSER_UA, "Referer": referrer}
    assert httpx.get(short, headers=headers, timeout=10).status_code in (301, 302, 307, 308)

    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    sign_in(phone, served.base, OWNER_EMAIL, OWNER_PASSWORD)
    expect(phone.locator("[data-testid=link-row]")).to_have_count(2)
    assert_fits(phone, tmp_path, "links")

    phone.goto(f"{served.base}/app/analytics?interval=24h")
    total = phone.get_by_test_id("total-clicks")
    poll(phone, lambda: total.get_attribute("data-value", timeout=2000) == "1")
    expect(phone.locator("#timeseries-chart[data-chart-ready=true]")).to_have_count(1)
    expect(phone.locator("#breakdown-referrers [data-testid=breakdown-row]")).to_have_count(1)
    assert_fits(phone, tmp_path, "analytics")
    # The chart fits too.
    chart = phone.locator("#timeseries-chart canvas").first
    assert chart.evaluate("c => c.getBoundingClientRect().right <= window.innerWidth")

    for path in ("/app/team", "/app/keys", "/app/account"):
        phone.goto(f"{served.base}{path}")
        assert_fits(phone, tmp_path, path.rsplit("/", 1)[1])

    # The navigation works from the phone: a tap on each entry opens its page.
    phone.goto(f"{served.base}/app/links")
    phone.get_by_test_id("nav-analytics").tap()
    phone.wait_for_url(f"{served.base}/app/analytics*")
    phone.get_by_test_id("nav-account").tap()
    phone.wait_for_url(f"{served.base}/app/account")
    console.assert_clean()


def test_typing_fast_in_live_forms_leaves_a_clean_console(
    served: Server, page: Page, console: Console
) -> None:
    first_run(page, served)
    for key in ("alpha", "alpine", "beta"):
        create_link(page, served.base, f"https://example.com/{key}", key=key)

    # A slow network (every answer takes 0.7 s), so a new request starts while the previous one
    # is still running: htmx must neither abort it noisily nor let an older answer win.
    page.goto(f"{served.base}/app/links")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 700, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    # Search as you type: each pause is just past the 300 ms delay.
    search = page.locator("#q")
    for text in ("a", "al", "alp", "alpi", "alpin", "alpine", "alp"):
        search.fill(text)
        page.wait_for_timeout(320)
    expect(page.locator("[data-testid=link-row]")).to_have_count(2)
    expect(page.locator("[data-testid=link-row][data-key=beta]")).to_have_count(0)
    page.wait_for_load_state("networkidle")
    assert "q=alp" in page.url

    # The QR preview as you type (its delay is 400 ms).
    page.locator("[data-testid=link-row][data-key=alpha]").get_by_test_id("link-qr").click()
    expect(page.get_by_test_id("qr-preview")).to_be_visible()
    size = page.locator("#size")
    for value in ("2", "25", "250", "260", "270", "280", "290", "300"):
        size.fill(value)
        page.wait_for_timeout(420)
    expect(page.get_by_test_id("qr-download-png")).to_have_attribute(
        "href", re.compile(r"size=300")
    )
    page.wait_for_load_state("networkidle")
    console.assert_clean()
