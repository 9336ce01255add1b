"""Links in a real browser: create one with options, find it in the table, follow it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import Console, create_link, first_run, poll
from tests.e2e.server import Server

pytestmark = pytest.mark.slow


def test_create_a_link_with_options_and_follow_it(
    served: Server, page: Page, console: Console, destination: str
) -> None:
    first_run(page, served)
    page.get_by_test_id("new-link").click()
    page.wait_for_url(f"{served.base}/app/links/new")

    # The UTM preview follows the fields as they are typed, before anything is saved.
    target = f"{destination}/landing?lang=en&utm_source=old"
    page.locator("#url").fill(target)
    preview = page.get_by_test_id("utm-preview")
    expect(preview).to_have_text(target)
    page.locator("#utm_source").fill("newsletter")
    page.locator("#utm_campaign").fill("spring sale")
    expect(preview).to_have_text(
        f"{destination}/landing?lang=en&utm_source=newsletter&utm_campaign=spring%20sale"
    )

    short = create_link(
        page,
        served.base,
        target,
        key="spring",
        title="Spring sale",
        tags="spring, newsletter",
        utm_source="newsletter",
        utm_campaign="spring sale",
        redirect_status="307",
        forward_query="on",
        max_clicks="100",
        expires_at="2031-01-01T12:00",
        expired_url=f"{destination}/offer-ended",
    )
    assert short == f"{served.base}/spring"

    # In the table: key, title, tags, badges, zero clicks and a copy button.
    row = page.locator("[data-testid=link-row][data-key=spring]")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("short-url")).to_have_text(f"127.0.0.1:{served.port}/spring")
    expect(row).to_contain_text("Spring sale")
    expect(row.locator(".tag")).to_have_text(["newsletter", "spring"], use_inner_text=True)
    # Dates read relative ("in 4 years"); the exact time is the tooltip and the datetime.
    expires = row.get_by_test_id("link-expires").locator("time")
    expect(expires).to_have_text(re.compile(r"^in \d+ years?$"))
    expect(expires).to_have_attribute("title", re.compile(r"^2031-01-01 12:00 \("))
    expect(row).to_contain_text("Max 100")
    expect(row.get_by_test_id("clicks")).to_have_text("0")
    copy = row.get_by_test_id("copy-link")
    expect(copy).to_be_visible()
    expect(copy).to_have_attribute("data-copy", short)

    # The saved options come back in the edit form.
    row.get_by_test_id("edit-link").click()
    expect(page.locator("#redirect_status")).to_have_value("307")
    expect(page.locator("#forward_query")).to_be_checked()
    expect(page.locator("#expires_at")).to_have_value("2031-01-01T12:00")
    expect(page.locator("#utm_campaign")).to_have_value("spring sale")

    # Following the short link lands on the destination, with UTM and forwarded query.
    response = page.goto(f"{short}?ref=browser")
    assert response is not None and response.ok
    assert page.url.startswith(f"{destination}/landing?")
    expect(page.locator("#arrived")).to_have_text("Arrived")
    query = parse_qs(urlsplit(page.url).query)
    assert query == {
        "lang": ["en"],
        "utm_source": ["newsletter"],
        "utm_campaign": ["spring sale"],
        "ref": ["browser"],
    }
    redirect = response.request.redirected_from
    assert redirect is not None and redirect.url == f"{short}?ref=browser"
    redirect_response = redirect.response()
    assert redirect_response is not None and redirect_response.status == 307

    # The click is counted (the worker ingests it within a second or so) ...
    page.goto(f"{served.base}/app/links")
    clicks = page.locator("[data-testid=link-row][data-key=spring] [data-testid=clicks]")
    poll(page, lambda: clicks.inner_text(timeout=2000) == "1")

    # ... and shows on the link's analytics page: totals, the chart, the breakdowns.
    row.get_by_test_id("link-analytics").click()
    page.wait_for_url(f"{served.base}/app/links/*/analytics*")
    total = page.get_by_test_id("total-clicks")
    poll(page, lambda: total.get_attribute("data-value", timeout=2000) == "1")
    expect(page.get_by_test_id("total-visitors")).to_have_attribute("data-value", "1")
    expect(page.get_by_test_id("total-qr-scans")).to_have_attribute("data-value", "0")
    chart = page.get_by_test_id("timeseries-chart")
    expect(chart.locator("canvas").first).to_be_visible()
    series = page.locator("[data-testid=series-row] [data-testid=clicks]").all_text_contents()
    assert sum(int(n.replace(",", "")) for n in series) == 1
    browsers = page.get_by_test_id("breakdown-browsers").get_by_test_id("breakdown-row")
    expect(browsers).to_have_count(1)
    expect(browsers).to_contain_text("Chrome")
    expect(browsers.get_by_test_id("clicks")).to_have_text("1")

    # The organisation's page counts it too, under its link.
    page.get_by_test_id("nav-analytics").click()
    page.wait_for_url(f"{served.base}/app/analytics*")
    expect(page.get_by_test_id("total-clicks")).to_have_attribute("data-value", "1")
    expect(page.get_by_test_id("top-link")).to_have_text(f"127.0.0.1:{served.port}/spring")
    console.assert_clean()


def test_invalid_input_is_shown_next_to_its_field(served: Server, page: Page) -> None:
    first_run(page, served)
    create_link(page, served.base, "https://example.com/taken", key="taken")
    page.goto(f"{served.base}/app/links/new")
    page.locator("#url").fill("not a url")
    page.locator("#key").fill("taken")
    page.locator("#save-link").click()
    expect(page.get_by_test_id("form-error")).to_be_visible()
    expect(page.get_by_test_id("error-url")).to_be_visible()
    expect(page.locator("#url")).to_have_attribute("aria-invalid", "true")
    page.locator("#url").fill("https://example.com/other")
    page.locator("#save-link").click()
    expect(page.get_by_test_id("error-key")).to_be_visible()
    page.goto(f"{served.base}/app/links")
    expect(page.get_by_test_id("link-row")).to_have_count(1)
