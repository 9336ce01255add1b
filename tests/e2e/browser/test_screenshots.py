"""Screenshots of the main pages for the README and docs (docs/screenshots/*.png).

Opt-in: ``WRITE_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/browser/test_screenshots.py -n 0``
rewrites the images; a normal run (CI) leaves them alone. The data is made up but realistic:
a handful of links, a few dozen clicks from different browsers and referrers, QR scans, a
teammate and a pending invitation, an API key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SCREENSHOTS
from tests.e2e.browser.flows import Console, create_link, first_run, poll
from tests.e2e.server import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("WRITE_SCREENSHOTS") != "1",
        reason="writes docs/screenshots/: set WRITE_SCREENSHOTS=1 to refresh them",
    ),
]

LINKS = [
    ("https://shop.example.com/spring-sale", "spring", "Spring sale", "spring, newsletter"),
    ("https://example.com/blog/launching-linkhop", "launch", "Launch post", "blog"),
    ("https://docs.example.com/getting-started", "start", "Getting started", "docs"),
    ("https://jobs.example.com/backend-engineer", "jobs", "We are hiring", "careers"),
    ("https://cafe.example.com/menu", "menu", "Café menu (QR on tables)", "print"),
]
VISITORS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Mobile Safari/537.36"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Safari/605.1.15"),
]  # fmt: skip
REFERRERS = [
    "https://news.ycombinator.com/item?id=1",
    "https://www.google.com/",
    "https://t.co/abc",
    "",
    "https://mail.example.org/",
    "https://www.linkedin.com/feed/",
]
# Clicks per link key, spread over the visitors and referrers above.
CLICKS = {"spring": 23, "launch": 14, "start": 9, "jobs": 4}
QR_SCANS = 7
SHORT_DOMAIN = "hop.acme.example"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Server]:
    """A fresh server whose short links read like a real deployment's (https://hop.acme…)."""
    srv = Server(
        data_dir=tmp_path / "data",
        extra_env={"LINKHOP_DEFAULT_DOMAIN": SHORT_DOMAIN, "LINKHOP_SHORT_SCHEME": "https"},
    )
    srv.start()
    yield srv
    srv.stop()


def click(base: str, key: str, n: int, *, qr: bool = False) -> None:
    """``n`` visits to a short link as different people would make them (not followed)."""
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            headers = {
                "Host": SHORT_DOMAIN,
                "User-Agent": VISITORS[(i * 3 + len(key)) % len(VISITORS)],
            }
            referrer = REFERRERS[(i + len(key)) % len(REFERRERS)]
            if referrer and not qr:
                headers["Referer"] = referrer
            url = f"{base}/{key}{'?qr=1' if qr else ''}"
            assert client.get(url, headers=headers).status_code in (301, 302, 307, 308)


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Save the page as docs/screenshots/<name>.png.

    A whole page is taken with a window as tall as the page (rather than Playwright's
    full_page stitching), so the sticky sidebar and top bar are drawn where a reader expects.
    """
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    viewport = page.viewport_size
    assert viewport is not None
    if full_page:
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": viewport["width"], "height": max(height, 800)})
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(viewport)


def test_screenshots_of_the_main_pages(
    served: Server, page: Page, new_page: Callable[..., Page], console: Console
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{served.base}/app")
    page.wait_for_url(f"{served.base}/app/setup")
    shoot(page, "setup", full_page=False)
    first_run(page, served)

    # The link form, filled in, with the UTM preview.
    page.goto(f"{served.base}/app/links/new")
    page.locator("#url").fill(LINKS[0][0])
    page.locator("#key").fill(LINKS[0][1])
    page.locator("#title").fill(LINKS[0][2])
    page.locator("#tags").fill(LINKS[0][3])
    page.locator("#utm_source").fill("newsletter")
    page.locator("#utm_medium").fill("email")
    page.locator("#utm_campaign").fill("spring-sale")
    expect(page.get_by_test_id("utm-preview")).to_contain_text("utm_campaign=spring-sale")
    shoot(page, "link-form")
    page.locator("#save-link").click()
    page.wait_for_url(f"{served.base}/app/links")
    for url, key, title, tags in LINKS[1:]:
        extra = {"expires_at": "2031-06-30T18:00", "max_clicks": "500"} if key == "jobs" else {}
        create_link(page, served.base, url, key=key, title=title, tags=tags, **extra)

    for key, n in CLICKS.items():
        click(served.base, key, n)
    click(served.base, "menu", QR_SCANS, qr=True)
    total = sum(CLICKS.values()) + QR_SCANS
    page.goto(f"{served.base}/app/analytics")
    poll(
        page, lambda: page.get_by_test_id("total-clicks").get_attribute("data-value") == str(total)
    )
    page.goto(f"{served.base}/app/links")
    expect(page.locator("[data-key=spring] [data-testid=clicks]")).to_have_text("23")
    shoot(page, "links", full_page=False)

    page.goto(f"{served.base}/app/analytics")
    expect(page.locator("#timeseries-chart canvas").first).to_be_visible()
    shoot(page, "analytics")
    page.locator("[data-testid=top-link]", has_text="/spring").click()
    expect(page.locator("#timeseries-chart canvas").first).to_be_visible()
    shoot(page, "link-analytics")

    page.goto(f"{served.base}/app/links")
    page.locator("[data-testid=link-row][data-key=menu]").get_by_test_id("link-qr").click()
    page.locator("#color").fill("#312e81")
    page.locator("#ecc").select_option("Q")
    expect(page.get_by_test_id("qr-facts")).to_contain_text("error correction Q")
    shoot(page, "qr", full_page=False)

    # A teammate (joined through an invitation) and one invitation still open.
    page.goto(f"{served.base}/app/team")
    page.locator("#email").fill("grace@example.com")
    page.locator("#send-invite").click()
    invite_url = page.get_by_test_id("invite-link").inner_text().strip()
    guest = new_page()
    guest.goto(invite_url)
    guest.locator("#name").fill("Grace Hopper")
    guest.locator("#password").fill("member password 1")
    guest.locator("#password_confirm").fill("member password 1")
    guest.locator("#accept-invite").click()
    guest.wait_for_url(f"{served.base}/app/links")
    page.goto(f"{served.base}/app/team")
    page.locator("#email").fill("alan@example.com")
    page.locator("#role").select_option("viewer")
    page.locator("#send-invite").click()
    expect(page.get_by_test_id("invite-link")).to_be_visible()
    page.goto(f"{served.base}/app/team")
    shoot(page, "team")

    page.goto(f"{served.base}/app/keys")
    page.locator("#name").fill("CRM sync")
    page.locator("#create-key").click()
    expect(page.get_by_test_id("new-api-key")).to_be_visible()
    shoot(page, "api-keys")

    phone = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone.goto(f"{served.base}/app/login")
    phone.locator("#email").fill("ada@example.com")
    phone.locator("#password").fill("correct horse battery")
    phone.locator("#sign-in").click()
    phone.wait_for_url(f"{served.base}/app/links")
    shoot(phone, "links-phone", full_page=False)
    phone.goto(f"{served.base}/app/analytics")
    expect(phone.locator("#timeseries-chart[data-chart-ready=true]")).to_have_count(1)
    shoot(phone, "analytics-phone", full_page=False)
    console.assert_clean()
